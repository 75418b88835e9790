"""SB3 callbacks of a continual run: per-task evaluation, atomic checkpoints, a task-aware progress bar.

- :class:`ContinualEvalCallback` evaluates every task at the end of every schedule phase (and every
  ``eval_freq`` env steps), fills the :class:`~psp_rl.metrics.PerformanceMatrix` and logs
  ``eval/task_<k>/return``, ``eval/task_<k>/normalized``, ``continual/avg_performance``,
  ``continual/forgetting``, the matrix as an image and the run's hyper-parameters.
- :class:`AtomicCheckpointCallback` writes ``checkpoints/step_<n>/`` (model, VecNormalize statistics,
  optional replay buffer, the callbacks' state) into a temporary folder and renames it into place, so
  the latest checkpoint is always complete.
- :class:`TaskProgressBarCallback` shows the step count and the current task.

Every callback whose position matters on ``--resume`` offers ``state_dict()`` / ``load_state_dict()``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import HParam, Image
from stable_baselines3.common.vec_env import VecEnv, VecNormalize, sync_envs_normalization

from psp_rl.config import EVAL_MATRIX
from psp_rl.metrics import PerformanceMatrix, area_under_curve, forgetting, forward_transfer

__all__ = [
    "AtomicCheckpointCallback",
    "ContinualEvalCallback",
    "TaskProgressBarCallback",
    "find_latest_checkpoint",
    "flatten_hparams",
]

_RICH_ONLY = ("stdout", "log", "json", "csv")


def _none_if_nan(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _nans_to_none(values: Sequence[float]) -> list[float | None]:
    """JSON-friendly values: the tasks an evaluation skipped (``nan``) become ``null``."""
    return [_none_if_nan(v) for v in values]


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


class ContinualEvalCallback(BaseCallback):
    """Evaluate every task at the end of each schedule phase and every ``eval_freq`` env steps.

    Phase ends give the rows of the performance matrix ``R`` (rows = phases, columns = tasks);
    every evaluation (with one at step 0) goes to the history used for AUC / forward transfer.

    :param eval_envs: one VecEnv per task (``suite.make_eval_envs()``).
    :param normalize: ``normalize(task, raw_return) -> float`` (``suite.normalize``).
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
    :param evaluate_fn: ``evaluate_fn(model, env, n_episodes, deterministic) -> float`` mean return
        (default: SB3 ``evaluate_policy``); a hook for tests.
    :param verbose: 1 prints a line per phase-end evaluation.
    """

    def __init__(
        self,
        eval_envs: Sequence[VecEnv],
        normalize: Callable[[int, float], float],
        phase_boundaries: Sequence[int],
        phase_tasks: Sequence[int | None] | None = None,
        n_eval_episodes: int = 10,
        eval_freq: int = 0,
        deterministic: bool = True,
        matrix: str = "full",
        reference_auc: Sequence[float] | None = None,
        hparams: Mapping[str, Any] | None = None,
        evaluate_fn: Callable[[Any, VecEnv, int, bool], float] | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if len(eval_envs) == 0:
            raise ValueError("ContinualEvalCallback needs one eval env per task, got none.")
        self.eval_envs = list(eval_envs)
        self.num_tasks = len(self.eval_envs)
        self.normalize = normalize
        self.phase_boundaries = [int(b) for b in phase_boundaries]
        self.phase_tasks: list[int | None] = (
            list(phase_tasks) if phase_tasks is not None else list(range(len(self.phase_boundaries)))
        )
        if len(self.phase_tasks) != len(self.phase_boundaries):
            raise ValueError(
                f"phase_tasks has {len(self.phase_tasks)} entries for {len(self.phase_boundaries)} phases."
            )
        self.n_eval_episodes = int(n_eval_episodes)
        self.eval_freq = int(eval_freq)
        self.deterministic = bool(deterministic)
        if matrix not in EVAL_MATRIX:
            raise ValueError(f"Unknown evaluation matrix {matrix!r}: use one of {', '.join(EVAL_MATRIX)}.")
        self.diagonal = matrix == "diagonal"
        self.reference_auc = None if reference_auc is None else [float(v) for v in reference_auc]
        self.hparams = dict(hparams) if hparams is not None else None
        self.evaluate_fn = evaluate_fn
        self.matrix = PerformanceMatrix(self.num_tasks, phase_tasks=self.phase_tasks)
        self.history: list[dict[str, Any]] = []
        self.next_phase = 0
        self.next_eval_step = self.eval_freq if self.eval_freq > 0 else math.inf

    # ------------------------------------------------------------------ evaluation
    def _evaluate_task(self, env: VecEnv) -> float:
        if isinstance(env, VecNormalize) and self.training_env is not None:
            sync_envs_normalization(self.training_env, env)
        if self.evaluate_fn is not None:
            return float(self.evaluate_fn(self.model, env, self.n_eval_episodes, self.deterministic))
        mean, _ = evaluate_policy(
            self.model,
            env,
            n_eval_episodes=self.n_eval_episodes,
            deterministic=self.deterministic,
            warn=False,
        )
        return float(mean)

    def evaluate(self, tasks: Sequence[int] | None = None) -> tuple[list[float], list[float]]:
        """Evaluate the current model on every task (or on ``tasks`` only).

        :param tasks: the tasks to evaluate (default: all).
        :return: ``(raw mean returns, normalized returns)``, one entry per task (``nan`` where not
            evaluated).
        """
        chosen = set(range(self.num_tasks) if tasks is None else tasks)
        raw = [self._evaluate_task(env) if k in chosen else math.nan for k, env in enumerate(self.eval_envs)]
        normalized = [float(self.normalize(k, r)) if k in chosen else math.nan for k, r in enumerate(raw)]
        return raw, normalized

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
        return None if None in tasks else sorted(set(tasks))  # type: ignore[type-var]

    def _record(self, phase: int, raw: list[float], normalized: list[float], phase_end: bool) -> None:
        step = int(self.num_timesteps)
        self.history.append(
            {"step": step, "phase": phase, "phase_end": phase_end, "returns": raw, "normalized": normalized}
        )
        for k in range(self.num_tasks):
            if not math.isnan(normalized[k]):
                self.logger.record(f"eval/task_{k}/return", raw[k])
                self.logger.record(f"eval/task_{k}/normalized", normalized[k])
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

    def _on_step(self) -> bool:
        evaluated = False
        while (
            self.next_phase < len(self.phase_boundaries)
            and self.num_timesteps >= self.phase_boundaries[self.next_phase]
        ):
            phase = self.next_phase
            raw, normalized = self.evaluate(self.tasks_to_evaluate(phase, phase_end=True))
            self.matrix.append(normalized, raw=raw, step=int(self.num_timesteps))
            self.next_phase += 1
            self._record(phase, raw, normalized, phase_end=True)
            if self.verbose >= 1:
                print(
                    f"phase {phase} done at step {self.num_timesteps}: normalized returns "
                    + " ".join(f"{v:.2f}" for v in normalized)
                )
            evaluated = True
        if self.num_timesteps >= self.next_eval_step:
            if not evaluated:
                raw, normalized = self.evaluate(self.tasks_to_evaluate(self.next_phase))
                self._record(self.next_phase, raw, normalized, phase_end=False)
            while self.next_eval_step <= self.num_timesteps:
                self.next_eval_step += self.eval_freq
        return True

    # ------------------------------------------------------------------ metrics
    def phase_auc(self) -> list[float | None]:
        """Normalized area under the trained task's curve during each finished phase.

        Phase ``i`` uses the evaluations taken during it plus the last one before it (the previous
        phase end, or the step-0 evaluation). Multi-task phases give ``None``.

        :return: one entry per finished phase.
        """
        out: list[float | None] = []
        for phase in range(self.next_phase):
            task = self.phase_tasks[phase]
            if task is None:
                out.append(None)
                continue
            before = [h for h in self.history if h["phase"] < phase]
            points = ([before[-1]] if before else []) + [h for h in self.history if h["phase"] == phase]
            points = [h for h in points if not math.isnan(float(h["normalized"][task]))]  # diagonal
            steps = [h["step"] for h in points]
            values = [h["normalized"][task] for h in points]
            out.append(_none_if_nan(area_under_curve(steps, values)) if points else None)
        return out

    def task_auc(self) -> list[float | None]:
        """AUC of each task during the first phase that trained it (``None`` if none has).

        :return: one entry per task.
        """
        per_task: list[float | None] = [None] * self.num_tasks
        for phase, auc in enumerate(self.phase_auc()):
            task = self.phase_tasks[phase]
            if task is not None and per_task[task] is None:
                per_task[task] = auc
        return per_task

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
                ft_per_task.append(None if auc is None else _none_if_nan(float(forward_transfer(auc, ref))))
            finite = [v for v in ft_per_task if v is not None]
            ft_mean = float(np.mean(finite)) if finite else None
        final = self.history[-1] if self.history else None
        return {
            "num_tasks": self.num_tasks,
            "phase_boundaries": self.phase_boundaries,
            "phase_tasks": self.phase_tasks,
            "phases_done": self.next_phase,
            "perf_matrix": self.matrix.to_dict()["rows"],
            "return_matrix": self.matrix.to_dict()["raw_rows"],
            "avg_performance": _none_if_nan(self.matrix.average_performance()),
            "forgetting": _none_if_nan(self.matrix.forgetting()),
            "forgetting_per_task": [_none_if_nan(v) for v in self.matrix.forgetting_per_task().tolist()],
            "phase_auc": self.phase_auc(),
            "task_auc": task_auc,
            "reference_auc": self.reference_auc,
            "forward_transfer": ft_mean,
            "forward_transfer_per_task": ft_per_task,
            "final_returns": None if final is None else final["returns"],
            "final_normalized": None if final is None else final["normalized"],
            "eval_episodes": self.n_eval_episodes,
            "eval_history": [
                {**h, "returns": _nans_to_none(h["returns"]), "normalized": _nans_to_none(h["normalized"])}
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

        :param state: the saved state.
        """
        self.matrix = PerformanceMatrix.from_dict(state["matrix"])
        self.matrix.phase_tasks = self.phase_tasks
        self.history = list(state["history"])
        self.next_phase = int(state["next_phase"])
        nxt = state.get("next_eval_step")
        self.next_eval_step = math.inf if nxt is None or self.eval_freq <= 0 else int(nxt)


