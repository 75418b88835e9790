"""The aggregate of a sweep: per grid point, average performance and forgetting over its seeds as the
mean, the interquartile mean (IQM) and stratified-bootstrap confidence intervals (``rliable``), the
printed table and the plot of the aggregates with their intervals.

The scores of a run are per task (rliable's ``runs x tasks`` matrix): for average performance the last
row of its performance matrix (each task's normalised return after the last phase), for forgetting
each task's ``R[j, j] - R[K-1, j]`` (``j < K - 1``). The mean of that matrix is the mean of the runs'
``avg_performance`` (``forgetting``); the IQM is the 25 % trimmed mean of all its cells. Runs whose
per-task scores are not all there (a matrix with gaps) contribute their one headline number instead.

The bootstrap is reproducible: rliable (1.2) draws its resamples from NumPy's global generator, so
every grid point's bootstrap runs with that generator seeded with ``seed`` (and restored afterwards).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["METRICS", "format_table", "plot_summary", "run_scores", "summarize_point"]

#: the aggregated metrics: (name in metrics.json, per-task scores of a run)
METRICS: tuple[str, ...] = ("avg_performance", "forgetting")


def _finite(values: Sequence[Any] | None) -> list[float] | None:
    if not values or any(v is None or not math.isfinite(float(v)) for v in values):
        return None
    return [float(v) for v in values]


def run_scores(metrics: Mapping[str, Any], name: str) -> list[float] | None:
    """A run's per-task scores of one metric, or its one headline number when those have gaps.

    :param metrics: the run's ``metrics.json``.
    :param name: ``avg_performance`` or ``forgetting``.
    :return: the scores, or ``None`` when the run has no value (forgetting of a one-task run).
    """
    if name == "avg_performance":
        rows = metrics.get("perf_matrix") or []
        per_task = _finite(rows[-1]) if rows else None
    else:
        forgetting = metrics.get("forgetting_per_task") or []
        per_task = _finite(forgetting[:-1]) if len(forgetting) > 1 else None
    if per_task:
        return per_task
    value = metrics.get(name)
    return None if value is None or not math.isfinite(float(value)) else [float(value)]


def _aggregates(scores: np.ndarray) -> np.ndarray:
    from rliable import metrics

    return np.array([metrics.aggregate_mean(scores), metrics.aggregate_iqm(scores)])


def _interval(scores: np.ndarray, reps: int, size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from rliable import library

    state = np.random.get_state()
    np.random.seed(seed)
    try:
        points, intervals = library.get_interval_estimates(
            {"x": scores}, _aggregates, reps=reps, confidence_interval_size=size
        )
    finally:
        np.random.set_state(state)
    return points["x"], intervals["x"]


def _aggregate(runs: Sequence[list[float] | None], reps: int, size: float, seed: int) -> dict[str, Any]:
    present = [r for r in runs if r is not None]
    if not present:
        return {"n": 0, "mean": None, "iqm": None, "ci_mean": None, "ci_iqm": None, "per_run": []}
    width = len(present[0])
    if any(len(r) != width for r in present):  # runs of different task counts: one number per run
        present = [[float(np.mean(r))] for r in present]
    scores = np.asarray(present, dtype=float)
    points, intervals = _interval(scores, reps, size, seed)
    return {
        "n": len(present),
        "mean": float(points[0]),
        "iqm": float(points[1]),
        "ci_mean": [float(intervals[0, 0]), float(intervals[1, 0])],
        "ci_iqm": [float(intervals[0, 1]), float(intervals[1, 1])],
        "per_run": [float(np.mean(r)) for r in present],
    }


def summarize_point(
    runs: Sequence[Mapping[str, Any]],
    *,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Aggregate one grid point's finished runs.

    :param runs: their ``metrics.json`` contents, one per seed.
    :param reps: bootstrap resamples.
    :param confidence: the intervals' coverage.
    :param seed: seed of the bootstrap.
    :return: per metric: ``n`` (runs), ``mean``, ``iqm``, ``ci_mean`` / ``ci_iqm`` (``[low, high]``),
        ``per_run`` (each run's mean score); ``None`` values when no run has the metric.
    """
    return {name: _aggregate([run_scores(m, name) for m in runs], reps, confidence, seed) for name in METRICS}


def _cell(stats: Mapping[str, Any], key: str) -> str:
    value = stats.get(key)
    if value is None:
        return "n/a"
    interval = stats.get(f"ci_{key}")
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else f"{value:.3f}"


def format_table(records: Sequence[Mapping[str, Any]]) -> str:
    """The printed table: one row per grid point, mean and IQM with their intervals.

    :param records: the records of ``summary.json``.
    :return: the table as text.
    """
    header = [
        "grid point",
        "runs",
        "avg perf mean [CI]",
        "avg perf IQM [CI]",
        "forgetting mean [CI]",
        "forgetting IQM [CI]",
    ]
    rows = [header]
    for rec in records:
        perf, forget = rec["avg_performance"], rec["forgetting"]
        runs = f"{len(rec['finished_seeds'])}/{len(rec['seeds'])}"
        rows.append(
            [
                rec["label"],
                runs,
                _cell(perf, "mean"),
                _cell(perf, "iqm"),
                _cell(forget, "mean"),
                _cell(forget, "iqm"),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot_summary(records: Sequence[Mapping[str, Any]], path: str | Path, *, title: str = "") -> Path:
    """Plot each grid point's IQM and mean with their intervals, one panel per metric (matplotlib, Agg).

    :param records: the records of ``summary.json``.
    :param path: the PNG to write.
    :param title: the figure's title.
    :return: the path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [str(r["label"]) for r in records]
    fig, axes = plt.subplots(
        1, len(METRICS), figsize=(5.5 * len(METRICS), 0.6 * len(records) + 1.6), squeeze=False
    )
    for ax, name in zip(axes[0], METRICS):
        for row, rec in enumerate(records):
            stats = rec[name]
            for key, offset, color in (("iqm", -0.12, "tab:blue"), ("mean", 0.12, "tab:orange")):
                value, interval = stats.get(key), stats.get(f"ci_{key}")
                if value is None:
                    continue
                low, high = interval
                ax.errorbar(
                    value,
                    row + offset,
                    xerr=[[value - low], [high - value]],
                    fmt="o",
                    color=color,
                    capsize=3,
                    label={"iqm": "IQM", "mean": "mean"}[key] if row == 0 else None,
                )
            for value in stats.get("per_run") or []:
                ax.plot(value, row, "x", color="grey", alpha=0.6, markersize=4)
        ax.set_yticks(range(len(records)), labels)
        ax.invert_yaxis()
        ax.set_xlabel(name.replace("_", " ") + " (95 % CI; x: runs)")
        ax.grid(axis="x", alpha=0.3)
        if any(rec[name].get("iqm") is not None for rec in records):
            ax.legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
