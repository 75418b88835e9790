"""Keep the best policy of each task phase (preset section ``keep_best``).

DQN's greedy policy on a CartPole variant swings from one evaluation to the next within a phase, while its
rate still decays: measured on ``cartpole-permuted`` with ``dqn-psp`` (seed 0, first variant, before any
other exists, 3 evaluation episodes each) 0.46, 1.00, 0.48, 0.96 at 35k, 40k, 45k and 50k steps. Which of those the phase ends on is
then a matter of luck. With ``keep_best.freq > 0`` the agent scores its current task every ``freq`` env
steps from ``start`` (a fraction of the phase) on, keeps a copy of the policy's weights whenever the
score is the best of the phase so far (a tie goes to the later copy), scores the final weights as well at
the phase end, and goes back to the best copy when that scored higher. This is early stopping on a
validation set: the scores come from *validation* episodes, whose start states differ from those of the
reported evaluation (``eval``), and they are interactions with the environment beyond the training
steps: ``episodes`` episodes of the current task per validation.

The whole policy goes back (for DQN the online and target Q-networks), so the earlier tasks go back to
where they were at that step as well; the optimiser's moments do not (the next phase restarts its
schedules). Only the current task is scored: an earlier task's environment is not visited again.

It acts first at a phase end (:data:`~psp_rl.continual.events.ORDER`), before the rehearsal's store of the
finished task and the phase-end evaluation, so both see the kept weights. Its state, the best copy
included, goes into every checkpoint (``keep_best.pt``).

Preset section (``freq: 0`` turns it off, the default)::

    keep_best: {freq: 2500, episodes: 5, start: 0.5}
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, SupportsFloat

import torch
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from psp_rl import seeds
from psp_rl.checks import check_int, check_number
from psp_rl.continual.mechanism import Mechanism, Setup, register
from psp_rl.evaluation.episodes import StepCounter, eval_envs_per_task, score_task

__all__ = ["KeepBest", "KeepBestSettings"]

_NEVER = 2**62  # no phase left to score


@dataclasses.dataclass(frozen=True)
class KeepBestSettings:
    """The ``keep_best`` section.

    :param freq: score the current task every this many env steps (0: off).
    :param episodes: validation episodes per score.
    :param start: the fraction of each phase after which scoring starts.
    """

    freq: int = 0
    episodes: int = 5
    start: float = 0.5


@register
class KeepBest(Mechanism):
    """Score the current task during each phase and end the phase on its best-scoring weights.

    :param eval_envs: one validation VecEnv per task (start states other than the reported evaluation's).
    :param normalize: ``(task, mean return) -> normalised return``.
    :param phase_boundaries: the env step at which each phase ends.
    :param phase_tasks: the task each phase trains (a sequential schedule: no ``None``).
    :param freq: score the current task every this many env steps.
    :param episodes: validation episodes per score.
    :param start: the fraction of each phase after which scoring starts.
    :param seed: validation seed: every validation of a task starts from the same states.
    :param metric: ``"return"`` or ``"success"`` (the suite's ``metric``).
    :param verbose: 1 prints a line per phase end.
    """

    NAME = "keep_best"
    Settings = KeepBestSettings
    STATE_FILE = "keep_best.pt"

    @classmethod
    def check_settings(cls, settings: KeepBestSettings, algo: str) -> None:  # noqa: D102
        check_int("keep_best.freq", settings.freq, 0)
        check_int("keep_best.episodes", settings.episodes, 1)
        start = settings.start
        check_number("keep_best.start", start, 0, "the fraction of each phase after which scoring starts")
        if start >= 1:
            raise ValueError(
                f"keep_best.start is a fraction of the phase and must be below 1, got {start!r}."
            )

    @classmethod
    def enabled(cls, settings: KeepBestSettings, algo: str) -> bool:  # noqa: D102
        return settings.freq > 0

    @classmethod
    def from_settings(cls, settings: KeepBestSettings, setup: Setup) -> KeepBest:  # noqa: D102
        if setup.suite is None:
            raise ValueError(
                "keep_best scores validation episodes of the suite's tasks: pass suite=... "
                "(psp_rl.load_suite(...)) to psp_rl.continual.callbacks, or set keep_best.freq: 0."
            )
        seed = setup.validation_seed if setup.validation_seed is not None else seeds.validation(setup.seed)
        counters = [StepCounter(env) for env in eval_envs_per_task(setup.suite, settings.episodes, seed=seed)]
        envs = [setup.env_wrapper(c) for c in counters] if setup.env_wrapper is not None else list(counters)
        mechanism = cls(
            envs,
            setup.suite.normalize,
            setup.phase_boundaries,
            setup.phase_tasks,
            freq=settings.freq,
            episodes=settings.episodes,
            start=settings.start,
            seed=seed,
            metric=setup.suite.metric,
        )
        mechanism.counters = counters
        return mechanism

    def __init__(
        self,
        eval_envs: Sequence[VecEnv],
        normalize: Callable[[int, float], SupportsFloat],
        phase_boundaries: Sequence[int],
        phase_tasks: Sequence[int | None],
        freq: int,
        episodes: int = 5,
        start: float = 0.5,
        seed: int = 0,
        metric: str = "return",
        verbose: int = 0,
    ) -> None:
        super().__init__(phase_boundaries, verbose)
        if None in phase_tasks:
            raise ValueError(
                "keep_best needs one task per phase (a sequential schedule): set keep_best.freq: 0 or use "
                "schedule kind: sequential."
            )
        if freq < 1 or episodes < 1 or not 0 <= start < 1:
            raise ValueError(
                f"keep_best needs freq >= 1, episodes >= 1 and 0 <= start < 1, got {freq}, {episodes}, {start}."
            )
        self.eval_envs = list(eval_envs)
        self.normalize = normalize
        self.phase_boundaries = [int(b) for b in phase_boundaries]
        self.phase_tasks = [int(t) for t in phase_tasks if t is not None]
        self.freq = int(freq)
        self.episodes = int(episodes)
        self.start = float(start)
        self.seed = int(seed)
        self.metric = metric
        self.phase = 0
        self.best_score = -math.inf
        self.best_step = -1
        self.best: dict[str, torch.Tensor] | None = None
        self.restored: list[bool] = []  # per finished phase: whether it ended on an earlier copy
        self.counters: list[StepCounter] = []  # the validation envs' step counters (from_settings sets them)
        self.steps_before = 0  # validation env steps of the run before it was resumed
        self.next_eval = self._first_eval(0)

    # ---- when
    def _first_eval(self, phase: int) -> int:
        if phase >= len(self.phase_boundaries):
            return _NEVER
        begin = self.phase_boundaries[phase - 1] if phase > 0 else 0
        return begin + max(1, math.ceil(self.start * (self.phase_boundaries[phase] - begin)))

    # ---- what
    def score(self) -> float:
        """The current weights' score on the current phase's task (validation episodes)."""
        task = self.phase_tasks[self.phase]
        env = self.eval_envs[task]
        training_env = self.training_env if isinstance(env, VecNormalize) else None
        _, value = score_task(
            self.model,
            env,
            task,
            self.episodes,
            self.normalize,
            True,
            self.metric,
            seed=self.seed,
            training_env=training_env,
        )
        self.logger.record(f"keep_best/task_{task}/score", value)
        return value

    def _keep(self, value: float) -> None:
        if value >= self.best_score:  # a tie: the later, longer-trained weights
            self.best_score = value
            self.best_step = int(self.num_timesteps)
            self.best = {k: v.detach().clone() for k, v in self.model.policy.state_dict().items()}

    def _close_phase(self) -> None:
        final = self.score()
        restore = self.best is not None and self.best_score > final
        if restore and self.best is not None:
            self.model.policy.load_state_dict(self.best)
        self.logger.record("keep_best/restored_step", self.best_step if restore else int(self.num_timesteps))
        if self.verbose >= 1:
            kept = f"weights of step {self.best_step} ({self.best_score:.2f})" if restore else "final weights"
            print(f"keep_best: phase {self.phase} ends on its {kept}; final weights scored {final:.2f}")
        self.restored.append(restore)
        self.phase += 1
        self.best, self.best_score, self.best_step = None, -math.inf, -1
        self.next_eval = self._first_eval(self.phase)

    def on_phase_end(self, phase: int, last: bool) -> None:
        """End the phase on its best-scoring weights.

        :param phase: the phase that ended.
        :param last: it is the run's last phase.
        """
        self._close_phase()

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_eval:
            self._keep(self.score())
            while self.next_eval <= self.num_timesteps:
                self.next_eval += self.freq
        return True

    def interaction(self) -> int:
        """:return: the env steps of every validation episode so far (resumed runs included)."""
        return self.steps_before + sum(counter.steps for counter in self.counters)

    # ---- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """:return: the position and the best copy of the current phase, for a checkpoint."""
        return {
            "phase": self.phase,
            "best_score": self.best_score,
            "best_step": self.best_step,
            "best": self.best,
            "restored": list(self.restored),
            "next_eval": self.next_eval,
            "validation_steps": self.interaction(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """:param state: what :meth:`state_dict` returned."""
        self.phase = int(state["phase"])
        self.best_score = float(state["best_score"])
        self.best_step = int(state["best_step"])
        self.best = state["best"]
        self.restored = [bool(r) for r in state["restored"]]
        self.next_eval = int(state["next_eval"])
        self.steps_before = int(state.get("validation_steps", 0)) - sum(c.steps for c in self.counters)
        if self.next_eval >= _NEVER:  # saved after the last phase: a run grown since has phases to score
            self.next_eval = self._first_eval(self.phase)
