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

This module keeps :func:`render` (the page: its header, one section per experiment, the notes) and
re-exports the public helpers; the work is done by its siblings: ``report_numbers`` (ordering, grouping,
mean ± std, forward transfer, table cells), ``report_figures`` (the PNG figures), ``report_protocol``
(budget, hyper-parameter, commit and reproduce lines), ``report_sections`` (the continual, capacity,
parallel and overhead sections), ``report_targets`` (the per-seed table and targets verdict) and
``report_single`` (the K = 1 section against SB3's own policy).

Example::

    from report import render   # run from benchmarks/, or with it on sys.path
    render("results/continual.json", out_md="docs/results.md", fig_dir="docs/figures")
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg10_protocol_page import section_lines as mg10_section_lines
from offpolicy_page import section_lines
from report_numbers import forward_transfer_of, group_runs, mean_std
from report_protocol import (
    _budget_lines,
    _combo_budget_lines,
    _commands,
    _commit_lines,
    _hyperparam_lines,
    _single_budget_lines,
    _single_hyperparam_lines,
)
from report_sections import _capacity_section, _continual_section, _overhead_section, _parallel_section
from report_single import _single_section, within_spread
from report_targets import target_misses, targets_verdict

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
    :param notes: findings to show (``{"summary" | "<experiment>" | "remaining": markdown}``,
        ``"title"``: the page's heading, ``"sweeps"``: sections of run tables, ``[{"title", "file",
        "text"}]`` as in ``benchmarks/offpolicy_page.py``; one with ``"table": "mg10-protocol"`` is rendered by
        ``benchmarks/mg10_protocol_page.py``), as a mapping or a JSON file; they override the results file's
        own ``notes``.
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

    lines = [f"# {notes.get('title') or 'psp_rl benchmark results'}", ""]
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
    for section in notes.get("sweeps") or []:  # tables of runs collected by benchmarks/runs_table.py
        if section.get("table") == "mg10-protocol":  # collected by benchmarks/mg10_protocol.py
            lines += mg10_section_lines(section["title"], section, fig_dir, md_dir)
        else:
            lines += section_lines(section["title"], section)
    if notes.get("remaining"):
        lines += ["## Not run yet", "", str(notes["remaining"]).strip(), ""]
    out_md.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return out_md
