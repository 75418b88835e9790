"""Continual-learning metrics (Continual World conventions, Wołczyk et al. 2021).

``R[i, j]`` is the *normalized* return on task ``j`` measured at the end of training phase ``i``
(rows = phases, columns = tasks). With one phase per task, trained in order, ``R`` is ``K x K`` and

- average performance = mean of the last row,
- forgetting of task ``j`` = ``R[j, j] - R[K-1, j]``, averaged over ``j < K-1``,
- forward transfer of task ``j`` = ``(AUC_j - AUC_j^ref) / (1 - AUC_j^ref)``, where ``AUC_j`` is the
  normalized area under task ``j``'s evaluation curve during its own phase and ``AUC_j^ref`` the same
  for a single-task reference run.

Schedules whose phases do not map one-to-one onto tasks (repeats, multi-task phases) are handled
with ``phase_tasks``: the task trained in each phase (``None`` for a phase that trains several).

All functions are pure numpy; :class:`PerformanceMatrix` collects rows during training, round-trips
through JSON and draws itself to a PNG.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "PerformanceMatrix",
    "area_under_curve",
    "check_phase_tasks",
    "nan_to_none",
    "phase_auc",
    "task_auc",
    "average_performance",
    "forgetting",
    "forgetting_per_task",
    "forward_transfer",
]


def _as_matrix(R: Any) -> np.ndarray:
    matrix = np.asarray(R, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(
            f"expected a non-empty 2-D performance matrix (phases x tasks), got shape {matrix.shape}"
        )
    return matrix


def average_performance(R: Any) -> float:
    """Mean normalized performance over all tasks after the last phase (mean of the last row).

    :param R: performance matrix, shape ``(phases, tasks)``.
    :return: the average performance.

    Example::

        >>> average_performance([[1.0, 0.0], [0.5, 1.0]])
        0.75
    """
    return float(np.mean(_as_matrix(R)[-1]))


def _default_phase_tasks(matrix: np.ndarray, phase_tasks: Sequence[int | None] | None) -> list[int | None]:
    if phase_tasks is None:
        return list(range(matrix.shape[0]))
    if len(phase_tasks) < matrix.shape[0]:
        raise ValueError(
            f"phase_tasks has {len(phase_tasks)} entries but the matrix has {matrix.shape[0]} rows: "
            "give the task of every phase (None for a multi-task phase)"
        )
    return list(phase_tasks)


def forgetting_per_task(R: Any, phase_tasks: Sequence[int | None] | None = None) -> np.ndarray:
    """Forgetting of every task: performance right after its own phase minus final performance.

    Task ``j``'s reference row is the last phase ``p < P-1`` that trained it (``P`` = number of rows),
    so for the square sequential case this is ``R[j, j] - R[P-1, j]``. Tasks with no such phase (the
    task of the last phase, or never trained alone) get ``nan``.

    :param R: performance matrix, shape ``(phases, tasks)``.
    :param phase_tasks: the task trained in each phase (``None`` = several); default ``0, 1, ...``.
    :return: array of shape ``(tasks,)``.

    Example::

        >>> forgetting_per_task([[1.0, 0.0, 0.0], [0.6, 1.0, 0.0], [0.4, 0.9, 1.0]]).tolist()
        [0.6, 0.09999999999999998, nan]
    """
    matrix = _as_matrix(R)
    tasks = _default_phase_tasks(matrix, phase_tasks)
    last = matrix.shape[0] - 1
    out = np.full(matrix.shape[1], np.nan)
    for phase in range(last):
        task = tasks[phase]
        if task is None:
            continue
        if not 0 <= task < matrix.shape[1]:
            raise ValueError(f"phase {phase} trains task {task}, outside 0..{matrix.shape[1] - 1}")
        out[task] = matrix[phase, task] - matrix[last, task]
    return out


def forgetting(R: Any, phase_tasks: Sequence[int | None] | None = None) -> float:
    """Mean forgetting over the tasks that have a value (``j < K-1`` in the sequential case).

    :param R: performance matrix, shape ``(phases, tasks)``.
    :param phase_tasks: the task trained in each phase (``None`` = several); default ``0, 1, ...``.
    :return: the mean forgetting, ``nan`` when no task has been left behind yet (a single phase).

    Example::

        >>> round(forgetting([[1.0, 0.0, 0.0], [0.6, 1.0, 0.0], [0.4, 0.9, 1.0]]), 6)
        0.35
    """
    values = forgetting_per_task(R, phase_tasks)
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def area_under_curve(
    steps: Sequence[float], values: Sequence[float], start: float | None = None, end: float | None = None
) -> float:
    """Normalized area under an evaluation curve (trapezoidal rule), i.e. its time-average.

    Only the points with ``start <= step <= end`` are used; the area is divided by the span of the
    points used, so a constant curve at ``v`` has AUC ``v``. A single point returns its own value.

    :param steps: the env steps at which the curve was evaluated (ascending).
    :param values: the (normalized) values at those steps.
    :param start: first step of the window (default: first point).
    :param end: last step of the window (default: last point).
    :return: the normalized area, ``nan`` when the window holds no point.

    Example::

        >>> area_under_curve([0, 10, 20], [0.0, 1.0, 1.0])
        0.75
    """
    x = np.asarray(steps, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"steps and values must be 1-D and of equal length, got {x.shape} and {y.shape}")
    mask = np.ones_like(x, dtype=bool)
    if start is not None:
        mask &= x >= start
    if end is not None:
        mask &= x <= end
    x, y = x[mask], y[mask]
    if x.size == 0:
        return math.nan
    if x.size == 1 or x[-1] == x[0]:
        return float(y.mean())
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
    return area / float(x[-1] - x[0])


def forward_transfer(auc_task: Any, auc_ref: Any) -> np.ndarray | float:
    """Forward transfer ``(AUC - AUC_ref) / (1 - AUC_ref)`` (Continual World), element-wise.

    A reference AUC of 1 or more leaves no room to improve: the transfer is ``nan`` there.

    :param auc_task: AUC of each task during its own phase in the continual run.
    :param auc_ref: AUC of the same tasks in a single-task reference run.
    :return: a float for scalar input, else an array of the broadcast shape.

    Example::

        >>> forward_transfer(0.75, 0.5)
        0.5
        >>> forward_transfer([0.75, 0.25], [0.5, 0.5]).tolist()
        [0.5, -0.5]
    """
    a = np.asarray(auc_task, dtype=np.float64)
    b = np.asarray(auc_ref, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"auc_task and auc_ref must have the same shape, got {a.shape} and {b.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(b < 1.0, (a - b) / (1.0 - b), np.nan)
    return float(out) if out.ndim == 0 else out


def check_phase_tasks(
    phase_boundaries: Sequence[int], phase_tasks: Sequence[int | None] | None
) -> list[int | None]:
    """The task of each phase: as given (checked against the number of phases), else ``0, 1, ...``.

    :param phase_boundaries: the env steps at which the phases end.
    :param phase_tasks: the task trained in each phase (``None`` for a multi-task phase), or ``None``.
    :return: one entry per phase.
    :raises ValueError: when the two lengths differ.
    """
    if phase_tasks is None:
        return list(range(len(phase_boundaries)))
    tasks = list(phase_tasks)
    if len(tasks) != len(phase_boundaries):
        raise ValueError(
            f"phase_tasks has {len(tasks)} entries for {len(phase_boundaries)} phases: give the task of "
            "every phase (None for a multi-task phase)."
        )
    return tasks


def phase_auc(
    history: Sequence[Mapping[str, Any]], phase_tasks: Sequence[int | None], phases_done: int
) -> list[float | None]:
    """Normalized area under the trained task's evaluation curve during each finished phase.

    Phase ``i`` uses the evaluations taken during it plus the last one before it (the previous phase
    end, or the step-0 evaluation); evaluations that skipped the task (``nan``) are left out.
    Multi-task phases give ``None``.

    :param history: evaluations in order, each ``{"step", "phase", "normalized": [per task]}``.
    :param phase_tasks: the task of each phase.
    :param phases_done: how many phases have finished.
    :return: one entry per finished phase.
    """
    out: list[float | None] = []
    for phase in range(phases_done):
        task = phase_tasks[phase]
        if task is None:
            out.append(None)
            continue
        before = [h for h in history if h["phase"] < phase]
        points = ([before[-1]] if before else []) + [h for h in history if h["phase"] == phase]
        points = [h for h in points if not math.isnan(float(h["normalized"][task]))]
        auc = area_under_curve([h["step"] for h in points], [h["normalized"][task] for h in points])
        out.append(None if not points or math.isnan(auc) else float(auc))
    return out


def task_auc(
    history: Sequence[Mapping[str, Any]], phase_tasks: Sequence[int | None], phases_done: int, num_tasks: int
) -> list[float | None]:
    """AUC of each task during the first phase that trained it (``None`` if none has).

    :param history: evaluations in order (see :func:`phase_auc`).
    :param phase_tasks: the task of each phase.
    :param phases_done: how many phases have finished.
    :param num_tasks: number of tasks.
    :return: one entry per task.
    """
    per_task: list[float | None] = [None] * num_tasks
    for phase, auc in enumerate(phase_auc(history, phase_tasks, phases_done)):
        task = phase_tasks[phase]
        if task is not None and per_task[task] is None:
            per_task[task] = auc
    return per_task


def nan_to_none(value: Any) -> Any:
    """JSON-friendly values: ``nan`` (also inside lists) becomes ``None``.

    :param value: a float, a list, or anything else (returned unchanged).
    """
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [nan_to_none(v) for v in value]
    return value


def _none_to_nan(rows: Sequence[Sequence[float | None]]) -> list[list[float]]:
    return [[math.nan if v is None else float(v) for v in row] for row in rows]


class PerformanceMatrix:
    """The performance matrix of a continual run, filled one phase (row) at a time.

    :param num_tasks: number of tasks (columns).
    :param phase_tasks: the task trained in each phase (``None`` = several); default ``0, 1, ...``.
    :param task_names: optional column labels for plots.

    Example::

        >>> m = PerformanceMatrix(2)
        >>> m.append([1.0, 0.1], raw=[500.0, 50.0], step=1000)
        >>> m.append([0.8, 1.0], raw=[400.0, 500.0], step=2000)
        >>> m.average_performance(), round(m.forgetting(), 6)
        (0.9, 0.2)
        >>> PerformanceMatrix.from_dict(m.to_dict()).R.tolist()
        [[1.0, 0.1], [0.8, 1.0]]
    """

    #: matrices up to this many tasks and phases are drawn with one labelled, annotated cell per entry
    ANNOTATE_MAX = 20

    def __init__(
        self,
        num_tasks: int,
        phase_tasks: Sequence[int | None] | None = None,
        task_names: Sequence[str] | None = None,
    ) -> None:
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        self.num_tasks = int(num_tasks)
        self.phase_tasks: list[int | None] | None = None if phase_tasks is None else list(phase_tasks)
        self.task_names = (
            list(task_names) if task_names is not None else [f"task {k}" for k in range(num_tasks)]
        )
        self.rows: list[list[float]] = []
        self.raw_rows: list[list[float] | None] = []
        self.steps: list[int | None] = []

    def __len__(self) -> int:
        return len(self.rows)

    def append(
        self, row: Sequence[float], raw: Sequence[float] | None = None, step: int | None = None
    ) -> None:
        """Add the normalized returns on every task after one more phase.

        :param row: normalized return per task, length ``num_tasks``.
        :param raw: the raw (unnormalized) returns, same length (optional).
        :param step: the env step at which the row was measured (optional).
        """
        if len(row) != self.num_tasks:
            raise ValueError(f"a row needs one value per task ({self.num_tasks}), got {len(row)}")
        if raw is not None and len(raw) != self.num_tasks:
            raise ValueError(f"raw needs one value per task ({self.num_tasks}), got {len(raw)}")
        self.rows.append([float(v) for v in row])
        self.raw_rows.append(None if raw is None else [float(v) for v in raw])
        self.steps.append(None if step is None else int(step))

    @property
    def R(self) -> np.ndarray:
        """The matrix as an array of shape ``(phases so far, tasks)``."""
        return np.asarray(self.rows, dtype=np.float64).reshape(len(self.rows), self.num_tasks)

    def _phase_tasks(self) -> list[int | None] | None:
        return None if self.phase_tasks is None else self.phase_tasks[: len(self.rows)]

    def average_performance(self) -> float:
        """:return: mean of the last row (``nan`` while empty)."""
        return average_performance(self.R) if self.rows else math.nan

    def forgetting(self) -> float:
        """:return: mean forgetting over the rows so far (``nan`` with fewer than two rows)."""
        return forgetting(self.R, self._phase_tasks()) if self.rows else math.nan

    def forgetting_per_task(self) -> np.ndarray:
        """:return: forgetting of every task over the rows so far (``nan`` where undefined)."""
        if not self.rows:
            return np.full(self.num_tasks, np.nan)
        return forgetting_per_task(self.R, self._phase_tasks())

    def grow(self, num_tasks: int) -> None:
        """Add task columns (a run continued with more tasks); the rows measured so far get ``nan``
        for them.

        :param num_tasks: the new number of tasks, at least the current one.
        """
        if num_tasks < self.num_tasks:
            raise ValueError(
                f"a performance matrix cannot drop tasks: it has {self.num_tasks}, got {num_tasks}."
            )
        added = int(num_tasks) - self.num_tasks
        self.rows = [row + [math.nan] * added for row in self.rows]
        self.raw_rows = [None if raw is None else raw + [math.nan] * added for raw in self.raw_rows]
        self.task_names += [f"task {k}" for k in range(self.num_tasks, int(num_tasks))]
        self.num_tasks = int(num_tasks)

    def to_dict(self) -> dict[str, Any]:
        """:return: a JSON-serialisable dict (``nan`` written as ``null``)."""
        return {
            "num_tasks": self.num_tasks,
            "phase_tasks": self.phase_tasks,
            "task_names": self.task_names,
            "rows": nan_to_none(self.rows),
            "raw_rows": [None if r is None else nan_to_none(r) for r in self.raw_rows],
            "steps": self.steps,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerformanceMatrix:
        """Rebuild a matrix written by :meth:`to_dict`.

        :param data: the dict.
        :return: the matrix.
        """
        matrix = cls(int(data["num_tasks"]), data.get("phase_tasks"), data.get("task_names"))
        rows = _none_to_nan(data.get("rows", []))
        raw_rows = data.get("raw_rows") or [None] * len(rows)
        steps = data.get("steps") or [None] * len(rows)
        for row, raw, step in zip(rows, raw_rows, steps):
            matrix.append(row, None if raw is None else _none_to_nan([raw])[0], step)
        return matrix

    def to_json(self, path: str | Path) -> None:
        """Write :meth:`to_dict` to ``path``.

        :param path: output file.
        """
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_json(cls, path: str | Path) -> PerformanceMatrix:
        """Read a matrix written by :meth:`to_json`.

        :param path: input file.
        :return: the matrix.
        """
        return cls.from_dict(json.loads(Path(path).read_text()))

    def figure(self, title: str | None = None) -> Any:
        """Draw the matrix as a heat map (rows = phases, columns = tasks; see :mod:`psp_rl.matrix_figure`).

        :param title: figure title.
        :return: a ``matplotlib.figure.Figure`` (not attached to pyplot; nothing to close).
        """
        from psp_rl.matrix_figure import matrix_figure

        labels = [self._phase_label(i) for i in range(max(len(self.rows), 1))]
        return matrix_figure(self.R if self.rows else None, self.num_tasks, labels, title, self.ANNOTATE_MAX)

    def _phase_label(self, i: int) -> str:
        task = self.phase_tasks[i] if self.phase_tasks is not None and i < len(self.phase_tasks) else i
        return f"{i} (task {task})" if task is not None else f"{i} (all)"

    def plot(self, path: str | Path, title: str | None = None) -> Path:
        """Save the heat map to a PNG (Agg backend, no display needed).

        :param path: output ``.png`` file.
        :param title: figure title.
        :return: the path written.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig = self.figure(title)
        FigureCanvasAgg(fig)
        path = Path(path)
        fig.savefig(path)
        return path
