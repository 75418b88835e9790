"""The report's PNG figures (matplotlib's Agg canvas, no pyplot state): learning curves, performance
matrices, final bars, capacity against K, multi-task curves and single-variant curves."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from report_numbers import _mean_curve, _mean_matrix, _sorted_groups, group_runs, mean_std


def _new_figure(width: float, height: float, layout: Any = None) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout=layout)


def _save(fig: Any, path: Path, tight_layout: bool = True) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    if tight_layout:  # not for a figure with its own (constrained) layout
        fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _seed_curves(
    runs: Sequence[Mapping[str, Any]], curve: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray] | None:
    """One curve per run (``curve`` of its per-task normalized returns ``(S, K)``), cut to the shortest.

    :return: the steps and the curves ``(runs, S)``; ``None`` when no run has an evaluation history.
    """
    curves, steps = [], None
    for run in runs:
        s, m, _ = _mean_curve([run])
        if s.size:
            curves.append(curve(m))
            steps = s if steps is None or s.size < steps.size else steps
    if not curves or steps is None:
        return None
    return steps, np.asarray([c[: steps.size] for c in curves])


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(n, max_cols)
    return (n + cols - 1) // cols, cols


def plot_task_curves(groups: Mapping[str, Sequence[Mapping[str, Any]]], path: Path, title: str) -> Path:
    """Per-task learning curves (normalized return vs env steps), one panel per agent, mean over seeds.

    :param groups: ``{agent: runs}``.
    :param path: output PNG.
    :param title: figure title.
    :return: the path written.
    """
    rows, cols = _grid(len(groups))
    fig = _new_figure(4.2 * cols, 3.0 * rows)
    for i, (agent, runs) in enumerate(groups.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        steps, mean, _ = _mean_curve(runs)
        if steps.size:
            cmap = _cmap(mean.shape[1])
            for task in range(mean.shape[1]):
                ax.plot(steps, mean[:, task], color=cmap(task), lw=1.2, label=f"task {task}")
            ends = [s for s, e in zip(runs[0]["history"]["step"], runs[0]["history"]["phase_end"]) if e]
            for s in ends[:-1]:
                ax.axvline(s, color="grey", lw=0.5, ls=":")
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(f"{agent} ({len(runs)} seed{'s' if len(runs) > 1 else ''})", fontsize=10)
        ax.set_xlabel("env steps")
        ax.set_ylabel("normalized return")
        if i == 0 and steps.size and mean.shape[1] <= 12:
            ax.legend(fontsize=6, ncol=2, loc="lower left")
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def _cmap(n: int) -> Any:
    from matplotlib import colormaps

    base = colormaps["tab10" if n <= 10 else "viridis"]
    return (lambda i: base(i)) if n <= 10 else (lambda i: base(i / max(n - 1, 1)))


def plot_matrices(groups: Mapping[str, Sequence[Mapping[str, Any]]], path: Path, title: str) -> Path:
    """Performance matrices ``R[i, j]`` (mean over seeds), one heat map per agent.

    :param groups: ``{agent: runs}``.
    :param path: output PNG.
    :param title: figure title.
    :return: the path written.
    """
    rows, cols = _grid(len(groups))
    fig = _new_figure(4.0 * cols + 0.8, 3.8 * rows, layout="constrained")
    image = None
    for i, (agent, runs) in enumerate(groups.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        matrix = _mean_matrix(runs)
        if matrix is not None:
            image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
            if matrix.shape[1] <= 10:
                for r in range(matrix.shape[0]):
                    for c in range(matrix.shape[1]):
                        v = matrix[r, c]
                        ax.text(
                            c,
                            r,
                            f"{v:.2f}",
                            ha="center",
                            va="center",
                            fontsize=6,
                            color="black" if v > 0.6 else "white",
                        )
        ax.set_title(agent, fontsize=10)
        ax.set_xlabel("evaluated task j")
        ax.set_ylabel("after phase i")
    if image is not None:
        fig.colorbar(image, ax=fig.axes, shrink=0.6)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path, tight_layout=False)


def plot_final_bars(groups: Mapping[str, Sequence[Mapping[str, Any]]], path: Path, title: str) -> Path:
    """Final average performance and forgetting per agent (bars: mean over seeds, error bars: std).

    :param groups: ``{agent: runs}``.
    :param path: output PNG.
    :param title: figure title.
    :return: the path written.
    """
    agents = list(groups)
    perf = [mean_std(r.get("avg_performance") for r in groups[a]) for a in agents]
    forg = [mean_std(r.get("forgetting") for r in groups[a]) for a in agents]
    x = np.arange(len(agents))
    fig = _new_figure(max(4.5, 1.1 * len(agents) + 1.5), 3.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(
        x - 0.2,
        [p[0] for p in perf],
        0.4,
        yerr=[0 if p[2] < 2 else p[1] for p in perf],
        label="average performance",
        color="tab:blue",
    )
    ax.bar(
        x + 0.2,
        [0 if math.isnan(f[0]) else f[0] for f in forg],
        0.4,
        yerr=[0 if f[2] < 2 else f[1] for f in forg],
        label="forgetting",
        color="tab:red",
    )
    ax.set_xticks(x, labels=agents)
    ax.set_ylim(min(0.0, *[f[0] for f in forg if not math.isnan(f[0])], 0.0) - 0.05, 1.1)
    ax.axhline(0.0, color="black", lw=0.5)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def plot_capacity(runs: Sequence[Mapping[str, Any]], path: Path, title: str) -> Path:
    """Average performance and forgetting against K, one line per (context, width).

    :param runs: the capacity runs.
    :param path: output PNG.
    :param title: figure title.
    :return: the path written.
    """
    fig = _new_figure(9.0, 3.4)
    axes = [fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)]
    for (agent, width), group in group_runs(runs, ("agent", "width")).items():
        by_k = group_runs(group, ("num_tasks",))
        ks = sorted(k for (k,) in by_k)
        for ax, field in zip(axes, ("avg_performance", "forgetting")):
            stats = [mean_std(r.get(field) for r in by_k[(k,)]) for k in ks]
            ax.errorbar(
                ks,
                [s[0] for s in stats],
                yerr=[0 if s[2] < 2 else s[1] for s in stats],
                marker="o",
                capsize=3,
                label=f"{agent}, width {width}",
            )
    for ax, label in zip(axes, ("average performance", "forgetting")):
        ax.set_xscale("log")
        ax.set_xlabel("number of tasks K")
        ax.set_ylabel(label)
    axes[0].set_ylim(-0.05, 1.05)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def plot_parallel(runs: Sequence[Mapping[str, Any]], path: Path, title: str) -> Path:
    """Mean normalized return over all tasks against env steps, one panel per K, one line per agent.

    :param runs: the parallel-schedule runs.
    :param path: output PNG.
    :param title: figure title.
    :return: the path written.
    """
    by_k = group_runs(runs, ("num_tasks", "width"))
    fig = _new_figure(4.8 * len(by_k), 3.4)
    for i, ((k, width), group) in enumerate(by_k.items()):
        ax = fig.add_subplot(1, len(by_k), i + 1)
        for agent, agent_runs in _sorted_groups(group_runs(group, ("agent",)), 0):
            found = _seed_curves(agent_runs, lambda m: m.mean(axis=1))  # mean over the tasks
            if found is None:
                continue
            steps, arr = found
            ax.plot(steps, arr.mean(axis=0), marker=".", label=agent[0])
            if len(arr) > 1:
                ax.fill_between(
                    steps, arr.mean(axis=0) - arr.std(axis=0), arr.mean(axis=0) + arr.std(axis=0), alpha=0.2
                )
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("env steps (all tasks together)")
        ax.set_ylabel("mean normalized return")
        ax.set_title(f"K = {k}, width {width}", fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def plot_single_curves(
    by_preset: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]], path: Path, title: str
) -> Path:
    """Learning curves of every agent of every preset (normalized return against env steps, mean ±
    std over seeds), one panel per preset.

    :param by_preset: ``{preset: {agent: runs}}``.
    :param path: output PNG.
    :param title: figure title.
    :return: the path written.
    """
    rows, cols = _grid(len(by_preset))
    fig = _new_figure(4.2 * cols, 3.0 * rows)
    for i, (preset, groups) in enumerate(by_preset.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        low_y = -0.05  # Pendulum: a policy worse than random normalizes below 0
        for agent, runs in groups.items():
            found = _seed_curves(runs, lambda m: m[:, 0])  # the only task
            if found is None:
                continue
            steps, arr = found
            ax.plot(steps, arr.mean(axis=0), marker=".", label=f"{agent} ({len(arr)} seeds)")
            low = arr.mean(axis=0) - arr.std(axis=0)
            if len(arr) > 1:
                ax.fill_between(steps, low, arr.mean(axis=0) + arr.std(axis=0), alpha=0.2)
            low_y = min(low_y, float(np.nanmin(low)) - 0.05)
        ax.set_ylim(low_y, 1.05)
        ax.set_title(preset, fontsize=10)
        ax.set_xlabel("env steps")
        ax.set_ylabel("normalized return")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)
