"""Render the continual benchmark's raw results (JSON) into ``docs/results.md`` and PNG figures.

The results file is written by ``benchmarks/continual.py``::

    {"schema": 1,
     "experiments": {"1": {"title", "kind": "continual" | "capacity" | "parallel", "suite", "budget",
                           "protocol", "full_protocol", "commands": [...], "runs": [run, ...]}, ...},
     "overhead": {...} | null,          # benchmarks/overhead.py --json output, plus "command"
     "notes": {"1": "markdown", ...}}    # optional findings shown under each experiment

and every ``run`` holds ``agent``, ``num_tasks``, ``width``, ``seed``, ``avg_performance``,
``forgetting``, ``perf_matrix``, ``phase_tasks``, ``task_auc``, ``param_count``, ``wall_time_s`` and a
compact evaluation ``history`` (``step``, ``normalized`` per task).

Tables give the mean ± standard deviation over seeds. Forward transfer is computed here:
``(AUC_j − AUC_j^ref) / (1 − AUC_j^ref)`` with the ``separate`` agent of the same experiment, K, width
(and seed when available) as the single-task reference.

Example::

    from report import render   # run from benchmarks/, or with it on sys.path
    render("results/continual.json", out_md="docs/results.md", fig_dir="docs/figures")
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["forward_transfer_of", "group_runs", "mean_std", "render"]

KIND_ORDER = ("continual", "capacity", "parallel")
#: agents in tables and plots: PSP first, then the baselines from the weakest to the upper bound
AGENT_ORDER = ("psp", "psp-binary", "psp-complex", "psp-rotation", "psp-nolift", "psp-taskin", "shared",
               "onehot", "multihead", "ewc", "separate")  # fmt: skip


def _agent_rank(agent: Any) -> tuple[int, str]:
    full = str(agent)
    name = full.split("@")[0]  # a label with overrides (psp-binary@lr=7.5e-5) sorts after its agent
    if name != full:
        rank, key = _agent_rank(name)
        return rank, f"{key}@{full}"
    if name in AGENT_ORDER:
        return AGENT_ORDER.index(name), name
    if name.startswith("ewc-"):
        return AGENT_ORDER.index("ewc"), f"{float(name[4:]):020.6f}" if name[4:].replace(
            ".", ""
        ).isdigit() else name
    return len(AGENT_ORDER), name


def _sorted_groups(groups: Mapping[tuple, Any], agent_index: int) -> list[tuple[tuple, Any]]:
    """Groups ordered by their other keys (as first seen) and then by :data:`AGENT_ORDER`."""
    firsts: dict[tuple, int] = {}
    for key in groups:
        firsts.setdefault(key[:agent_index] + key[agent_index + 1 :], len(firsts))
    return sorted(
        groups.items(),
        key=lambda kv: (
            firsts[kv[0][:agent_index] + kv[0][agent_index + 1 :]],
            _agent_rank(kv[0][agent_index]),
        ),
    )


# ---------------------------------------------------------------------- numbers
def mean_std(values: Iterable[float | None]) -> tuple[float, float, int]:
    """Mean, standard deviation (population) and count of the values that are not ``None``/``nan``.

    :param values: the values.
    :return: ``(mean, std, n)``; ``(nan, nan, 0)`` when none is finite.

    Example::

        >>> mean_std([1.0, None, 3.0])
        (2.0, 1.0, 2)
    """
    finite = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not finite:
        return math.nan, math.nan, 0
    return float(np.mean(finite)), float(np.std(finite)), len(finite)


def _fmt(values: Iterable[float | None], digits: int = 3) -> str:
    mean, std, n = mean_std(values)
    if n == 0:
        return "n/a"
    return f"{mean:.{digits}f}" if n == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _fmt_int(values: Iterable[float | None]) -> str:
    mean, _, n = mean_std(values)
    return "n/a" if n == 0 else f"{int(round(mean)):,}"


def group_runs(
    runs: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> dict[tuple, list[Mapping[str, Any]]]:
    """Group runs by the values of ``keys``, in first-seen order.

    :param runs: run records.
    :param keys: record fields, e.g. ``("num_tasks", "width", "agent")``.
    :return: ``{(values...): [runs]}``.
    """
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for run in runs:
        groups.setdefault(tuple(run.get(k) for k in keys), []).append(run)
    return groups


def forward_transfer_of(run: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> float | None:
    """Mean forward transfer of a run against the ``separate`` runs of the same K and width.

    The reference of task ``j`` is the AUC of task ``j`` in the ``separate`` run of the same seed, or the
    mean over the ``separate`` seeds when that seed is missing. Tasks whose reference AUC is 1 are skipped.
    A label with overrides (``psp@lr=1.5e-4``) takes ``separate`` with the same overrides as its reference
    when the experiment has it, and plain ``separate`` otherwise.

    :param run: the run.
    :param runs: every run of the experiment.
    :return: the mean forward transfer, ``None`` without a reference or AUCs.
    """

    def references(agent: str) -> list[Mapping[str, Any]]:
        return [
            r
            for r in runs
            if r.get("agent") == agent
            and r.get("num_tasks") == run.get("num_tasks")
            and r.get("width") == run.get("width")
            and r.get("task_auc")
        ]

    overrides = str(run.get("agent", "")).partition("@")[2]
    refs = (references(f"separate@{overrides}") if overrides else []) or references("separate")
    if not refs or not run.get("task_auc"):
        return None
    same_seed = [r for r in refs if r.get("seed") == run.get("seed")]
    ref_runs = same_seed or refs
    k = len(run["task_auc"])
    values = []
    for j in range(k):
        ref_j = mean_std(r["task_auc"][j] for r in ref_runs if j < len(r["task_auc"]))[0]
        auc_j = run["task_auc"][j]
        if auc_j is None or math.isnan(ref_j) or ref_j >= 1.0:
            continue
        values.append((float(auc_j) - ref_j) / (1.0 - ref_j))
    return float(np.mean(values)) if values else None


def _mean_curve(runs: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, mean over seeds of the per-task normalized returns ``(S, K)``, and their std."""
    histories = [r["history"] for r in runs if r.get("history") and r["history"].get("step")]
    if not histories:
        return np.zeros(0), np.zeros((0, 0)), np.zeros((0, 0))
    length = min(len(h["step"]) for h in histories)
    steps = np.asarray(histories[0]["step"][:length], dtype=float)
    values = np.asarray([np.asarray(h["normalized"][:length], dtype=float) for h in histories])
    return steps, values.mean(axis=0), values.std(axis=0)


