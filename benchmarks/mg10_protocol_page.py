"""Render the section "MiniGrid MG10 at the published protocol" of ``docs/results.md`` from the records that
``benchmarks/mg10_protocol.py`` collected: the protocol line, a table per arm (mean ± std over the finished
seeds), the issue's targets checked from the records, one row per seed, the learning-curve figure, the runs
still in progress and the commands.

``benchmarks/report.py`` calls :func:`section_lines` for a ``results/notes.json`` ``"sweeps"`` entry::

    {"title": "...", "file": "results/sweeps/mg10-protocol.json", "table": "mg10-protocol",
     "text": "markdown before the tables", "ewc": "markdown after our EWC arm's keys",
     "reduced": "results/sweeps/mg10.json"}

Every number of the section comes from the record files; only the targets' thresholds are written here.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from report_figures import _new_figure, _save
from report_numbers import _fmt, _mean_curve, mean_std

__all__ = ["arm_table", "plot_curves", "progress_lines", "section_lines", "seed_table", "target_verdicts"]

#: PSP's arms, the reference of the first target and the arm of the second
PSP_ARMS = ("psp", "psp-cnn")
REFERENCE, MASK = "separate", "mask"
#: the first target: PSP's average performance >= RATIO x separate's, forgetting <= MAX_FORGETTING, every seed
RATIO, MAX_FORGETTING = 0.95, 0.02
FIGURE = "mg10-protocol-curves.png"


def _runs(data: Mapping[str, Any], arm: str) -> list[Mapping[str, Any]]:
    return [r for r in data["runs"] if r["arm"] == arm]


def _parameters(data: Mapping[str, Any], arm: str) -> str:
    """``231,640 + 14,948 fixed``: trainable parameters and fixed tensors (frozen parameters and buffers)."""
    for r in list(_runs(data, arm)) + [p for p in data.get("in_progress", []) if p["arm"] == arm]:
        counts = r.get("parameters")
        if counts:
            return f"{counts['trainable']:,} + {counts['frozen'] + counts['buffers']:,} fixed"
    return "–"


def arm_table(data: Mapping[str, Any]) -> list[str]:
    """One row per arm: its keys, how many seeds finished, and the mean ± std of their scores.

    :param data: the collected records.
    """
    n = len(data["seeds"])
    lines = [
        "| arm | keys | seeds finished | average performance | forgetting | ICR (final) | TPOT | "
        "parameters | wall time (h) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, keys in data["arms"].items():
        runs = _runs(data, arm)
        hours = (r["wall_time_s"] / 3600 for r in runs)
        lines.append(
            f"| {arm} | {' '.join(f'`{k}`' for k in keys) or '(the preset)'} | {len(runs)} of {n} | "
            f"{_cell(r['avg_performance'] for r in runs)} | {_cell(r['forgetting'] for r in runs)} | "
            f"{_cell((r['icr_final'] for r in runs), 2)} | {_cell((r['tpot'] for r in runs), 1)} | "
            f"{_parameters(data, arm)} | {_cell(hours, 1)} |"
        )
    return lines


def _cell(values: Any, digits: int = 3) -> str:
    text = _fmt(list(values), digits)
    return "–" if text == "n/a" else text


def seed_table(data: Mapping[str, Any]) -> list[str]:
    """One row per finished run.

    :param data: the collected records.
    """
    lines = [
        "| arm | seed | average performance | forgetting | ICR (final) | TPOT | score per task after its phase | "
        "score per task at the end | env steps | wall time (h) | starts |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["runs"]:
        own, scores = (
            " ".join("–" if v is None else f"{v:.2f}" for v in r[k])
            for k in ("after_own_phase", "final_normalized")
        )
        forgetting = "–" if r["forgetting"] is None else f"{r['forgetting']:.3f}"
        lines.append(
            f"| {r['arm']} | {r['seed']} | {r['avg_performance']:.3f} | {forgetting} | {r['icr_final']:.2f} | "
            f"{r['tpot']:.1f} | {own} | {scores} | {r['interaction'].get('total', r['interaction']['training']):,} | "
            f"{r['wall_time_s'] / 3600:.1f} | {r['starts']} |"
        )
    return lines if data["runs"] else ["No run has finished yet."]


def loss_lines(data: Mapping[str, Any], drop: float = 0.5) -> list[str]:
    """Where each finished run lost a task, read from its performance matrix: the phase at whose end a task's
    score first fell below ``drop`` times its score after its own phase, and the tasks never learnt in theirs.

    :param data: the collected records.
    :param drop: the fraction of the own-phase score below which a task counts as lost.
    """
    names = (data.get("protocol") or {}).get("tasks") or []
    lines = []
    for r in data["runs"]:
        matrix, events = r["perf_matrix"], []
        for j in range(len(matrix)):
            name = names[j] if j < len(names) else f"task {j}"
            own = matrix[j][j]
            if own is None or own < 0.5:
                events.append(f"task {j}, {name}: not learnt in its phase ({0 if own is None else own:.2f})")
                continue
            lost = next((p for p in range(j + 1, len(matrix)) if (matrix[p][j] or 0.0) < drop * own), None)
            if lost is not None:
                events.append(
                    f"task {j}, {name}: {own:.2f} → {matrix[lost][j]:.2f} by the end of phase {lost}"
                )
        lines.append(f"- {r['arm']} seed {r['seed']}: {'; '.join(events) or 'every task learnt and kept'}.")
    return lines


def progress_lines(data: Mapping[str, Any]) -> list[str]:
    """The runs in progress (newest checkpoint) and the number not started.

    :param data: the collected records.
    """
    total = len(data["arms"]) * len(data["seeds"])
    lines = [
        f"**Runs:** {len(data['runs'])} of {total} finished, {len(data['in_progress'])} in progress, "
        f"{len(data['not_started'])} not started."
    ]
    if data["in_progress"]:
        parts = [
            f"{p['arm']} seed {p['seed']} at {p['step']:,} of {p['total_timesteps']:,} env steps"
            if p["step"]
            else f"{p['arm']} seed {p['seed']} started, no checkpoint yet"
            for p in data["in_progress"]
        ]
        lines.append(
            f"In progress (newest checkpoint; no score is shown before a run ends): {'; '.join(parts)}."
        )
    return lines


def _psp_arms(data: Mapping[str, Any]) -> list[str]:
    """PSP's arms that the sweep runs."""
    return [arm for arm in PSP_ARMS if arm in data["arms"]]


