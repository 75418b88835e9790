"""The evaluation callback of a continual run: every task at every phase end, the performance matrix,
the continual-learning metrics and their TensorBoard curves.

:class:`ContinualEvalCallback` logs ``eval/task_<k>/return``, ``eval/task_<k>/normalized``,
``continual/avg_performance``, ``continual/forgetting``, the matrix as an image and the run's
hyper-parameters; :meth:`~ContinualEvalCallback.metrics` is what ``metrics.json`` holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, SupportsFloat, cast

import numpy as np
from stable_baselines3.common.logger import HParam, Image
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from psp_rl import seeds
from psp_rl.checks import check_keys
from psp_rl.envs.suites import METRICS
from psp_rl.evaluation.episodes import eval_envs_per_task, score_task
from psp_rl.metrics import (
    PerformanceMatrix,
    check_phase_tasks,
    forgetting,
    forward_transfer,
    nan_to_none,
    phase_auc,
    task_auc,
)
from psp_rl.phases import PhaseCallback
from psp_rl.utils import unknown

if TYPE_CHECKING:
    from psp_rl.envs.schedules import TaskSchedule
    from psp_rl.envs.suites import Suite

__all__ = ["EVAL_DEFAULTS", "EVAL_MATRIX", "ContinualEvalCallback", "evaluation_callback", "flatten_hparams"]

#: what each evaluation covers (preset key ``eval.matrix``)
EVAL_MATRIX: tuple[str, ...] = ("full", "diagonal")
#: the preset's ``eval`` section
EVAL_DEFAULTS: dict[str, Any] = {
    "episodes": 10,
    "eval_freq": 0,
    "deterministic": True,
    "n_envs": None,
    "matrix": "full",
}

_RICH_ONLY = ("stdout", "log", "json", "csv")


def flatten_hparams(config: Mapping[str, Any], prefix: str = "") -> dict[str, bool | str | float | int]:
    """Flatten a nested config into TensorBoard-HParams-friendly scalars (lists become strings).

    :param config: nested mapping.
    :param prefix: key prefix.
    :return: flat ``{"a.b": value}`` mapping.

    Example::

        >>> flatten_hparams({"algo": "ppo", "hyperparams": {"n_steps": 32}, "net": [64, 64]})
        {'algo': 'ppo', 'hyperparams.n_steps': 32, 'net': '[64, 64]'}
    """
    flat: dict[str, bool | str | float | int] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_hparams(value, prefix=f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        elif value is None:
            flat[name] = "none"
        else:
            flat[name] = str(value)
    return flat


def _figure_to_rgb(fig: Any) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


class ContinualEvalCallback(PhaseCallback):
    """Evaluate every task at the end of each schedule phase and every ``eval_freq`` env steps.

    Phase ends give the rows of the performance matrix ``R`` (rows = phases, columns = tasks);
    every evaluation (with one at step 0) goes to the history used for AUC / forward transfer.

    :param eval_envs: one VecEnv per task (``suite.make_eval_envs()``).
    :param normalize: ``normalize(task, raw_return)``, a number ``float()`` takes (``suite.normalize``).
    :param phase_boundaries: env steps at which each phase ends (``schedule.phase_boundaries()``).
    :param phase_tasks: the task trained in each phase (``None`` for a phase training several).
    :param n_eval_episodes: episodes per task and evaluation.
    :param eval_freq: evaluate every this many env steps as well (0: only at phase ends).
    :param deterministic: deterministic actions during evaluation.
    :param matrix: ``"full"`` evaluates every task at every evaluation; ``"diagonal"`` evaluates only
        the task of the current phase (at a phase end also the next phase's task), and every task at
        the last phase end, so the matrix holds
        ``R[j, j]``, ``R[j, j+1]`` and the last row (enough for average performance, forgetting and
        AUCs) for about 3K instead of K^2 task evaluations; the entries not measured are ``nan``.
        For K = 50 or 100.
    :param reference_auc: per-task AUC of a single-task reference run, for forward transfer.
    :param hparams: the run's hyper-parameters, logged once at the start of a fresh run.
    :param evaluate_fn: ``evaluate_fn(model, env, n_episodes, deterministic) -> float`` mean return, or
        ``(mean return, success rate)`` (needed with ``metric="success"``) (default:
        :func:`~psp_rl.evaluation.episodes.evaluate_episodes`); a hook for tests.
    :param eval_seed: every evaluation of task ``k`` reseeds its env with ``eval_seed + 1000 k`` first,
        so all evaluations of a task start from the same initial states: a change between two of them
        (forgetting, the learning curve) is the policy's, not the luck of the start states. ``None``
        lets the envs' random streams run on across evaluations.
    :param metric: what the performance matrix holds (the suite's ``metric``): ``"return"`` (``normalize``
        of the mean return) or ``"success"`` (the success rate, from ``info["is_success"]`` at each
        episode's end; also logged as ``eval/task_<k>/success``).
    :param verbose: 1 prints a line per phase-end evaluation.
    """

    def __init__(
        self,
        eval_envs: Sequence[VecEnv],
        normalize: Callable[[int, float], SupportsFloat],
        phase_boundaries: Sequence[int],
        phase_tasks: Sequence[int | None] | None = None,
        n_eval_episodes: int = 10,
        eval_freq: int = 0,
        deterministic: bool = True,
        matrix: str = "full",
        reference_auc: Sequence[float] | None = None,
        hparams: Mapping[str, Any] | None = None,
        evaluate_fn: Callable[[Any, VecEnv, int, bool], float | tuple[float, float]] | None = None,
        eval_seed: int | None = None,
        metric: str = "return",
        verbose: int = 0,
    ) -> None:
        super().__init__(phase_boundaries, verbose)
        if metric not in METRICS:
            raise unknown("evaluation metric", metric, METRICS)
        self.metric = metric
        self.eval_seed = None if eval_seed is None else int(eval_seed)
        if len(eval_envs) == 0:
            raise ValueError("ContinualEvalCallback needs one eval env per task, got none.")
        self.eval_envs = list(eval_envs)
        self.num_tasks = len(self.eval_envs)
        self.normalize = normalize
        self.phase_boundaries = [int(b) for b in phase_boundaries]
        self.phase_tasks = check_phase_tasks(self.phase_boundaries, phase_tasks)
        self.n_eval_episodes = int(n_eval_episodes)
        self.eval_freq = int(eval_freq)
        self.deterministic = bool(deterministic)
        if matrix not in EVAL_MATRIX:
            raise unknown("evaluation matrix", matrix, EVAL_MATRIX)
        self.diagonal = matrix == "diagonal"
        self.reference_auc = None if reference_auc is None else [float(v) for v in reference_auc]
        self.hparams = dict(hparams) if hparams is not None else None
        self.evaluate_fn = evaluate_fn
        self.matrix = PerformanceMatrix(self.num_tasks, phase_tasks=self.phase_tasks)
        self.history: list[dict[str, Any]] = []
        self.next_phase = 0
        self.next_eval_step = self.eval_freq if self.eval_freq > 0 else math.inf
        self._evaluated_at = -1  # the step of the last phase-end evaluation

    # ------------------------------------------------------------------ evaluation
    def _evaluate_task(self, env: VecEnv, task: int) -> tuple[float, float]:
        """:return: the mean return and the task's score (normalised return, or success rate)."""
        training_env = self.training_env if isinstance(env, VecNormalize) else None
        return score_task(
            self.model,
            env,
            task,
            self.n_eval_episodes,
            self.normalize,
            self.deterministic,
            self.metric,
            seed=self.eval_seed,
            training_env=training_env,
            evaluate_fn=self.evaluate_fn,
        )

    def evaluate(self, tasks: Sequence[int] | None = None) -> tuple[list[float], list[float]]:
        """Evaluate the current model on every task (or on ``tasks`` only).

        :param tasks: the tasks to evaluate (default: all).
        :return: ``(raw mean returns, scores)``, one entry per task (``nan`` where not evaluated); the
            scores are the normalized returns, or the success rates with ``metric="success"``.
        """
        chosen = set(range(self.num_tasks) if tasks is None else tasks)
        pairs = [
            self._evaluate_task(env, k) if k in chosen else (math.nan, math.nan)
            for k, env in enumerate(self.eval_envs)
        ]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def tasks_to_evaluate(self, phase: int, phase_end: bool = False) -> list[int] | None:
        """The tasks an evaluation during (or at the end of) ``phase`` covers (``None``: all).

        :param phase: the phase index (``-1``: before training).
        :param phase_end: the evaluation closes ``phase``.
        """
        last = len(self.phase_boundaries) - 1
        if not self.diagonal or (phase_end and phase >= last):
            return None
        # a phase end also measures the next phase's task: the start of its learning curve (AUC)
        phases = [max(phase, 0), phase + 1] if phase_end else [max(phase, 0)]
        tasks = [self.phase_tasks[p] for p in phases]
        return None if None in tasks else sorted(set(cast("list[int]", tasks)))

    def _record(self, phase: int, raw: list[float], normalized: list[float], phase_end: bool) -> None:
        step = int(self.num_timesteps)
        self.history.append(
            {"step": step, "phase": phase, "phase_end": phase_end, "returns": raw, "normalized": normalized}
        )
        for k in range(self.num_tasks):
            if not math.isnan(normalized[k]):
                self.logger.record(f"eval/task_{k}/return", raw[k])
                self.logger.record(f"eval/task_{k}/normalized", normalized[k])
                if self.metric == "success":
                    self.logger.record(f"eval/task_{k}/success", normalized[k])
        if not any(math.isnan(v) for v in normalized):
            self.logger.record("continual/avg_performance", float(np.mean(normalized)))
        if len(self.matrix) > 0 and not phase_end:
            # online forgetting: matrix so far plus the current evaluation as the last row
            rows = np.vstack([self.matrix.R, np.asarray(normalized)[None, :]])
            value = forgetting(rows, [*self.phase_tasks[: len(self.matrix)], None])
        else:
            value = self.matrix.forgetting()
        if not math.isnan(value):
            self.logger.record("continual/forgetting", value)
        if phase_end:
            self.logger.record(
                "continual/perf_matrix",
                Image(_figure_to_rgb(self.matrix.figure()), "HWC"),
                exclude=_RICH_ONLY,
            )
        self.logger.dump(step)

    def _on_training_start(self) -> None:
        if self.history:  # resumed: the start-of-run evaluation exists already
            never = [
                k for k in range(self.num_tasks) if all(math.isnan(h["normalized"][k]) for h in self.history)
            ]
            if never:  # tasks added to the run: where their learning curves start
                raw, normalized = self.evaluate(never)
                self._record(self.next_phase, raw, normalized, phase_end=False)
            return
        if self.hparams is not None:
            self.logger.record(
                "hparams",
                HParam(
                    flatten_hparams(self.hparams),
                    {"continual/avg_performance": 0.0, "continual/forgetting": 0.0},
                ),
                exclude=_RICH_ONLY,
            )
        raw, normalized = self.evaluate(self.tasks_to_evaluate(-1))
        self._record(-1, raw, normalized, phase_end=False)

    def on_phase_end(self, phase: int, last: bool) -> None:
        """The performance matrix's row of ``phase``: an evaluation at its end.

        :param phase: the phase that ended.
        :param last: it is the run's last phase.
        """
        raw, normalized = self.evaluate(self.tasks_to_evaluate(phase, phase_end=True))
        self.matrix.append(normalized, raw=raw, step=int(self.num_timesteps))
        self.next_phase = phase + 1
        self._record(phase, raw, normalized, phase_end=True)
        self._evaluated_at = int(self.num_timesteps)
        if self.verbose >= 1:
            print(
                f"phase {phase} done at step {self.num_timesteps}: normalized returns "
                + " ".join(f"{v:.2f}" for v in normalized)
            )

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_eval_step:
            if self._evaluated_at != self.num_timesteps:  # not just evaluated at a phase end
                raw, normalized = self.evaluate(self.tasks_to_evaluate(self.next_phase))
                self._record(self.next_phase, raw, normalized, phase_end=False)
            while self.next_eval_step <= self.num_timesteps:
                self.next_eval_step += self.eval_freq
        return True

    # ------------------------------------------------------------------ metrics
    def phase_auc(self) -> list[float | None]:
        """Normalized area under the trained task's curve during each finished phase
        (:func:`psp_rl.metrics.phase_auc`).

        :return: one entry per finished phase.
        """
        return phase_auc(self.history, self.phase_tasks, self.next_phase)

    def task_auc(self) -> list[float | None]:
        """AUC of each task during the first phase that trained it (``None`` if none has).

        :return: one entry per task.
        """
        return task_auc(self.history, self.phase_tasks, self.next_phase, self.num_tasks)

    def metrics(self) -> dict[str, Any]:
        """Everything ``metrics.json`` holds: the matrix, average performance, forgetting, AUCs,
        forward transfer (with a reference), the evaluation history.

        :return: a JSON-serialisable dict.
        """
        task_auc = self.task_auc()
        ft_per_task: list[float | None] | None = None
        ft_mean: float | None = None
        if self.reference_auc is not None:
            if len(self.reference_auc) != self.num_tasks:
                raise ValueError(
                    f"the reference run has {len(self.reference_auc)} task AUCs but this suite has "
                    f"{self.num_tasks} tasks: give a reference trained on the same suite."
                )
            ft_per_task = []
            for auc, ref in zip(task_auc, self.reference_auc):
                ft_per_task.append(None if auc is None else nan_to_none(float(forward_transfer(auc, ref))))
            finite = [v for v in ft_per_task if v is not None]
            ft_mean = float(np.mean(finite)) if finite else None
        final = self.history[-1] if self.history else None
        return {
            "num_tasks": self.num_tasks,
            "metric": self.metric,
            "phase_boundaries": self.phase_boundaries,
            "phase_tasks": self.phase_tasks,
            "phases_done": self.next_phase,
            "perf_matrix": self.matrix.to_dict()["rows"],
            "return_matrix": self.matrix.to_dict()["raw_rows"],
            "avg_performance": nan_to_none(self.matrix.average_performance()),
            "forgetting": nan_to_none(self.matrix.forgetting()),
            "forgetting_per_task": [nan_to_none(v) for v in self.matrix.forgetting_per_task().tolist()],
            "phase_auc": self.phase_auc(),
            "task_auc": task_auc,
            "reference_auc": self.reference_auc,
            "forward_transfer": ft_mean,
            "forward_transfer_per_task": ft_per_task,
            "final_returns": None if final is None else final["returns"],
            "final_normalized": None if final is None else final["normalized"],
            "eval_episodes": self.n_eval_episodes,
            "eval_deterministic": bool(self.deterministic),
            "eval_history": [
                {**h, "returns": nan_to_none(h["returns"]), "normalized": nan_to_none(h["normalized"])}
                for h in self.history
            ],
        }

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """:return: the callback's position (matrix, history, next phase / eval step)."""
        return {
            "matrix": self.matrix.to_dict(),
            "history": self.history,
            "next_phase": self.next_phase,
            "next_eval_step": None if math.isinf(self.next_eval_step) else int(self.next_eval_step),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a position saved by :meth:`state_dict`.

        A state saved with fewer tasks (a run continued with more) gets ``nan`` for the added tasks in
        every row and evaluation so far.

        :param state: the saved state.
        """
        self.matrix = PerformanceMatrix.from_dict(state["matrix"])
        if self.matrix.num_tasks > self.num_tasks:
            raise ValueError(
                f"this evaluation state holds {self.matrix.num_tasks} tasks but the run evaluates {self.num_tasks}."
            )
        added = self.num_tasks - self.matrix.num_tasks
        self.matrix.grow(self.num_tasks)
        self.matrix.phase_tasks = self.phase_tasks
        pad = [math.nan] * added
        self.history = [
            {**h, "returns": list(h["returns"]) + pad, "normalized": list(h["normalized"]) + pad}
            for h in state["history"]
        ]
        self.next_phase = int(state["next_phase"])
        nxt = state.get("next_eval_step")
        self.next_eval_step = math.inf if nxt is None or self.eval_freq <= 0 else int(nxt)


def evaluation_callback(
    suite: Suite,
    schedule: TaskSchedule,
    section: Mapping[str, Any],
    *,
    seed: int = 0,
    reference_auc: Sequence[float] | None = None,
    hparams: Mapping[str, Any] | None = None,
    env_wrapper: Callable[[VecEnv], VecEnv] | None = None,
) -> ContinualEvalCallback:
    """The evaluation of a run, as ``psp-rl train`` builds it: one VecEnv per task seeded in the
    evaluation namespace of ``seed``, every evaluation of a task from the same start states.

    :param suite: the task suite.
    :param schedule: the run's task schedule.
    :param section: the preset's ``eval`` section (missing keys take :data:`EVAL_DEFAULTS`).
    :param seed: the run's seed.
    :param reference_auc: per-task AUCs of a single-task reference run, for forward transfer.
    :param hparams: the run's hyper-parameters, logged once at the start.
    :param env_wrapper: applied to every evaluation env, e.g. to normalise observations with the training
        env's statistics.
    :return: the callback.
    """
    check_keys("eval", section, EVAL_DEFAULTS)
    cfg = {**EVAL_DEFAULTS, **section}
    boundaries = [int(b) for b in schedule.phase_boundaries()]
    eval_seed = seeds.evaluation(seed)
    envs = eval_envs_per_task(suite, cfg["episodes"], cfg["n_envs"], seed=eval_seed)
    return ContinualEvalCallback(
        [env_wrapper(env) for env in envs] if env_wrapper is not None else envs,
        suite.normalize,
        boundaries,
        [schedule.phase_task(i) for i in range(len(boundaries))],
        n_eval_episodes=cfg["episodes"],
        eval_freq=cfg["eval_freq"],
        deterministic=cfg["deterministic"],
        matrix=cfg["matrix"],
        reference_auc=reference_auc,
        hparams=hparams,
        eval_seed=eval_seed,  # every evaluation of a task from the same start states
        metric=suite.metric,  # normalised returns, or success rates (metric: success)
    )