def _mean_matrix(runs: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
    mats = [np.asarray(r["perf_matrix"], dtype=float) for r in runs if r.get("perf_matrix")]
    if not mats:
        return None
    rows = min(m.shape[0] for m in mats)
    return np.mean([m[:rows] for m in mats], axis=0)


# ---------------------------------------------------------------------- figures
def _new_figure(width: float, height: float, layout: Any = None) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout=layout)


def _save(fig: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


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
                        ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6,
                                color="black" if v > 0.6 else "white")  # fmt: skip
        ax.set_title(agent, fontsize=10)
        ax.set_xlabel("evaluated task j")
        ax.set_ylabel("after phase i")
    if image is not None:
        fig.colorbar(image, ax=fig.axes, shrink=0.6)
    fig.suptitle(title, fontsize=11)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


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
    ax.bar(x - 0.2, [p[0] for p in perf], 0.4, yerr=[0 if p[2] < 2 else p[1] for p in perf],
           label="average performance", color="tab:blue")  # fmt: skip
    ax.bar(x + 0.2, [0 if math.isnan(f[0]) else f[0] for f in forg], 0.4,
           yerr=[0 if f[2] < 2 else f[1] for f in forg], label="forgetting", color="tab:red")  # fmt: skip
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
            ax.errorbar(ks, [s[0] for s in stats], yerr=[0 if s[2] < 2 else s[1] for s in stats],
                        marker="o", capsize=3, label=f"{agent}, width {width}")  # fmt: skip
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
            curves = []
            steps = None
            for run in agent_runs:
                s, m, _ = _mean_curve([run])
                if s.size:
                    curves.append(m.mean(axis=1))
                    steps = s if steps is None or s.size < steps.size else steps
            if not curves or steps is None:
                continue
            n = steps.size
            arr = np.asarray([c[:n] for c in curves])
            ax.plot(steps, arr.mean(axis=0), marker=".", label=agent[0])
            if len(curves) > 1:
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


