"""The per-seed table of an experiment with ``per_seed`` and its ``targets`` verdict on every seed
(experiment 8: the default presets keep every variant)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from report_numbers import _combo_order, _fmt, _ints, _one, _protocol_steps, _table, group_runs


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
    header = [
        "agent",
        "K",
        "seed",
        "average performance",
        "forgetting",
        "lowest final return",
        "wall time (s)",
    ] + (["targets met"] if targets else [])
    rows, summary = [], []
    for agent, k in _combo_order(entry):
        group = sorted(groups.get((agent, k), []), key=lambda r: r.get("seed") or 0)
        if not group:
            continue
        for run in group:
            low = _lowest_final(run)
            row = [
                agent,
                str(k),
                str(run.get("seed")),
                _fmt([run.get("avg_performance")]),
                _fmt([run.get("forgetting")]),
                "n/a" if low is None else f"{low[0]:.3f} (task {low[1]})",
                _fmt([run.get("wall_time_s")], 0),
            ]
            if targets:
                misses = target_misses(run, targets)
                row.append("yes" if not misses else "no: " + ", ".join(misses))
            rows.append(row)
        steps = _ints(group, "steps_per_task")
        episodes = _ints(group, "eval_episodes")
        reduced = not _protocol_steps(entry, steps) or episodes != [
            protocol.get("eval_episodes", episodes[0] if episodes else None)
        ]
        perf = [float(r["avg_performance"]) for r in group if r.get("avg_performance") is not None]
        forgetting = [float(r["forgetting"]) for r in group if r.get("forgetting") is not None]
        lows = [low[0] for r in group if (low := _lowest_final(r)) is not None]
        summary.append(
            [
                agent,
                str(k),
                _one(steps),
                _one(episodes),
                str([r.get("seed") for r in group]),
                f"{min(perf):.3f}" if perf else "n/a",
                f"{max(forgetting):.3f}" if forgetting else "n/a",
                f"{min(lows):.3f}" if lows else "n/a",
                targets_verdict(group, targets, _protocol_seeds(entry, agent, k), reduced),
            ]
        )
    lines += _table(header, rows) + [""]
    header = [
        "agent",
        "K",
        "env steps per task",
        "evaluation episodes",
        "seeds",
        "min average performance",
        "max forgetting",
        "lowest final return",
        f"targets on each seed ({_targets_text(targets) or 'none'})",
    ]
    lines += ["Over the seeds of each (agent, K):", ""] + _table(header, summary) + [""]
    return lines