def _psp_vs_separate(data: Mapping[str, Any]) -> tuple[str, str]:
    n = len(data["seeds"])
    ref = _runs(data, REFERENCE)
    ref_mean, _, ref_n = mean_std(r["avg_performance"] for r in ref)
    statuses, details = [], []
    for arm in _psp_arms(data):
        runs, misses = _runs(data, arm), []
        for r in runs:
            if r["forgetting"] is not None and r["forgetting"] > MAX_FORGETTING:
                misses.append(f"seed {r['seed']} forgetting {r['forgetting']:.3f} > {MAX_FORGETTING}")
            if ref_n == n and r["avg_performance"] < RATIO * ref_mean:
                misses.append(
                    f"seed {r['seed']} average performance {r['avg_performance']:.3f} < {RATIO} × {ref_mean:.3f}"
                )
        if misses:
            statuses.append("missed")
            details.append(f"{arm}: missed ({'; '.join(misses)})")
        elif len(runs) == n and ref_n == n:
            statuses.append("met")
            details.append(f"{arm}: met on all {n} seeds")
        else:
            statuses.append("pending")
            details.append(f"{arm}: {len(runs)} of {n} seeds finished")
    details.append(
        f"{REFERENCE}: {ref_n} of {n} seeds finished" + (f", mean {ref_mean:.3f}" if ref_n else "")
    )
    return _combine(statuses), "; ".join(details)