# ---------------------------------------------------------------------- checkpoints
_LATEST = "latest.json"
_STATE = "state.json"


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _is_complete(folder: Path) -> bool:
    return (folder / _STATE).is_file() and (folder / "model.zip").is_file()


def find_latest_checkpoint(run_path: str | Path) -> Path | None:
    """The newest *complete* checkpoint folder of a run, or ``None``.

    ``checkpoints/latest.json`` names it; if that is missing or stale, the complete ``step_*``
    folders are scanned. Temporary folders of an interrupted save are never returned.

    :param run_path: the run folder.
    :return: the checkpoint folder.
    """
    folder = Path(run_path) / "checkpoints"
    if not folder.is_dir():
        return None
    try:
        name = json.loads((folder / _LATEST).read_text())["checkpoint"]
        if _is_complete(folder / name):
            return folder / name
    except (OSError, ValueError, KeyError, TypeError):
        pass
    complete = [p for p in folder.glob("step_*") if p.is_dir() and _is_complete(p)]
    return max(complete, key=lambda p: p.name) if complete else None


class AtomicCheckpointCallback(BaseCallback):
    """Save ``checkpoints/step_<n>/`` at every phase end and every ``save_freq`` env steps.

    A checkpoint holds ``model.zip``, ``vecnormalize.pkl`` (when the training env is normalized),
    ``replay_buffer.pkl`` (optional, off-policy algorithms) and ``state.json`` (step counter and the
    state of every registered callback). It is written into ``checkpoints/.tmp-*`` and renamed into
    place with ``os.replace``; ``latest.json`` is updated the same way afterwards. Older
    checkpoints beyond ``keep`` are removed.

    :param run_path: the run folder.
    :param phase_boundaries: env steps at which each phase ends.
    :param save_freq: also save every this many env steps (0: phase ends only).
    :param keep: how many checkpoints to keep.
    :param save_replay_buffer: also save the replay buffer (off-policy algorithms).
    :param stateful: callbacks (or any objects with ``state_dict()``) whose state to save, by name.
    :param tensor_stateful: objects whose ``state_dict()`` holds tensors, saved as ``<name>.pt``
        (read back with ``torch.load(..., weights_only=True)``).
    :param extra_state: ``() -> dict`` of more state to save (e.g. accumulated wall time).
    :param verbose: 1 prints a line per checkpoint.
    """

    def __init__(
        self,
        run_path: str | Path,
        phase_boundaries: Sequence[int] = (),
        save_freq: int = 0,
        keep: int = 2,
        save_replay_buffer: bool = False,
        stateful: Mapping[str, Any] | None = None,
        extra_state: Callable[[], dict[str, Any]] | None = None,
        verbose: int = 0,
        tensor_stateful: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(verbose)
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}.")
        self.folder = Path(run_path) / "checkpoints"
        self.phase_boundaries = sorted(int(b) for b in phase_boundaries)
        self.save_freq = int(save_freq)
        self.keep = int(keep)
        self.save_replay_buffer = bool(save_replay_buffer)
        self.stateful = dict(stateful or {})
        self.tensor_stateful = dict(tensor_stateful or {})
        self.extra_state = extra_state
        self.last_saved_step: int | None = None

    def _on_training_start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.last_saved_step = int(self.num_timesteps)

    def _due(self) -> bool:
        last = self.last_saved_step if self.last_saved_step is not None else 0
        now = int(self.num_timesteps)
        if any(last < b <= now for b in self.phase_boundaries):
            return True
        return self.save_freq > 0 and now // self.save_freq > last // self.save_freq

    def _on_step(self) -> bool:
        if self._due():
            self.save_checkpoint()
        return True

    def save_checkpoint(self) -> Path:
        """Write a checkpoint of the current step now (atomically).

        :return: the checkpoint folder.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        step = int(self.model.num_timesteps)
        name = f"step_{step:012d}"
        tmp = self.folder / f".tmp-{name}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        try:
            self.model.save(tmp / "model.zip")
            env = self.model.get_vec_normalize_env()
            if env is not None:
                env.save(str(tmp / "vecnormalize.pkl"))
            if self.save_replay_buffer and getattr(self.model, "replay_buffer", None) is not None:
                self.model.save_replay_buffer(tmp / "replay_buffer.pkl")  # type: ignore[attr-defined]
            state = {
                "num_timesteps": step,
                "saved_at": time.time(),
                "callbacks": {key: obj.state_dict() for key, obj in self.stateful.items()},
                "extra": self.extra_state() if self.extra_state is not None else {},
            }
            for key, obj in self.tensor_stateful.items():
                torch.save(obj.state_dict(), tmp / f"{key}.pt")
            _write_json_atomic(tmp / _STATE, state)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        final = self.folder / name
        if final.exists():  # same step saved before (e.g. an interrupt right at a phase end)
            trash = self.folder / f".old-{name}-{os.getpid()}"
            os.replace(final, trash)
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _write_json_atomic(self.folder / _LATEST, {"checkpoint": name, "num_timesteps": step})
        self.last_saved_step = step
        self._prune()
        if self.verbose >= 1:
            print(f"checkpoint {final}")
        return final

    def _prune(self) -> None:
        complete = sorted(p for p in self.folder.glob("step_*") if p.is_dir())
        for old in complete[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------- progress bar
class TaskProgressBarCallback(BaseCallback):
    """A tqdm progress bar over env steps whose label shows the current task and phase.

    :param task_source: an object with ``current_task`` / ``current_phase`` (the schedule callback).
    :param num_phases: number of phases, for the label.
    :param total_timesteps: the run's total env steps (default: SB3's target of this ``learn``).
    """

    def __init__(
        self, task_source: Any = None, num_phases: int | None = None, total_timesteps: int | None = None
    ) -> None:
        super().__init__()
        self.task_source = task_source
        self.num_phases = num_phases
        self.total_timesteps = total_timesteps
        self.pbar: Any = None
        self._shown = -1
        self._label: str | None = None

    def _label_now(self) -> str:
        task = getattr(self.task_source, "current_task", None)
        phase = getattr(self.task_source, "current_phase", None)
        parts = []
        if phase is not None:
            parts.append(
                f"phase {int(phase) + 1}/{self.num_phases}" if self.num_phases else f"phase {int(phase) + 1}"
            )
        parts.append(f"task {task}" if task is not None else "all tasks")
        return " · ".join(parts)

    def _on_training_start(self) -> None:
        from tqdm.auto import tqdm

        total = self.total_timesteps or int(self.locals.get("total_timesteps", 0)) or None
        self._shown = int(self.num_timesteps)
        self._label = self._label_now()
        self.pbar = tqdm(total=total, initial=self._shown, desc=self._label, unit="step", dynamic_ncols=True)

    def _on_step(self) -> bool:
        if self.pbar is None:
            return True
        now = int(self.num_timesteps)
        label = self._label_now()
        if label != self._label:
            self._label = label
            self.pbar.set_description(label, refresh=False)
        if now > self._shown:
            self.pbar.update(now - self._shown)
            self._shown = now
        return True

    def _on_training_end(self) -> None:
        if self.pbar is not None:
            self.pbar.refresh()
            self.pbar.close()
            self.pbar = None
