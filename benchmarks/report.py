"""Render the continual benchmark's raw results (JSON) into ``docs/results.md`` and PNG figures.

The results file is written by ``benchmarks/continual.py``::

    {"schema": 1,
     "experiments": {"1": {"title", "kind": "continual" | "capacity" | "parallel" | "single", "suite", "budget",
                           "protocol", "full_protocol", "commands": [...], "runs": [run, ...]}, ...},
     "overhead": {...} | null,          # benchmarks/overhead.py --json output, plus "command"
     "notes": {"1": "markdown", ...}}    # optional findings shown under each experiment

and every ``run`` holds ``agent``, ``num_tasks``, ``width``, ``seed``, ``avg_performance``,
``forgetting``, ``perf_matrix``, ``phase_tasks``, ``task_auc``, ``param_count``, ``wall_time_s`` and a
compact evaluation ``history`` (``step``, ``normalized`` per task). Runs of a ``single`` experiment (one
variant, every algorithm preset against SB3's own policy) also hold ``preset``, ``policy`` and
``final_returns``, and the experiment its ``suites`` (preset -> suite). A ``continual`` experiment may
also hold ``per_seed`` (add a table with one row per agent, K and seed, and the worst seed of each
agent and K), ``targets`` (``{"avg_performance": 0.97, "forgetting": 0.02}``: checked on every seed)
and, in its ``protocol``, explicit ``combos`` (``[{"agent", "num_tasks", "seeds"}]``: each agent a
preset run as it is, with its own seeds per K; experiment 8).

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

__all__ = [
    "forward_transfer_of",
    "group_runs",
    "mean_std",
    "render",
    "target_misses",
    "targets_verdict",
    "within_spread",
]

KIND_ORDER = ("continual", "capacity", "parallel", "single")
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


def _combo_budget_lines(entry: Mapping[str, Any]) -> list[str]:
    """The budget statement of an experiment of explicit (agent, K, seeds) ``combos``: each agent a
    preset as it is."""
    runs = entry.get("runs", [])
    protocol = entry.get("protocol", {})
    groups = group_runs(runs, ("agent", "num_tasks"))
    steps = sorted({int(r["steps_per_task"]) for r in runs if r.get("steps_per_task") is not None})
    episodes = sorted({int(r["eval_episodes"]) for r in runs if r.get("eval_episodes") is not None})
    per_phase = entry.get("budget", {}).get("evals_per_phase")
    when = "at the phase ends only" if per_phase == 0 else f"{per_phase} per phase" if per_phase else ""

    def combos(pairs: Sequence[tuple[str, int, Sequence[Any]]]) -> str:
        return "; ".join(f"`{a}` K = {k} seeds {list(seeds)}" for a, k, seeds in pairs) or "no runs"

    ran = [
        (a, k, sorted(r.get("seed") for r in groups[(a, k)]))
        for a, k in _combo_order(entry)
        if (a, k) in groups
    ]
    desc = (
        f"{combos(ran)}; {_one(steps)} env steps per task phase, {_one(episodes)} evaluation episodes "
        f"per task {when}; every agent is its preset as it is (own widths and hyper-parameters)"
    )
    wanted = [(str(c["agent"]), int(c["num_tasks"]), c["seeds"]) for c in protocol.get("combos") or []]
    covered = (
        all(set(seeds) <= {r.get("seed") for r in groups.get((a, k), [])} for a, k, seeds in wanted)
        and steps == [protocol.get("steps_per_task")]
        and episodes == [protocol.get("eval_episodes")]
    )
    if entry.get("full_protocol") and covered:
        return [f"**Budget: the full protocol** ({desc})."]
    return [
        f"**Budget: REDUCED, not the full protocol.** Ran: {desc}.",
        f"The full protocol is {combos(wanted)}; {protocol.get('steps_per_task')} env steps per task "
        f"phase, {protocol.get('eval_episodes')} evaluation episodes.",
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
    single = entry.get("kind") == "single"  # several presets: name the preset too
    for run in entry.get("runs", []):
        commit = run.get("git_commit") or "unrecorded"
        preset = f"{run.get('preset')} " if single else ""
        by_commit.setdefault(commit[:7], []).append(
            f"{preset}{run.get('agent')} s{run.get('seed')} K{run.get('num_tasks')}"
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
        row = [str(agent), str(k), _width(width), _fmt(r.get("avg_performance") for r in group)]
        row.append(_fmt(r.get("forgetting") for r in group))
        if has_ref:
            row.append(_fmt(forward_transfer_of(r, runs) for r in group))
        row += [_fmt_int(r.get("param_count") for r in group), _fmt((r.get("wall_time_s") for r in group), 0)]
        row.append(str(len(group)))
        rows.append(row)
    lines = _table(header, rows) + [""]
    for (k, width), group in group_runs(runs, ("num_tasks", "width")).items():
        by_agent = {a: g for (a,), g in _sorted_groups(group_runs(group, ("agent",)), 0)}
        tag = f"exp{name}_K{k}_w{_width(width)}"
        label = f"{entry.get('suite')}, K = {k}, " + (
            f"width {width}" if width is not None else "preset widths"
        )
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
    if entry.get("per_seed"):
        lines += _per_seed_lines(entry)
    return lines


def _width(width: Any) -> str:
    """A width in tables and file names: ``preset`` for a preset's own ``net_arch`` (``None``)."""
    return "preset" if width is None else str(width)