# ---------------------------------------------------------------------- markdown
def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _ran(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What the runs of an experiment actually cover (from the runs; the recorded budget as fallback)."""
    runs = entry.get("runs", [])
    budget = dict(entry.get("budget", {}))
    if not runs:
        return budget

    def values(field: str, fallback: Any) -> Any:
        found = sorted({r[field] for r in runs if r.get(field) is not None}, key=str)
        if not found:
            return fallback
        return found[0] if field in ("steps_per_task", "eval_episodes") and len(found) == 1 else found

    agents = sorted({str(r.get("agent")) for r in runs}, key=_agent_rank)
    return {
        "steps_per_task": values("steps_per_task", budget.get("steps_per_task")),
        "num_tasks": sorted({int(r["num_tasks"]) for r in runs if r.get("num_tasks") is not None}),
        "widths": sorted({int(r["width"]) for r in runs if r.get("width") is not None}),
        "seeds": sorted({int(r["seed"]) for r in runs if r.get("seed") is not None}),
        "agents": agents,
        "eval_episodes": values("eval_episodes", budget.get("eval_episodes")),
    }


def _budget_lines(entry: Mapping[str, Any]) -> list[str]:
    ran = _ran(entry)
    protocol = entry.get("protocol", {})
    desc = (
        f"{ran.get('steps_per_task')} env steps per task phase, K = {ran.get('num_tasks')}, "
        f"widths {ran.get('widths')}, seeds {ran.get('seeds')} (per agent: the seeds column), "
        f"{ran.get('eval_episodes')} evaluation episodes per task"
    )
    covered = all(
        set(protocol[k]) <= set(ran.get(k) or []) for k in ("num_tasks", "widths", "seeds") if k in protocol
    ) and protocol.get("steps_per_task", ran.get("steps_per_task")) == ran.get("steps_per_task")
    if entry.get("full_protocol") and covered:
        return [f"**Budget: the full protocol** ({desc})."]
    full = (
        f"{protocol.get('steps_per_task')} steps per task, K = {protocol.get('num_tasks')}, "
        f"widths {protocol.get('widths')}, seeds {protocol.get('seeds')}, agents {protocol.get('agents')}"
    )
    return [
        f"**Budget: REDUCED, not the full protocol.** Ran: {desc}; agents {ran.get('agents')}.",
        f"The full protocol is {full}.",
    ]


def _hyperparam_lines(entry: Mapping[str, Any]) -> list[str]:
    """The algorithm hyper-parameters of the runs, or a warning when runs of the same label set differ.

    Runs are grouped by their label overrides (``psp@lr=1.5e-4`` → ``lr=1.5e-4``): the agents of one group
    must share their hyper-parameters, and differing sets within a group mean the preset changed between
    invocations.
    """
    groups: dict[str, dict[str, Any]] = {}
    for run in entry.get("runs", []):
        if run.get("hyperparams") is not None:
            overrides = str(run.get("agent", "")).partition("@")[2]
            seen = groups.setdefault(overrides, {})
            seen.setdefault(json.dumps(run["hyperparams"], sort_keys=True), run["hyperparams"])
    lines = []
    for overrides, seen in sorted(groups.items()):
        who = f"agents with `@{overrides}`" if overrides else "preset agents"
        who = "every agent" if len(groups) == 1 else who
        sets = "; ".join(", ".join(f"{k}={v}" for k, v in p.items()) for p in seen.values())
        if len(seen) == 1:
            lines.append(f"Hyper-parameters ({who}): {sets}.")
        else:
            lines.append(
                f"**Warning: the runs of {who} use {len(seen)} different sets of hyper-parameters** "
                f"(the agent preset changed between invocations): {sets}."
            )
    return [text for line in lines for text in (line, "")]


def _commit_lines(entry: Mapping[str, Any]) -> list[str]:
    """The code version(s) the runs used (``git_commit`` of each run), with the runs of each."""
    by_commit: dict[str, list[str]] = {}
    for run in entry.get("runs", []):
        commit = run.get("git_commit") or "unrecorded"
        by_commit.setdefault(commit[:7], []).append(
            f"{run.get('agent')} s{run.get('seed')} K{run.get('num_tasks')}"
        )
    if not by_commit:
        return []
    if len(by_commit) == 1:
        return [f"Code: commit `{next(iter(by_commit))}`.", ""]
    parts = [f"`{c}` ({', '.join(runs)})" for c, runs in by_commit.items()]
    return [f"Code: the runs span {len(by_commit)} commits: " + "; ".join(parts) + ".", ""]


def _commands(entry: Mapping[str, Any]) -> list[str]:
    """The invocations that produced the runs shown (an interrupted one that finished none is left out)."""
    commands = entry.get("commands") or []
    used = {r.get("command") for r in entry.get("runs", []) if r.get("command")}
    if used:
        commands = [c for c in commands if c in used] + sorted(used - set(commands))
    if not commands:
        return []
    return ["Reproduce:", "", "```bash", *commands, "```", ""]


def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def _continual_section(name: str, entry: Mapping[str, Any], fig_dir: Path, md_dir: Path) -> list[str]:
    runs = entry.get("runs", [])
    has_ref = any(r.get("agent") == "separate" for r in runs)
    header = ["agent", "K", "width", "average performance", "forgetting"]
    header += ["forward transfer"] if has_ref else []
    header += ["parameters", "wall time (s)", "seeds"]
    rows = []
    for (k, width, agent), group in _sorted_groups(group_runs(runs, ("num_tasks", "width", "agent")), 2):
        row = [str(agent), str(k), str(width), _fmt(r.get("avg_performance") for r in group)]
        row.append(_fmt(r.get("forgetting") for r in group))
        if has_ref:
            row.append(_fmt(forward_transfer_of(r, runs) for r in group))
        row += [_fmt_int(r.get("param_count") for r in group), _fmt((r.get("wall_time_s") for r in group), 0)]
        row.append(str(len(group)))
        rows.append(row)
    lines = _table(header, rows) + [""]
    for (k, width), group in group_runs(runs, ("num_tasks", "width")).items():
        by_agent = {a: g for (a,), g in _sorted_groups(group_runs(group, ("agent",)), 0)}
        tag = f"exp{name}_K{k}_w{width}"
        label = f"{entry.get('suite')}, K = {k}, width {width}"
        curves = plot_task_curves(
            by_agent, fig_dir / f"{tag}_curves.png", f"per-task learning curves: {label}"
        )
        mats = plot_matrices(by_agent, fig_dir / f"{tag}_matrix.png", f"performance matrices: {label}")
        bars = plot_final_bars(by_agent, fig_dir / f"{tag}_final.png", f"final performance: {label}")
        lines += [
            f"![per-task learning curves]({_rel(curves, md_dir)})",
            "",
            f"![performance matrices]({_rel(mats, md_dir)})",
            "",
            f"![final performance]({_rel(bars, md_dir)})",
            "",
        ]
    return lines


#: a variant counts as kept when its final normalized return is at least this
KEPT_THRESHOLD = 0.9


def _kept(run: Mapping[str, Any]) -> float | None:
    """The fraction of variants whose final normalized return is at least :data:`KEPT_THRESHOLD`."""
    final = [v for v in run.get("final_normalized") or [] if v is not None]
    return sum(v >= KEPT_THRESHOLD for v in final) / len(final) if final else None


def _capacity_section(name: str, entry: Mapping[str, Any], fig_dir: Path, md_dir: Path) -> list[str]:
    runs = entry.get("runs", [])
    rows = []
    for (agent, width, k), group in sorted(
        group_runs(runs, ("agent", "width", "num_tasks")).items(),
        key=lambda kv: (str(kv[0][0]), -kv[0][1], kv[0][2]),
    ):
        rows.append(
            [
                str(agent), str(width), str(k), _fmt(r.get("avg_performance") for r in group),
                _fmt(r.get("forgetting") for r in group), _fmt(_kept(r) for r in group),
                _fmt_int(r.get("param_count") for r in group),
                _fmt((r.get("wall_time_s") for r in group), 0), str(len(group)),
            ]
        )  # fmt: skip
    header = [
        "context",
        "width",
        "K",
        "average performance",
        "forgetting",
        f"variants ≥ {KEPT_THRESHOLD} at the end",
        "parameters",
        "wall time (s)",
        "seeds",
    ]
    lines = _table(header, rows) + [""]
    if runs:
        fig = plot_capacity(runs, fig_dir / f"exp{name}_capacity.png", f"capacity: {entry.get('suite')}")
        lines += [f"![capacity]({_rel(fig, md_dir)})", ""]
    return lines


def _parallel_section(name: str, entry: Mapping[str, Any], fig_dir: Path, md_dir: Path) -> list[str]:
    runs = entry.get("runs", [])
    rows = []
    for (k, width, agent), group in _sorted_groups(group_runs(runs, ("num_tasks", "width", "agent")), 2):
        final, auc = [], []
        for run in group:
            steps, mean, _ = _mean_curve([run])
            if steps.size:
                curve = mean.mean(axis=1)
                final.append(float(curve[-1]))
                span = steps[-1] - steps[0]
                area = float(np.sum((steps[1:] - steps[:-1]) * (curve[1:] + curve[:-1]) / 2.0))
                auc.append(area / span if span > 0 else float(curve.mean()))
        rows.append(
            [
                str(agent), str(k), str(width), _fmt(final), _fmt(auc),
                _fmt_int(r.get("param_count") for r in group), _fmt((r.get("wall_time_s") for r in group), 0),
                str(len(group)),
            ]
        )  # fmt: skip
    header = [
        "agent", "K", "width", "final mean normalized return", "AUC (sample efficiency)",
        "parameters", "wall time (s)", "seeds",
    ]  # fmt: skip
    lines = _table(header, rows) + [""]
    if runs:
        fig = plot_parallel(
            runs, fig_dir / f"exp{name}_parallel.png", f"multi-task training: {entry.get('suite')}"
        )
        lines += [f"![mean normalized return against env steps]({_rel(fig, md_dir)})", ""]
    return lines


def _overhead_section(data: Mapping[str, Any]) -> list[str]:
    lines = ["## 6. Overhead of superposition", ""]
    if data.get("command"):
        lines += ["Reproduce:", "", "```bash", str(data["command"]), "```", ""]
    args = data.get("args", {})
    sps = data.get("ppo_steps_per_s") or {}
    if sps:
        base = sps.get("MlpPolicy") or math.nan
        multi = sps.get("MultiInputPolicy") or math.nan
        lines.append(
            f"PPO env-steps/s on CartPole-v1 ({args.get('n_envs')} envs, {args.get('steps')} timed steps x "
            f"{args.get('repeats')} repeats, median; device {args.get('device')}, {args.get('threads')} torch thread(s)):"
        )
        lines.append("")
        rows = [[p, f"{v:.0f}", f"{v / base:.3f}", f"{v / multi:.3f}"] for p, v in sps.items()]
        lines += _table(["policy", "steps/s", "vs MlpPolicy", "vs MultiInputPolicy"], rows) + [""]
    times = data.get("mlp_step_seconds") or {}
    if times:
        ks = sorted({int(k) for per in times.values() for k in per})
        lines.append(
            "Forward + backward of a 256-wide 3-layer superposed MLP (batch 256; tasks mixed unless the row says one-task), ms:"
        )
        lines.append("")
        rows = []
        for kind, per in times.items():
            per_int = {int(k): v for k, v in per.items()}
            rows.append([kind] + [f"{per_int[k] * 1e3:.3f}" if k in per_int else "—" for k in ks])
        lines += _table(["context"] + [f"K = {k}" for k in ks], rows) + [""]
    return lines


def render(
    results_json: str | Path | Mapping[str, Any],
    out_md: str | Path = "docs/results.md",
    fig_dir: str | Path = "docs/figures",
    notes: str | Path | Mapping[str, str] | None = None,
) -> Path:
    """Write the markdown report and its PNG figures from a results file.

    :param results_json: the results file written by ``benchmarks/continual.py`` (or its content).
    :param out_md: the markdown file to write.
    :param fig_dir: the folder of the figures (linked relative to ``out_md``).
    :param notes: findings to show (``{"summary" | "<experiment>" | "remaining": markdown}``), as a
        mapping or a JSON file; they override the results file's own ``notes``.
    :return: the markdown path.
    :raises ValueError: when the file is not a benchmark results file.
    """
    if isinstance(results_json, Mapping):
        results = dict(results_json)
    else:
        path = Path(results_json)
        if not path.is_file():
            raise ValueError(
                f"No results file {str(path)!r}: run benchmarks/continual.py --experiment ... --out {path} first."
            )
        results = json.loads(path.read_text())
    if not isinstance(results.get("experiments"), Mapping):
        raise ValueError(
            "Not a benchmark results file: it has no 'experiments' mapping (see benchmarks/report.py)."
        )
    out_md, fig_dir = Path(out_md), Path(fig_dir)
    md_dir = out_md.parent
    md_dir.mkdir(parents=True, exist_ok=True)
    fig_dir.mkdir(parents=True, exist_ok=True)
    extra = json.loads(Path(notes).read_text()) if isinstance(notes, (str, Path)) else (notes or {})
    notes = {**(results.get("notes") or {}), **extra}

    lines = ["# psp_rl benchmark results", ""]
    lines += [
        "Generated by `benchmarks/continual.py` (rendered by `benchmarks/report.py`) from the raw results "
        "file; numbers are the mean ± standard deviation over seeds. Normalized returns: CartPole "
        "return / 500; Pendulum (return − random) / (solved − random) with random −1230, solved −150.",
        "Average performance = mean of the last row of the performance matrix R; forgetting of task j = "
        "R[j, j] − R[K−1, j], averaged over j < K−1; forward transfer = (AUC_j − AUC_j^ref) / (1 − AUC_j^ref) "
        "with the `separate` agent (K independent networks, every task learned from scratch) as the "
        "single-task reference.",
        "",
    ]
    if notes.get("summary"):
        lines += ["## Summary", "", str(notes["summary"]).strip(), ""]
    for name in sorted(results["experiments"], key=lambda n: (len(n), n)):
        entry = results["experiments"][name]
        lines += [f"## {name}. {entry.get('title', '')}", ""]
        lines += _budget_lines(entry) + [""] + _hyperparam_lines(entry) + _commit_lines(entry)
        lines += _commands(entry)
        kind = entry.get("kind", "continual")
        if kind not in KIND_ORDER:
            raise ValueError(f"experiment {name}: unknown kind {kind!r}; use one of {', '.join(KIND_ORDER)}.")
        section = {
            "continual": _continual_section,
            "capacity": _capacity_section,
            "parallel": _parallel_section,
        }
        lines += section[kind](name, entry, fig_dir, md_dir)
        if notes.get(name):
            lines += [str(notes[name]).strip(), ""]
    if results.get("overhead"):
        lines += _overhead_section(results["overhead"])
        if notes.get("6"):
            lines += [str(notes["6"]).strip(), ""]
    if notes.get("remaining"):
        lines += ["## Not run yet", "", str(notes["remaining"]).strip(), ""]
    out_md.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return out_md
