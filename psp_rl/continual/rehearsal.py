"""Rehearsal of earlier tasks: distillation of their own outputs (preset section ``rehearsal``).

Off-policy algorithms train one variant for tens of thousands of Adam steps: the small per-step
interference that superposition leaves between tasks adds up to a lost variant (DQN's greedy policy rests
on small gaps between Q-values of order ``1/(1-γ)``). Replaying an old task's transitions with the TD loss
is not safe either (a kept buffer trains the old task's own weights on a fixed set of transitions: the
offline-RL failure, see :mod:`psp_rl.continual.replay`), but a regression onto fixed targets is: at each
task switch, this callback stores up to ``states_per_task`` states of the finished task (drawn from the
replay buffer before it is emptied) with what the network outputs for them at that moment. From then on,
every burst of gradient steps is followed by as many distillation steps, each on a batch of stored states
of the earlier tasks (each state with its own task id, so under PSP each task's key)::

    loss = coef * smooth_l1(f_θ(s, task), f_stored(s, task))

What is held is ``target``:

- ``outputs`` (default): the stored outputs themselves, by the regression above;
- ``actions`` (DQN only): the stored greedy actions ``a* = argmax_a Q_stored(s, a)``, by the large-margin
  loss of DQfD (Hester et al., 2018), ``coef * mean(max_a [Q_θ(s, a) + margin·1(a ≠ a*)] − Q_θ(s, a*))``.
  It is 0 wherever ``a*`` leads every other action by ``margin`` and pulls nothing there. CartPole's Q-values
  are ~75-95 on the stored states while its two actions' values differ by 0.13-0.59 (median per variant of
  ``dqn-psp`` runs): a regression onto them left 10-18 % of an earlier variant's stored greedy actions
  flipped after a K = 5 run (docs/offpolicy.md). This loss holds the greedy policy, which is all an old
  task's evaluation uses, and leaves the values free.

When the distillation runs is ``when``:

- ``interleaved`` (default): after every burst of gradient steps, ``ratio`` times as many distillation
  steps on the earlier tasks (default 1: as many), so they never drift far;
- ``phase_end``: the new task trains undisturbed; at the end of each phase, once its own states and outputs
  are stored, ``consolidation_steps`` distillation steps on every stored task (the one just finished
  included, so it is held where it is) bring the earlier tasks back to their stored outputs before the
  phase-end evaluation. They run at the learning rate the schedule gives at the *start* of a phase: a
  rate that decays within each phase (``lin_<x>`` restarted per phase) is near 0 at its end, where
  consolidation steps would hardly move the network;
- ``both``: interleaved during each phase, and the phase-end consolidation (with ``target: actions`` it
  sets the margin on the finished task's own greedy actions before its evaluation).

``f`` is what an old task's evaluation uses (:data:`DISTILLED`):

- ``dqn``: the Q-network (every action's value; the greedy policy is their argmax), with the policy's
  optimizer and gradient clipping;
- ``sac``: the actor's mean action and log standard deviation, with the actor's optimizer;
- ``td3``: the actor's action, with the actor's optimizer.

There is no bootstrapping and no action choice in it, so it cannot drift an old task the way TD on a
fixed dataset does; under PSP each step acts on the old task's own superposed model and pulls it back
where the switch left it. The critics of SAC / TD3 are not distilled: an old task's evaluation does not use
them (a task that comes back in a later cycle learns its critic again).

Preset keys (``coef: 0`` turns it off, the default)::

    rehearsal:
      coef: 1.0             # weight of the distillation loss (0: off)
      target: outputs       # or actions (DQN: the greedy actions, held with a margin)
      margin: 1.0           # target: actions -- the lead of the stored action over every other
      states_per_task: 5000 # states stored per finished task
      batch_size: 256       # states per distillation step
      when: interleaved     # or phase_end, or both
      ratio: 1.0            # interleaved / both: distillation steps per gradient step of a burst
      consolidation_steps: 2000  # distillation steps at each phase end (when: phase_end or both)

The stored states and targets, and the callback's position, go into every checkpoint (``rehearsal.pt``),
so a resumed run rehearses exactly what the interrupted one would have.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F

from psp_rl.checks import check_choice, check_int, check_number
from psp_rl.continual.mechanism import Mechanism, Setup, register
from psp_rl.envs.schedules import TaskSchedule

__all__ = [
    "DISTILLED",
    "RehearsalSettings",
    "REHEARSAL_ALGOS",
    "REHEARSAL_TARGETS",
    "REHEARSAL_WHEN",
    "Rehearsal",
    "margin_loss",
]


def _dqn_outputs(model: Any, obs: dict[str, torch.Tensor]) -> torch.Tensor:
    return model.q_net(obs)


def _sac_outputs(model: Any, obs: dict[str, torch.Tensor]) -> torch.Tensor:
    mean, log_std, _ = model.actor.get_action_dist_params(obs)
    return torch.cat([mean, log_std], dim=1)


def _td3_outputs(model: Any, obs: dict[str, torch.Tensor]) -> torch.Tensor:
    return model.actor(obs)


#: algorithm -> (what is distilled, the module whose optimizer trains it)
DISTILLED: dict[str, tuple[Callable[[Any, dict[str, torch.Tensor]], torch.Tensor], str]] = {
    "dqn": (_dqn_outputs, "policy"),
    "sac": (_sac_outputs, "actor"),
    "td3": (_td3_outputs, "actor"),
}
#: algorithms the rehearsal supports
REHEARSAL_ALGOS: tuple[str, ...] = tuple(DISTILLED)
#: the choices of ``rehearsal.when``
REHEARSAL_WHEN: tuple[str, ...] = ("interleaved", "phase_end", "both")
#: the choices of ``rehearsal.target`` -> the algorithms each supports
REHEARSAL_TARGETS: dict[str, tuple[str, ...]] = {"outputs": REHEARSAL_ALGOS, "actions": ("dqn",)}


def margin_loss(q_values: torch.Tensor, stored: torch.Tensor, margin: float) -> torch.Tensor:
    """DQfD's large-margin loss holding the stored greedy actions.

    :param q_values: the network's Q-values, ``(batch, actions)``.
    :param stored: the stored Q-values of the same states; their argmax is the action to hold.
    :param margin: the lead the stored action must keep over every other action.
    :return: ``mean(max_a [q(s, a) + margin·1(a ≠ a*)] − q(s, a*))``, 0 where every lead is ``margin``.
    """
    best = stored.argmax(dim=1, keepdim=True)
    penalty = torch.full_like(q_values, float(margin)).scatter(1, best, 0.0)
    return ((q_values + penalty).max(dim=1).values - q_values.gather(1, best).squeeze(1)).mean()


@dataclasses.dataclass(frozen=True)
class RehearsalSettings:
    """The ``rehearsal`` section (DQN, SAC, TD3); the keys are :class:`Rehearsal`'s arguments.

    :param coef: weight of the distillation loss (0: off).
    :param target: ``outputs`` or ``actions`` (DQN).
    :param margin: the lead of the stored action (``target: actions``).
    :param states_per_task: states stored per finished task.
    :param batch_size: states per distillation step.
    :param when: ``interleaved``, ``phase_end`` or ``both``.
    :param ratio: distillation steps per gradient step of a burst.
    :param consolidation_steps: distillation steps at each phase end.
    """

    coef: float = 0.0
    target: str = "outputs"
    margin: float = 1.0
    states_per_task: int = 5000
    batch_size: int = 256
    when: str = "interleaved"
    ratio: float = 1.0
    consolidation_steps: int = 2000


@register
class Rehearsal(Mechanism):
    """Store each finished task's states and outputs at its phase end; distil them after every burst of
    gradient steps (``when="interleaved"``), at every phase end (``when="phase_end"``) or both.

    Acts after ``keep_best`` and before the evaluation (:data:`~psp_rl.continual.events.ORDER`), so it
    stores the kept weights' outputs and a phase-end evaluation sees the consolidated network. The last
    task is stored (and, with ``phase_end``, consolidated) at the run's end too, so a run grown later
    rehearses it.

    :param schedule: the run's task schedule (only ``sequential`` schedules switch tasks).
    :param algo: ``dqn``, ``sac`` or ``td3`` (see :data:`DISTILLED`).
    :param coef: weight of the distillation loss (0: off).
    :param target: ``"outputs"`` (regression onto the stored outputs) or ``"actions"`` (DQN: the stored
        greedy actions, held by :func:`margin_loss`).
    :param margin: the lead of the stored action (``target="actions"``).
    :param states_per_task: states stored per finished task.
    :param batch_size: states per distillation step.
    :param seed: seed of the draws (which states are stored, which form a batch).
    :param when: ``"interleaved"``, ``"phase_end"`` or ``"both"``.
    :param ratio: distillation steps per gradient step of a burst (``when`` ``"interleaved"`` or ``"both"``;
        at least one).
    :param consolidation_steps: distillation steps at each phase end (``when`` ``"phase_end"`` or ``"both"``).
    :param verbose: 1 prints a line per stored task.
    """

    NAME = "rehearsal"
    Settings = RehearsalSettings
    STATE_FILE = "rehearsal.pt"

    @classmethod
    def check_settings(cls, settings: RehearsalSettings, algo: str) -> None:  # noqa: D102
        check_number("rehearsal.coef", settings.coef, 0, "0 turns rehearsal off")
        check_int("rehearsal.states_per_task", settings.states_per_task, 1)
        check_int("rehearsal.batch_size", settings.batch_size, 1)
        check_int("rehearsal.consolidation_steps", settings.consolidation_steps, 1)
        check_choice("rehearsal.when", settings.when, REHEARSAL_WHEN)
        check_number(
            "rehearsal.ratio", settings.ratio, 0, "distillation steps per gradient step", strict=True
        )
        check_choice("rehearsal.target", settings.target, list(REHEARSAL_TARGETS))
        check_number("rehearsal.margin", settings.margin, 0, strict=True)
        if settings.coef > 0 and algo not in REHEARSAL_ALGOS:
            raise ValueError(
                f"rehearsal is implemented for {', '.join(REHEARSAL_ALGOS)}, not {algo}: set rehearsal.coef=0."
            )
        if settings.coef > 0 and algo not in REHEARSAL_TARGETS[settings.target]:
            raise ValueError(
                f"rehearsal.target={settings.target} is for {', '.join(REHEARSAL_TARGETS[settings.target])}, "
                f"not {algo}: use rehearsal.target=outputs."
            )

    @classmethod
    def enabled(cls, settings: RehearsalSettings, algo: str) -> bool:  # noqa: D102
        return settings.coef > 0

    @classmethod
    def from_settings(cls, settings: RehearsalSettings, setup: Setup) -> Rehearsal:  # noqa: D102
        return cls(setup.schedule, setup.algo, seed=setup.seed, **dataclasses.asdict(settings))

    def __init__(
        self,
        schedule: TaskSchedule,
        algo: str,
        coef: float = 1.0,
        target: str = "outputs",
        margin: float = 1.0,
        states_per_task: int = 5000,
        batch_size: int = 256,
        seed: int = 0,
        when: str = "interleaved",
        ratio: float = 1.0,
        consolidation_steps: int = 2000,
        verbose: int = 0,
    ) -> None:
        settings = RehearsalSettings(
            coef=coef,
            target=target,
            margin=margin,
            states_per_task=states_per_task,
            batch_size=batch_size,
            when=when,
            ratio=ratio,
            consolidation_steps=consolidation_steps,
        )
        self.check_settings(settings, algo)
        super().__init__(schedule.phase_boundaries(), verbose)
        self.schedule = schedule
        self.when = when
        self.ratio = float(ratio)
        self.target = target
        self.margin = float(margin)
        self.consolidation_steps = int(consolidation_steps)
        self.outputs, self.trained_module = DISTILLED[algo]
        self.coef = float(coef)
        self.states_per_task = int(states_per_task)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        #: task id -> (observation tensors, stored outputs), on the model's device once attached
        self.memory: dict[int, tuple[dict[str, torch.Tensor], torch.Tensor]] = {}
        self.stored = 0  # phases whose task was stored
        self.updates = 0

    # ---- each phase end: remember the finished task (and consolidate) ---------------------------------
    def on_phase_end(self, phase: int, last: bool) -> None:
        """Store the states and outputs of the task of ``phase``, which has just ended; with
        ``when`` ``"phase_end"`` or ``"both"``, consolidate every stored task.

        :param phase: the phase that ended.
        :param last: it is the run's last phase.
        """
        if self.coef == 0 or not self.schedule.is_sequential:  # coef 0: off
            return
        task = cast(int, self.schedule.phase_task(phase))
        obs = self._task_states(task)
        if obs is not None:
            with torch.no_grad():
                targets = self.outputs(self.model, obs).detach()
            self.memory[task] = (obs, targets)
            if self.verbose >= 1:
                print(f"step {self.num_timesteps}: {len(targets)} states of task {task} stored for rehearsal")
        self.stored += 1
        if self.when != "interleaved" and self.memory:
            self._distil(sorted(self.memory), self.consolidation_steps, lr=self._phase_start_lr())

    def _phase_start_lr(self) -> float:
        """The learning rate at the start of a phase (SB3's schedule at progress 1; a per-phase restarted
        schedule gives its start value there too)."""
        return float(cast(Any, self.model).lr_schedule(1.0))

    def _task_states(self, task: int) -> dict[str, torch.Tensor] | None:
        """Up to ``states_per_task`` normalised observations of ``task`` from the replay buffer."""
        model: Any = self.model
        buffer: Any = model.replay_buffer
        size = buffer.buffer_size if buffer.full else buffer.pos
        flat = {
            key: np.asarray(value[:size]).reshape(size * buffer.n_envs, *value.shape[2:])
            for key, value in buffer.observations.items()
        }
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

    # ---- after every burst of gradient steps: pull the earlier tasks back -------------------------------
    def _on_rollout_end(self) -> None:
        if self.when == "phase_end":
            return
        current = self.schedule.phase_task(self.schedule.phase_at(self.num_timesteps))
        tasks = [task for task in sorted(self.memory) if task != current]
        model: Any = self.model
        if not tasks or model.num_timesteps <= model.learning_starts:
            return
        steps = model.gradient_steps if model.gradient_steps > 0 else model.train_freq.frequency
        self._distil(tasks, max(1, round(self.ratio * steps)))

    def _distil(self, tasks: list[int], steps: int, lr: float | None = None) -> None:
        """``steps`` distillation steps on batches of the stored states of ``tasks`` (at learning rate
        ``lr`` if given, else the optimizer's current one)."""
        model: Any = self.model
        rng = np.random.default_rng([self.seed, model.num_timesteps])
        module = getattr(model, self.trained_module)
        saved = [group["lr"] for group in module.optimizer.param_groups]
        if lr is not None:
            for group in module.optimizer.param_groups:
                group["lr"] = lr
        max_grad_norm = getattr(model, "max_grad_norm", None)  # DQN clips its gradients; SAC / TD3 do not
        model.policy.set_training_mode(True)
        losses = []
        for _ in range(int(steps)):
            obs, targets = self._batch(tasks, rng)
            loss = self.coef * self._loss(self.outputs(model, obs), targets)
            module.optimizer.zero_grad()
            loss.backward()
            if max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(module.parameters(), max_grad_norm)
            module.optimizer.step()
            losses.append(loss.item())
        for group, value in zip(module.optimizer.param_groups, saved):
            group["lr"] = value
        self.updates += int(steps)
        model.policy.set_training_mode(False)
        self.logger.record("rehearsal/loss", float(np.mean(losses)))
        self.logger.record("rehearsal/tasks", len(tasks))

    def _loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The distillation loss of ``target`` (before ``coef``)."""
        if self.target == "actions":
            return margin_loss(outputs, targets, self.margin)
        return F.smooth_l1_loss(outputs, targets)

    def _batch(
        self, tasks: list[int], rng: np.random.Generator
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """A batch of stored states, the earlier tasks drawn with equal weight."""
        picks = rng.integers(len(tasks), size=self.batch_size)
        obs_parts: dict[str, list[torch.Tensor]] = {}
        target_parts = []
        for index in np.unique(picks):
            obs, targets = self.memory[tasks[index]]
            rows = torch.as_tensor(rng.integers(len(targets), size=int((picks == index).sum())))
            for key, value in obs.items():
                obs_parts.setdefault(key, []).append(value[rows.to(value.device)])
            target_parts.append(targets[rows.to(targets.device)])
        return {key: torch.cat(parts) for key, parts in obs_parts.items()}, torch.cat(target_parts)

    # ---- checkpoints ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The stored states and targets and the position, as tensors (``torch.save``-able).

        :return: ``{"stored", "updates", "q.<task>", "obs.<task>.<key>"}`` (``q.<task>``: the
            stored outputs, Q-values under DQN and the actor's outputs under SAC / TD3).
        """
        state: dict[str, Any] = {
            "stored": torch.tensor(self.stored),
            "updates": torch.tensor(self.updates),
        }
        for task, (obs, targets) in self.memory.items():
            state[f"q.{task}"] = targets.cpu()
            for key, value in obs.items():
                state[f"obs.{task}.{key}"] = value.cpu()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """:param state: a state saved by :meth:`state_dict` (tensors go to the model's device when the
        callback is attached)."""
        self.stored = int(state.get("stored", state.get("resets", 0)))  # "resets": an earlier release
        self.updates = int(state.get("updates", 0))
        self.memory = {}
        for name, targets in state.items():
            if not name.startswith("q."):
                continue
            task = int(name[2:])
            prefix = f"obs.{task}."
            obs = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
            self.memory[task] = (obs, targets)

    def _on_training_start(self) -> None:
        device = self.model.device
        self.memory = {
            task: ({key: value.to(device) for key, value in obs.items()}, targets.to(device))
            for task, (obs, targets) in self.memory.items()
        }