# ---------------------------------------------------------------------- per seed, targets
def _combo_order(entry: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The (agent, K) pairs of an experiment: the protocol's ``combos`` first, then any other that ran."""
    order = [(str(c["agent"]), int(c["num_tasks"])) for c in entry.get("protocol", {}).get("combos") or []]
    seen = sorted(
        {(str(r.get("agent")), int(r["num_tasks"])) for r in entry.get("runs", []) if r.get("num_tasks")},
        key=lambda ak: (_agent_rank(ak[0]), ak[1]),
    )
    return order + [ak for ak in seen if ak not in order]


def _protocol_seeds(entry: Mapping[str, Any], agent: str, k: int) -> list[int]:
    """The seeds the full protocol runs for (agent, K): its ``combos`` entry, else the protocol seeds."""
    protocol = entry.get("protocol", {})
    for combo in protocol.get("combos") or []:
        if str(combo["agent"]) == agent and int(combo["num_tasks"]) == k:
            return [int(s) for s in combo["seeds"]]
    return [int(s) for s in protocol.get("seeds") or []]


def _lowest_final(run: Mapping[str, Any]) -> tuple[float, int] | None:
    """The lowest final normalized return over the run's tasks and its task index."""
    final = [(float(v), j) for j, v in enumerate(run.get("final_normalized") or []) if v is not None]
    return min(final) if final else None


def target_misses(run: Mapping[str, Any], targets: Mapping[str, float]) -> list[str]:
    """The targets a run misses: ``avg_performance`` at least ``targets["avg_performance"]`` and
    ``forgetting`` at most ``targets["forgetting"]`` (either target may be absent).

    :param run: a run record.
    :param targets: ``{"avg_performance": 0.97, "forgetting": 0.02}``.
    :return: one phrase per missed target; empty when the run meets them all.

    Example::

        >>> target_misses({"avg_performance": 0.96, "forgetting": 0.01}, {"avg_performance": 0.97})
        ['average performance 0.960 < 0.97']
    """
    misses = []
    low = targets.get("avg_performance")
    perf = run.get("avg_performance")
    if low is not None:
        if perf is None or math.isnan(float(perf)):
            misses.append("no average performance")
        elif float(perf) < float(low) - 1e-12:
            misses.append(f"average performance {float(perf):.3f} < {low}")
    high = targets.get("forgetting")
    forgetting = run.get("forgetting")
    if high is not None:
        if forgetting is None or math.isnan(float(forgetting)):
            misses.append("no forgetting (K = 1?)")
        elif float(forgetting) > float(high) + 1e-12:
            misses.append(f"forgetting {float(forgetting):.3f} > {high}")
    return misses


def targets_verdict(
    runs: Sequence[Mapping[str, Any]],
    targets: Mapping[str, float],
    protocol_seeds: Sequence[int] = (),
    reduced: bool = False,
) -> str:
    """Whether the targets hold on each seed of one (agent, K).

    :param runs: the runs of the (agent, K), one per seed.
    :param targets: see :func:`target_misses`.
    :param protocol_seeds: the seeds the full protocol runs; those missing are named.
    :param reduced: the runs used a budget other than the protocol's (said in the verdict).
    :return: ``yes``, ``yes on ...`` (some protocol seeds not run) or ``no: seed ... (what it missed)``.
    """
    if not targets:
        return "n/a (no targets)"
    if not runs:
        return "n/a (no runs)"
    misses = [
        f"seed {r.get('seed')} ({', '.join(m)})"
        for r in sorted(runs, key=lambda r: r.get("seed") or 0)
        if (m := target_misses(r, targets))
    ]
    ran = {r.get("seed") for r in runs}
    missing = [s for s in protocol_seeds if s not in ran]
    verdict = "no: " + "; ".join(misses) if misses else "yes"
    if missing:
        verdict += f"{'' if misses else f' on the {len(ran)} seed(s) run'}; not run: seeds {missing}"
    return verdict + (" (reduced budget)" if reduced else "")


def _targets_text(targets: Mapping[str, float]) -> str:
    parts = []
    if targets.get("avg_performance") is not None:
        parts.append(f"average performance ≥ {targets['avg_performance']}")
    if targets.get("forgetting") is not None:
        parts.append(f"forgetting ≤ {targets['forgetting']}")
    return " and ".join(parts)


def _per_seed_lines(entry: Mapping[str, Any]) -> list[str]:
    """One row per (agent, K, seed), then per (agent, K) the worst seed and the targets' verdict."""
    runs = entry.get("runs", [])
    targets = entry.get("targets") or {}
    protocol = entry.get("protocol", {})
    groups = group_runs(runs, ("agent", "num_tasks"))
    lines = ["### Per seed", ""]
    rule = (
        f"**Targets:** {_targets_text(targets)} on each seed; the verdict of an (agent, K) is *yes* when "
        "every seed the protocol names ran and meets them, computed from the numbers below."
        if targets
        else "No targets for this experiment."
    )
    lines += [
        "Lowest final return: the lowest normalized return over the K tasks at the last evaluation "
        "(its task in brackets). " + rule,
        "",
    ]
    header = ["agent", "K", "seed", "average performance", "forgetting", "lowest final return",
              "wall time (s)"] + (["targets met"] if targets else [])  # fmt: skip
    rows, summary = [], []
    for agent, k in _combo_order(entry):
        group = sorted(groups.get((agent, k), []), key=lambda r: r.get("seed") or 0)
        if not group:
            continue
        for run in group:
            low = _lowest_final(run)
            row = [
                agent, str(k), str(run.get("seed")), _fmt([run.get("avg_performance")]),
                _fmt([run.get("forgetting")]), "n/a" if low is None else f"{low[0]:.3f} (task {low[1]})",
                _fmt([run.get("wall_time_s")], 0),
            ]  # fmt: skip
            if targets:
                misses = target_misses(run, targets)
                row.append("yes" if not misses else "no: " + ", ".join(misses))
            rows.append(row)
        steps = sorted({int(r["steps_per_task"]) for r in group if r.get("steps_per_task") is not None})
        episodes = sorted({int(r["eval_episodes"]) for r in group if r.get("eval_episodes") is not None})
        reduced = steps != [protocol.get("steps_per_task", steps[0] if steps else None)] or episodes != [
            protocol.get("eval_episodes", episodes[0] if episodes else None)
        ]
        perf = [float(r["avg_performance"]) for r in group if r.get("avg_performance") is not None]
        forgetting = [float(r["forgetting"]) for r in group if r.get("forgetting") is not None]
        lows = [low[0] for r in group if (low := _lowest_final(r)) is not None]
        summary.append(
            [
                agent, str(k), _one(steps), _one(episodes), str([r.get("seed") for r in group]),
                f"{min(perf):.3f}" if perf else "n/a", f"{max(forgetting):.3f}" if forgetting else "n/a",
                f"{min(lows):.3f}" if lows else "n/a",
                targets_verdict(group, targets, _protocol_seeds(entry, agent, k), reduced),
            ]
        )  # fmt: skip
    lines += _table(header, rows) + [""]
    header = ["agent", "K", "env steps per task", "evaluation episodes", "seeds",
              "min average performance", "max forgetting", "lowest final return",
              f"targets on each seed ({_targets_text(targets) or 'none'})"]  # fmt: skip
    lines += ["Over the seeds of each (agent, K):", ""] + _table(header, summary) + [""]
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


# ---------------------------------------------------------------------- single variant (no cost at K = 1)
#: the SB3 baseline label of a ``single`` experiment (SB3's own ``MultiInputPolicy``)
SB3_AGENT = "sb3"


def _presets(entry: Mapping[str, Any]) -> list[str]:
    """The presets of a ``single`` experiment: in the protocol's order, then any other that ran."""
    order = list(entry.get("protocol", {}).get("presets") or entry.get("budget", {}).get("presets") or [])
    for run in entry.get("runs", []):
        if run.get("preset") is not None and run["preset"] not in order:
            order.append(run["preset"])
    return order


def _final_return(run: Mapping[str, Any]) -> float | None:
    """The raw return of the run's last evaluation (its only task)."""
    final = run.get("final_returns") or [None]
    return final[0]


def _single_auc(run: Mapping[str, Any]) -> float | None:
    """Normalized area under the run's learning curve (step 0 to the end): its ``task_auc``, else the
    trapezoid over its evaluation history."""
    auc = (run.get("task_auc") or [None])[0]
    if auc is not None:
        return float(auc)
    steps, mean, _ = _mean_curve([run])
    if not steps.size:
        return None
    span = steps[-1] - steps[0]
    curve = mean[:, 0]
    area = float(np.sum((steps[1:] - steps[:-1]) * (curve[1:] + curve[:-1]) / 2.0))
    return area / span if span > 0 else float(curve.mean())


def within_spread(psp: Iterable[float | None], sb3: Iterable[float | None]) -> bool | None:
    """The verdict rule of a ``single`` experiment: ``|mean_PSP − mean_SB3| ≤ max(std_PSP, std_SB3)``
    (population standard deviations over seeds, as the tables show them).

    :param psp: the PSP agent's values, one per seed.
    :param sb3: the SB3 policy's values, one per seed.
    :return: the verdict; ``None`` when either side has fewer than 2 seeds (no spread).

    Example::

        >>> within_spread([480.0, 500.0, 500.0], [500.0, 500.0, 460.0])
        True
    """
    mp, sp, n_p = mean_std(psp)
    ms, ss, n_s = mean_std(sb3)
    if n_p < 2 or n_s < 2:
        return None
    return abs(mp - ms) <= max(sp, ss) + 1e-12


def _verdict(metrics: Mapping[str, tuple[list[float | None], list[float | None]]]) -> str:
    """``yes`` when every metric is within spread, else which are not and in which direction."""
    misses = []
    for label, (psp, sb3) in metrics.items():
        within = within_spread(psp, sb3)
        if within is None:
            return "n/a (< 2 seeds)"
        if not within:
            higher = mean_std(psp)[0] > mean_std(sb3)[0]
            misses.append(f"{label} PSP {'higher' if higher else 'lower'}")
    return "yes" if not misses else "no: " + ", ".join(misses)


def _single_ran(entry: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per preset: the env steps, seeds, evaluation points and episodes its runs used."""
    out: dict[str, dict[str, Any]] = {}
    for preset in _presets(entry):
        runs = [r for r in entry.get("runs", []) if r.get("preset") == preset]
        points = sorted({len(r["history"]["step"]) for r in runs if r.get("history")})
        out[preset] = {
            "steps": sorted({int(r["steps_per_task"]) for r in runs if r.get("steps_per_task") is not None}),
            "seeds": sorted({int(r["seed"]) for r in runs if r.get("seed") is not None}),
            "agents": sorted({str(r.get("agent")) for r in runs}, key=_agent_rank),
            "episodes": sorted({int(r["eval_episodes"]) for r in runs if r.get("eval_episodes") is not None}),
            "points": points,
        }
    return out


def _one(values: Sequence[Any]) -> str:
    return "n/a" if not values else str(values[0]) if len(values) == 1 else "/".join(map(str, values))


def _single_budget_lines(entry: Mapping[str, Any]) -> list[str]:
    """The budget statement of a ``single`` experiment: env steps per preset against the protocol's."""
    ran = {p: r for p, r in _single_ran(entry).items() if r["seeds"]}
    protocol = entry.get("protocol", {})
    steps = protocol.get("steps_per_task")

    def protocol_steps(preset: str) -> Any:
        return steps.get(preset) if isinstance(steps, Mapping) else steps

    common = {k: {json.dumps(r[k]) for r in ran.values()} for k in ("seeds", "episodes")}
    shared = [k for k, values in common.items() if len(values) == 1]  # stated once for every preset

    def what(r: Mapping[str, Any]) -> str:
        text = f"{_one(r['steps'])} env steps"
        text += "" if "seeds" in shared else f", seeds {r['seeds']}"
        text += f", {_one(r['points'])} evaluations"
        return text + ("" if "episodes" in shared else f" of {_one(r['episodes'])} episodes")

    desc = "; ".join(f"`{p}` {what(r)}" for p, r in ran.items()) or "no runs"
    first = next(iter(ran.values()), None)
    if first is not None and "seeds" in shared:
        desc += f"; seeds {first['seeds']}"
    if first is not None and "episodes" in shared:
        desc += f"; {_one(first['episodes'])} episodes per evaluation"
    desc = f"K = 1, the presets' own widths; {desc}"
    covered = bool(ran) and all(
        p in ran
        and ran[p]["steps"] == [protocol_steps(p)]
        and set(protocol.get("seeds", [])) <= set(ran[p]["seeds"])
        and set(protocol.get("agents", [])) <= set(ran[p]["agents"])
        and ran[p]["episodes"] == [protocol.get("eval_episodes")]
        for p in protocol.get("presets", [])
    )
    if entry.get("full_protocol") and covered:
        return [f"**Budget: the full protocol** ({desc})."]
    full = "; ".join(f"`{p}` {protocol_steps(p)} env steps" for p in protocol.get("presets", []))
    return [
        f"**Budget: REDUCED, not the full protocol.** Ran: {desc}.",
        f"The full protocol is {full}; seeds {protocol.get('seeds')}, agents {protocol.get('agents')}, "
        f"{protocol.get('eval_episodes')} evaluation episodes.",
    ]


def _single_hyperparam_lines(entry: Mapping[str, Any]) -> list[str]:
    """Per preset: its hyper-parameters (shared by its agents, or a warning) and each agent's policy."""
    lines = []
    for preset in _presets(entry):
        runs = [r for r in entry.get("runs", []) if r.get("preset") == preset]
        if not runs:
            continue
        seen = {json.dumps(r.get("hyperparams"), sort_keys=True): r.get("hyperparams") for r in runs}
        sets = "; ".join(", ".join(f"{k}={v}" for k, v in (h or {}).items()) for h in seen.values())
        policies = {}
        for run in runs:
            kwargs = ", ".join(f"{k}={v}" for k, v in (run.get("policy_kwargs") or {}).items())
            policy = "PSP policy" if run.get("policy") == "psp" else f"SB3 `{run.get('policy')}`"
            policies.setdefault(str(run.get("agent")), f"{policy} ({kwargs})")
        policy_text = "; ".join(
            f"`{a}` {p}" for a, p in sorted(policies.items(), key=lambda kv: _agent_rank(kv[0]))
        )
        where = f"`{preset}` on `{runs[0].get('suite')}`, n_envs {runs[0].get('n_envs')}"
        if len(seen) == 1:
            lines.append(f"- {where}: hyper-parameters {sets}; policies {policy_text}.")
        else:
            lines.append(
                f"- {where}: **Warning: its runs use {len(seen)} different sets of hyper-parameters** "
                f"(the preset changed between invocations): {sets}; policies {policy_text}."
            )
    return [*lines, ""] if lines else []


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
            curves, steps = [], None
            for run in runs:
                s, m, _ = _mean_curve([run])
                if s.size:
                    curves.append(m[:, 0])
                    steps = s if steps is None or s.size < steps.size else steps
            if not curves or steps is None:
                continue
            arr = np.asarray([c[: steps.size] for c in curves])
            ax.plot(steps, arr.mean(axis=0), marker=".", label=f"{agent} ({len(curves)} seeds)")
            low = arr.mean(axis=0) - arr.std(axis=0)
            if len(curves) > 1:
                ax.fill_between(steps, low, arr.mean(axis=0) + arr.std(axis=0), alpha=0.2)
            low_y = min(low_y, float(np.nanmin(low)) - 0.05)
        ax.set_ylim(low_y, 1.05)
        ax.set_title(preset, fontsize=10)
        ax.set_xlabel("env steps")
        ax.set_ylabel("normalized return")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def _single_section(name: str, entry: Mapping[str, Any], fig_dir: Path, md_dir: Path) -> list[str]:
    runs = entry.get("runs", [])
    suites = entry.get("suites") or {}
    ran = _single_ran(entry)
    lines = [
        "Every algorithm preset with one variant (K = 1), as is (`psp`: its PSP policy, including the "
        "fixed random lift of small observations to 64 inputs and the width rule on superposed layers "
        "wider than 64) against SB3's own `MultiInputPolicy` (`sb3`: the same hyper-parameters, `net_arch` "
        "and activation; the task id is a constant one-hot input there). Final return: the raw return of "
        "the last evaluation; AUC: the normalized area under the evaluation curve from step 0 to the "
        "end (the normalized returns above); mean ± std over seeds.",
        "",
        "**Verdict rule:** a metric is *within spread* when |mean_PSP − mean_SB3| ≤ max(std_PSP, std_SB3) "
        "(the population standard deviations over seeds shown in the table); the verdict is *yes* when "
        "both final return and AUC are, and needs at least 2 seeds per agent.",
        "",
    ]
    header = [
        "algorithm", "agent", "suite", "env steps", "evaluations", "final return: agent",
        "final return: SB3", "AUC: agent", "AUC: SB3", "wall time (s): agent / SB3", "seeds", "within spread",
    ]  # fmt: skip
    rows = []
    by_preset: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for preset in _presets(entry):
        groups = group_runs([r for r in runs if r.get("preset") == preset], ("agent",))
        by_agent = {str(a): g for (a,), g in _sorted_groups(groups, 0)}
        if not by_agent:
            continue
        by_preset[preset] = by_agent
        base = by_agent.get(SB3_AGENT, [])
        info = ran[preset]
        evals = f"{_one(info['points'])} × {_one(info['episodes'])} episodes"
        for agent, group in by_agent.items():
            if agent == SB3_AGENT and len(by_agent) > 1:
                continue
            final = [_final_return(r) for r in group]
            auc = [_single_auc(r) for r in group]
            base_final = [_final_return(r) for r in base]
            base_auc = [_single_auc(r) for r in base]
            verdict = (
                _verdict({"final return": (final, base_final), "AUC": (auc, base_auc)})
                if base and agent != SB3_AGENT
                else "n/a (no SB3 run)"
                if not base
                else "n/a (SB3 only)"
            )
            wall = f"{_fmt((r.get('wall_time_s') for r in group), 0)} / {_fmt((r.get('wall_time_s') for r in base), 0)}"
            seeds = f"{len(group)} / {len(base)}"
            rows.append(
                [
                    f"`{preset}`", agent, str(suites.get(preset, group[0].get("suite"))), _one(info["steps"]), evals,
                    _fmt(final, 1), _fmt(base_final, 1), _fmt(auc), _fmt(base_auc), wall, seeds, verdict,
                ]
            )  # fmt: skip
    lines += _table(header, rows) + [""]
    if by_preset:
        fig = plot_single_curves(
            by_preset, fig_dir / f"exp{name}_single.png", "one variant: PSP presets vs SB3"
        )
        lines += [f"![learning curves, PSP against SB3 at K = 1]({_rel(fig, md_dir)})", ""]
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
        kind = entry.get("kind", "continual")
        if kind not in KIND_ORDER:
            raise ValueError(f"experiment {name}: unknown kind {kind!r}; use one of {', '.join(KIND_ORDER)}.")
        lines += [f"## {name}. {entry.get('title', '')}", ""]
        if kind == "single":
            lines += _single_budget_lines(entry) + [""] + _single_hyperparam_lines(entry)
        elif entry.get("protocol", {}).get("combos"):  # presets as they are: one set per preset
            lines += _combo_budget_lines(entry) + [""] + _single_hyperparam_lines(entry)
        else:
            lines += _budget_lines(entry) + [""] + _hyperparam_lines(entry)
        lines += _commit_lines(entry) + _commands(entry)
        section = {
            "continual": _continual_section,
            "capacity": _capacity_section,
            "parallel": _parallel_section,
            "single": _single_section,
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