def _psp_vs_mask(data: Mapping[str, Any]) -> tuple[str, str]:
    n = len(data["seeds"])
    mask_mean, _, mask_n = mean_std(r["avg_performance"] for r in _runs(data, MASK))
    details = [
        f"{MASK} {mask_mean:.3f} ({mask_n} of {n} seeds)" if mask_n else f"{MASK}: 0 of {n} seeds finished"
    ]
    statuses = []
    for arm in _psp_arms(data):
        mean, _, k = mean_std(r["avg_performance"] for r in _runs(data, arm))
        details.append(f"{arm} {mean:.3f} ({k} of {n} seeds)" if k else f"{arm}: 0 of {n} seeds finished")
        if k < n or mask_n < n:
            statuses.append("pending")
        else:
            statuses.append("met" if mean >= mask_mean else "missed")
    return _combine(statuses), "mean average performance: " + "; ".join(details)


def _combine(statuses: Sequence[str]) -> str:
    """A target that PSP flat *or* CNN may meet: met by one, missed by all, else not yet measurable."""
    if "met" in statuses:
        return "met"
    return "missed" if statuses and all(s == "missed" for s in statuses) else "not yet measurable"


def target_verdicts(data: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The issue's targets checked from the records: ``(target, "met" | "missed" | "not yet measurable",
    detail)``.

    :param data: the collected records.
    """
    psp = " or ".join(f"`{arm}`" for arm in _psp_arms(data)) or "no arm"
    return [
        (
            f"PSP ({psp}) average performance ≥ {RATIO} × `{REFERENCE}`'s (its mean over seeds) and "
            f"forgetting ≤ {MAX_FORGETTING} on every seed",
            *_psp_vs_separate(data),
        ),
        (
            f"PSP ({psp}) at least as good as `{MASK}` (mean average performance)",
            *_psp_vs_mask(data),
        ),
    ]


def plot_curves(data: Mapping[str, Any], path: Path) -> Path:
    """Per arm a panel: each task's score against env steps, the mean over the arm's finished seeds.

    :param data: the collected records.
    :param path: the PNG to write.
    """
    arms = list(data["arms"])
    cols = min(4, len(arms))
    rows = math.ceil(len(arms) / cols)
    fig = _new_figure(3.6 * cols, 2.8 * rows + 0.8)
    tasks = (data.get("protocol") or {}).get("tasks") or []
    bounds = [(i + 1) * data["protocol"]["steps_per_task"] for i in range(data["protocol"]["num_tasks"])]
    handles = []
    for i, arm in enumerate(arms):
        ax = fig.add_subplot(rows, cols, i + 1)
        runs = _runs(data, arm)
        steps, mean, _ = _mean_curve(runs)
        for b in bounds[:-1]:
            ax.axvline(b / 1e6, color="0.85", linewidth=0.6)
        if steps.size:
            for task in range(mean.shape[1]):
                label = tasks[task] if task < len(tasks) else f"task {task}"
                (line,) = ax.plot(
                    steps / 1e6, mean[:, task], linewidth=0.9, label=label, color=f"C{task % 10}"
                )
                if len(handles) < mean.shape[1]:
                    handles.append(line)
        else:
            ax.text(0.5, 0.5, "no finished seed yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{arm} ({len(runs)} of {len(data['seeds'])} seeds)", fontsize=9)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlim(0, bounds[-1] / 1e6)
        ax.set_xlabel("env steps (millions)", fontsize=8)
        ax.set_ylabel("score", fontsize=8)
        ax.tick_params(labelsize=7)
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=7, frameon=False)
    fig.suptitle("MG10 at the protocol: score per task, mean over finished seeds", fontsize=10)
    fig.tight_layout(rect=(0, 0.08 if handles else 0, 1, 1))
    return _save(fig, path, tight_layout=False)


def _protocol_lines(data: Mapping[str, Any]) -> list[str]:
    p = data["protocol"]
    seeds = ", ".join(str(s) for s in data["seeds"])
    every = p["num_tasks"] * p["steps_per_task"] // p["eval_freq"]
    how = "deterministic" if p["deterministic"] else "stochastic"
    commits = ", ".join(f"`{c[:7]}`" for c in data["commits"]) or "unknown"
    return [
        f"**Protocol:** {p['num_tasks']} tasks one after another, {p['steps_per_task']:,} env steps per task "
        f"({p['n_envs']} envs), seeds {seeds}; every task evaluated every {p['eval_freq']:,} env steps with "
        f"{p['eval_episodes']} {how} episode{'s' if p['eval_episodes'] != 1 else ''} (the protocol's "
        f"{every} evaluations after step 0). ICR = the sum of the tasks' returns at one evaluation (ICR (final): at "
        "the last), TPOT = the sum of the ICRs of every evaluation; average performance and forgetting as above, "
        f"from the performance matrix at the phase ends. Preset `{p['agent']}` on `{p['suite']}`; tasks in order: "
        f"{', '.join(p['tasks'])}. Code at commit {commits}.",
        "",
        "Parameters: the policy's trainable parameters + its fixed tensors (PSP's context keys, the mask modes' "
        "fixed backbone), counted from the saved model.",
    ]


def section_lines(
    heading: str, section: Mapping[str, Any], fig_dir: Path, md_dir: Path, root: Path = Path()
) -> list[str]:
    """The section: heading, prose, protocol, tables, targets, figure, progress and commands.

    :param heading: the section's heading (without ``##``).
    :param section: the notes entry (see the module docstring).
    :param fig_dir: the folder of the figure.
    :param md_dir: the folder of the markdown file (the figure is linked relative to it).
    :param root: the folder the ``file`` and ``reduced`` paths are relative to.
    """
    data = json.loads((root / section["file"]).read_text())
    figure = plot_curves(data, Path(fig_dir) / FIGURE)
    lines = [f"## {heading}", "", section["text"].strip(), ""]
    if data.get("protocol") is None:
        return lines + progress_lines(data) + ["", f"Raw records: `{section['file']}`.", ""]
    lines += _protocol_lines(data) + [""] + progress_lines(data) + [""] + arm_table(data) + [""]
    lines += ["**Targets**, checked from the records:", ""]
    lines += [f"- {target}: **{verdict}** ({detail})." for target, verdict, detail in target_verdicts(data)]
    lines += ["", "Per seed (score per task: the tasks in order):", ""] + seed_table(data) + [""]
    if data["runs"]:
        lines += ["Where tasks were lost (from the performance matrices at the phase ends):", ""]
        lines += loss_lines(data) + [""]
    lines += [f"![MG10 learning curves]({Path(os.path.relpath(figure, md_dir)).as_posix()})", ""]
    ewc = [arm for arm, keys in data["arms"].items() if any(k.startswith("ewc.lambda") for k in keys)]
    if ewc and section.get("ewc"):
        keys = " ".join(f"`{k}`" for k in data["arms"][ewc[0]])
        lines += [f"**EWC:** our `{ewc[0]}` arm is {keys}; {section['ewc'].strip()}", ""]
    commands = data["commands"]
    lines += [
        f"Run: `{commands['sweep']}`; after a stop `{commands['resume']}` (every run continues from its "
        f"newest checkpoint). Refresh this section: `{commands['collect']}`, then `{commands['render']}`.",
        "",
    ]
    if section.get("reduced"):
        reduced = json.loads((root / section["reduced"]).read_text())
        steps = sorted({r["steps_per_task"] for r in reduced})
        lines += [
            f"The reduced-budget table ({' / '.join(f'{s // 1000}k' for s in steps)} steps per task) is in the "
            f"records `{section['reduced']}`.",
            "",
        ]
    return lines + [f"Raw records: `{section['file']}`.", ""]
