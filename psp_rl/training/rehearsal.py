"""Rehearsal of earlier tasks for DQN: distillation of their own Q-values (preset section ``rehearsal``).

Under DQN a variant's greedy policy rests on small gaps between Q-values of order ``1/(1-γ)``, and one
variant trains for tens of thousands of Adam steps: the small per-step interference that superposition
leaves between tasks adds up to a lost variant. Replaying an old task's transitions with the TD loss does
not help (a kept buffer trains the old task's own weights on a fixed set of transitions: the offline-RL
failure, see :mod:`psp_rl.training.replay`), but a regression onto fixed targets is safe: at each task
switch, this callback stores up to ``states_per_task`` states of the finished task (drawn from the replay
buffer before it is emptied) with the Q-values the network gives them at that moment. From then on, every
burst of TD updates is followed by as many distillation steps, each on a batch of stored states of the
earlier tasks (each state with its own task id, so under PSP each task's key)::

    loss = coef * smooth_l1(Q_θ(s, task), Q_stored(s, task))     # every action's value

There is no bootstrapping and no action choice in it, so it cannot drift an old task the way TD on a
fixed dataset does; under PSP each step acts on the old task's own superposed model and pulls it back
where the switch left it. The steps use the policy's own optimizer and gradient clipping.

Preset keys (``coef: 0`` turns it off, the default)::

    rehearsal:
      coef: 1.0             # weight of the distillation loss (0: off)
      states_per_task: 5000 # states stored per finished task
      batch_size: 256       # states per distillation step

The stored states and targets, and the callback's position, go into every checkpoint (``rehearsal.pt``),
so a resumed run rehearses exactly what the interrupted one would have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F

from psp_rl.envs.schedules import TaskSchedule
from psp_rl.training.switch import PhaseSwitchCallback

__all__ = ["REHEARSAL_ALGOS", "RehearsalCallback"]

#: algorithms whose Q-network the rehearsal distils
REHEARSAL_ALGOS: tuple[str, ...] = ("dqn",)


class RehearsalCallback(PhaseSwitchCallback):
    """Store each finished task's states and Q-values at the switch; distil them after every TD burst.

    :param schedule: the run's task schedule (only ``sequential`` schedules switch tasks).
    :param coef: weight of the distillation loss; 0 turns the rehearsal off.
    :param states_per_task: states stored per finished task.
    :param batch_size: states per distillation step.
    :param seed: seed of the draws (which states are stored, which form a batch).
    :param verbose: 1 prints a line per stored task.
    """

    KEY = "rehearsal.coef"
    CHOICES = ("distil", "off")

    def __init__(
        self,
        schedule: TaskSchedule,
        coef: float = 0.0,
        states_per_task: int = 5000,
        batch_size: int = 256,
        seed: int = 0,
        verbose: int = 0,
    ) -> None:
        super().__init__(schedule, "distil" if coef > 0 else "off", verbose)
        self.coef = float(coef)
        self.states_per_task = int(states_per_task)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        #: task id -> (observation tensors, stored Q-values), on the model's device once attached
        self.memory: dict[int, tuple[dict[str, torch.Tensor], torch.Tensor]] = {}
        self.updates = 0

    def active(self) -> bool:  # noqa: D102
        return self.at_switch == "distil" and self.schedule.is_sequential

    # ---- the switch: remember the finished task --------------------------------------------------------
    def on_switch(self, phase: int) -> None:  # noqa: D102
        task = int(self.schedule.phase_task(phase - 1) or 0)
        obs = self._task_states(task)
        if obs is None:
            return
        with torch.no_grad():
            q_values = cast(Any, self.model).q_net(obs).detach()
        self.memory[task] = (obs, q_values)
        if self.verbose >= 1:
            print(f"step {self.num_timesteps}: {len(q_values)} states of task {task} stored for rehearsal")

    def _task_states(self, task: int) -> dict[str, torch.Tensor] | None:
        """Up to ``states_per_task`` normalised observations of ``task`` from the replay buffer."""
        model: Any = self.model
        buffer: Any = model.replay_buffer
        size = buffer.buffer_size if buffer.full else buffer.pos
        flat = {key: np.asarray(value[:size]).reshape(size * buffer.n_envs, *value.shape[2:])
                for key, value in buffer.observations.items()}  # fmt: skip
        rows = np.flatnonzero(flat["task"].reshape(len(flat["task"]), -1)[:, 0].astype(np.int64) == task)
        if rows.size == 0:
            return None
        rng = np.random.default_rng([self.seed, task, self.num_timesteps])
        if rows.size > self.states_per_task:
            rows = np.sort(rng.choice(rows, self.states_per_task, replace=False))
        obs = {key: value[rows] for key, value in flat.items()}
        env = model.get_vec_normalize_env()
        if env is not None:
            obs = cast(dict[str, np.ndarray], env.normalize_obs(obs))
        device = model.device
        return {key: torch.as_tensor(np.asarray(value), device=device) for key, value in obs.items()}

    # ---- after every TD burst: pull the earlier tasks back ---------------------------------------------
    def _on_rollout_end(self) -> None:
        current = self.schedule.phase_task(self.schedule.phase_at(self.num_timesteps))
        tasks = [task for task in sorted(self.memory) if task != current]
        model: Any = self.model
        if not tasks or model.num_timesteps <= model.learning_starts:
            return
        steps = model.gradient_steps if model.gradient_steps > 0 else model.train_freq.frequency
        rng = np.random.default_rng([self.seed, model.num_timesteps])
        policy = model.policy
        policy.set_training_mode(True)
        losses = []
        for _ in range(int(steps)):
            obs, targets = self._batch(tasks, rng)
            loss = self.coef * F.smooth_l1_loss(model.q_net(obs), targets)
            policy.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), model.max_grad_norm)
            policy.optimizer.step()
            losses.append(loss.item())
        self.updates += int(steps)
        self.logger.record("rehearsal/loss", float(np.mean(losses)))
        self.logger.record("rehearsal/tasks", len(tasks))

    def _batch(
        self, tasks: list[int], rng: np.random.Generator
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """A batch of stored states, the earlier tasks drawn with equal weight."""
        picks = rng.integers(len(tasks), size=self.batch_size)
        obs_parts: dict[str, list[torch.Tensor]] = {}
        q_parts = []
        for index in np.unique(picks):
            obs, q_values = self.memory[tasks[index]]
            rows = torch.as_tensor(rng.integers(len(q_values), size=int((picks == index).sum())))
            for key, value in obs.items():
                obs_parts.setdefault(key, []).append(value[rows.to(value.device)])
            q_parts.append(q_values[rows.to(q_values.device)])
        return {key: torch.cat(parts) for key, parts in obs_parts.items()}, torch.cat(q_parts)

    # ---- checkpoints ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The stored states and targets and the position, as tensors (``torch.save``-able).

        :return: ``{"reset_phase", "resets", "updates", "q.<task>", "obs.<task>.<key>"}``.
        """
        state: dict[str, Any] = {
            "reset_phase": torch.tensor(self.reset_phase),
            "resets": torch.tensor(self.resets),
            "updates": torch.tensor(self.updates),
        }
        for task, (obs, q_values) in self.memory.items():
            state[f"q.{task}"] = q_values.cpu()
            for key, value in obs.items():
                state[f"obs.{task}.{key}"] = value.cpu()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """:param state: a state saved by :meth:`state_dict` (tensors go to the model's device when the
        callback is attached)."""
        self.reset_phase = int(state.get("reset_phase", 0))
        self.resets = int(state.get("resets", 0))
        self.updates = int(state.get("updates", 0))
        self.memory = {}
        for name, q_values in state.items():
            if not name.startswith("q."):
                continue
            task = int(name[2:])
            prefix = f"obs.{task}."
            obs = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
            self.memory[task] = (obs, q_values)

    def _on_training_start(self) -> None:
        device = self.model.device
        self.memory = {
            task: ({key: value.to(device) for key, value in obs.items()}, q_values.to(device))
            for task, (obs, q_values) in self.memory.items()
        }
