"""What ``psp-rl tune`` leaves at the end: the best trial as an agent preset (``best.yaml``, its figures
in a comment at the top) and the plot of the objective per trial (``trials.png``).

``best.yaml`` is the tune's agent preset, read as it is, with the tune's ``--set`` items and the best
finished trial's values written in at their dotted keys (and the tuned suite as its ``suite``), so that
``psp-rl train --agent DIR/best.yaml`` trains that trial's config on any seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from psp_rl.training.config import apply_overrides, load_preset, parse_overrides
from psp_rl.utils import write_atomic

__all__ = ["best_trial", "plot_trials", "write_best_preset", "write_outputs"]


def best_trial(records: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The finished trial with the highest objective (``None``: no finished trial has one).

    :param records: the trials' records.
    """
    scored = [
        r
        for r in records
        if r.get("status") == "finished" and r.get("objective") is not None and math.isfinite(r["objective"])
    ]
    return max(scored, key=lambda r: float(r["objective"])) if scored else None


def write_best_preset(spec: Any, path: Path, best: dict[str, Any], total: int) -> None:
    """Write the tune's preset with the best trial's values.

    :param spec: the :class:`~psp_rl.sweep.tune.TuneSpec`.
    :param path: ``DIR/best.yaml``.
    :param best: the best trial's record.
    :param total: the number of trials recorded.
    """
    preset = load_preset(spec.agent)
    apply_overrides(preset, parse_overrides([*spec.set, *best["sets"]]))
    if spec.suite is not None:
        preset["suite"] = spec.suite
    preset["description"] = f"{preset.get('description', spec.agent)} (tuned: trial {best['trial_id']})"

    def num(value: Any) -> str:
        return "n/a" if value is None else f"{float(value):.4g}"

    lines = [
        f"# psp-rl tune of {spec.agent} on {spec.suite or 'its suite'}: the best of {total} trials "
        f"(seed {spec.seed}, num_tasks {spec.num_tasks or 'the suite'}, "
        f"steps_per_task {spec.steps_per_task or 'the suite'})",
        f"# trial {best['trial_id']}: objective ({spec.metric}) {num(best['objective'])}, avg_performance "
        f"{num(best.get('avg_performance'))}, forgetting {num(best.get('forgetting'))}, "
        f"auc {num(best.get('auc'))}",
        f"# values: {' '.join(best['sets'])}",
    ]
    write_atomic(path, "\n".join(lines) + "\n" + yaml.safe_dump(preset, sort_keys=False))


def plot_trials(records: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    """Plot the objective per trial (finished and pruned), the best so far as a line.

    :param records: the trials' records, in the order they ended.
    :param path: the PNG file.
    :param title: the figure's title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 4))
    best, running = -math.inf, []
    for index, record in enumerate(records):
        value = record.get("objective")
        if value is None:
            running.append(best if math.isfinite(best) else math.nan)
            continue
        finished = record.get("status") == "finished"
        ax.scatter(index, value, marker="o" if finished else "x", color="C0" if finished else "C3")
        if finished:
            best = max(best, float(value))
        running.append(best if math.isfinite(best) else math.nan)
    ax.plot(range(len(records)), running, color="C2", label="best finished so far")
    ax.scatter([], [], marker="o", color="C0", label="finished")
    ax.scatter([], [], marker="x", color="C3", label="pruned (last report)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial (in the order they ended)")
    ax.set_ylabel("objective")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(
    spec: Any, out: Path, records: Sequence[dict[str, Any]], keys: list[str]
) -> dict[str, Any] | None:
    """Write ``trials.png`` and ``best.yaml`` (when a trial finished).

    :param spec: the :class:`~psp_rl.sweep.tune.TuneSpec`.
    :param out: the tune's folder.
    :param records: every recorded trial.
    :param keys: the searched keys (for the title).
    :return: the best trial's record.
    """
    from psp_rl.sweep.tune import METRICS

    title = (
        f"{spec.agent} on {spec.suite or 'its suite'}: {METRICS[spec.metric]}\nsearched: {', '.join(keys)}"
    )
    plot_trials(records, out / "trials.png", title)
    best = best_trial(records)
    if best is not None:
        write_best_preset(spec, out / "best.yaml", best, len(records))
    return best
