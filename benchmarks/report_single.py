"""The section of a single-variant (K = 1) experiment: every PSP preset against SB3's own policy,
final return and learning-curve AUC, and the within-spread verdict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from report_figures import plot_single_curves
from report_numbers import (
    _curve_auc,
    _fmt,
    _mean_curve,
    _one,
    _rel,
    _sorted_groups,
    _table,
    group_runs,
    mean_std,
)
from report_protocol import _presets, _single_ran

#: the SB3 baseline label of a ``single`` experiment (SB3's own ``MultiInputPolicy``)
SB3_AGENT = "sb3"


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
    return _curve_auc(steps, mean[:, 0])


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
        "algorithm",
        "agent",
        "suite",
        "env steps",
        "evaluations",
        "final return: agent",
        "final return: SB3",
        "AUC: agent",
        "AUC: SB3",
        "wall time (s): agent / SB3",
        "seeds",
        "within spread",
    ]
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
                    f"`{preset}`",
                    agent,
                    str(suites.get(preset, group[0].get("suite"))),
                    _one(info["steps"]),
                    evals,
                    _fmt(final, 1),
                    _fmt(base_final, 1),
                    _fmt(auc),
                    _fmt(base_auc),
                    wall,
                    seeds,
                    verdict,
                ]
            )
    lines += _table(header, rows) + [""]
    if by_preset:
        fig = plot_single_curves(
            by_preset, fig_dir / f"exp{name}_single.png", "one variant: PSP presets vs SB3"
        )
        lines += [f"![learning curves, PSP against SB3 at K = 1]({_rel(fig, md_dir)})", ""]
    return lines
