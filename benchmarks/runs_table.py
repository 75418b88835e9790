"""Collect finished ``psp-rl train`` run folders into one JSON record and a markdown table per seed.

Sweeps that decide a preset (learning rates, schedules, budgets) run as plain ``psp-rl train`` commands,
one run folder each; this script keeps what they measured (the command, the budget, the performance
matrix, average performance, forgetting) in a small JSON file under ``results/`` and prints the table.

Run::

    python benchmarks/runs_table.py --out results/sweeps/ppo-lr.json LABEL=RUNS_PARENT [LABEL=...]
    python benchmarks/runs_table.py --render results/sweeps/ppo-lr.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from psp_rl.utils import write_json_atomic


def record(run: Path, label: str) -> dict[str, Any]:
    """What a finished run folder measured.

    :param run: the run folder (with ``metrics.json``, ``config.yaml``, ``command.txt``).
    :param label: the sweep's label for it.
    """
    metrics = json.loads((run / "metrics.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    rows = metrics["perf_matrix"]
    return {
        "label": label,
        "run": run.name,
        "command": (run / "command.txt").read_text().strip().splitlines()[0],
        "agent": config["agent"],
        "suite": config["suite"],
        "seed": config["seed"],
        "num_tasks": metrics["num_tasks"],
        "steps_per_task": config["steps_per_task"],
        "eval_episodes": metrics["eval_episodes"],
        "deterministic": (config.get("eval") or {}).get("deterministic", True),
        "metric": (config.get("suite_spec") or {}).get("metric", "return"),
        "hyperparams": config["hyperparams"],
        "restart_schedules": config.get("restart_schedules"),
        "normalize": config.get("normalize"),
        "avg_performance": metrics["avg_performance"],
        "forgetting": metrics["forgetting"],
        "after_own_phase": [rows[i][metrics["phase_tasks"][i]] for i in range(len(rows))],
        "final_normalized": metrics["final_normalized"],
        "wall_time_s": round(metrics["wall_time_s"], 1),
    }


def render(records: list[dict[str, Any]]) -> str:
    """A markdown table, one row per run, grouped by label.

    :param records: from :func:`record`.
    """
    lines = [
        "| label | seed | K | steps/task | avg perf | forgetting | after own phase | at the end |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(records, key=lambda r: (r["label"], r["num_tasks"], r["seed"])):
        own = " ".join(f"{v:.2f}" for v in r["after_own_phase"])
        end = " ".join(f"{v:.2f}" for v in r["final_normalized"])
        forgetting = "n/a" if r["forgetting"] is None else f"{r['forgetting']:.3f}"  # n/a at K = 1
        lines.append(
            f"| {r['label']} | {r['seed']} | {r['num_tasks']} | {r['steps_per_task']} | "
            f"{r['avg_performance']:.3f} | {forgetting} | {own} | {end} |"
        )
    episodes = sorted({r["eval_episodes"] for r in records})
    how = {"deterministic" if r.get("deterministic", True) else "stochastic" for r in records}
    scored = {"success rate" if r.get("metric") == "success" else "normalised return" for r in records}
    lines.append(
        f"\nEvaluation: {', '.join(map(str, episodes))} {'/'.join(sorted(how))} episodes per task at each "
        f"phase end; scores are the {' / '.join(sorted(scored))}."
    )
    means = summary(records)
    return "\n".join(lines + (["", means] if means else []))


def summary(records: list[dict[str, Any]]) -> str:
    """Mean ± standard deviation over seeds per label, for labels with more than one seed ('' if none).

    :param records: from :func:`record`.
    """
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["label"], r["num_tasks"]), []).append(r)
    if all(len(g) < 2 for g in groups.values()):
        return ""
    lines = ["| label | K | seeds | avg perf | forgetting |", "|---|---|---|---|---|"]
    for (label, k), group in sorted(groups.items()):
        perf = np.array([r["avg_performance"] for r in group])
        forget = np.array([np.nan if r["forgetting"] is None else r["forgetting"] for r in group])
        seeds = " ".join(str(r["seed"]) for r in sorted(group, key=lambda r: r["seed"]))
        known = forget[~np.isnan(forget)]  # K = 1 runs have no forgetting
        forgetting = f"{known.mean():.3f} ± {known.std():.3f}" if known.size else "–"
        lines.append(f"| {label} | {k} | {seeds} | {perf.mean():.3f} ± {perf.std():.3f} | {forgetting} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    """Collect and/or render.

    :param argv: command-line arguments.
    :return: the table.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", metavar="LABEL=RUNS_PARENT", help="folders holding run folders")
    parser.add_argument("--out", help="JSON file to write (records are merged by label and run folder name)")
    parser.add_argument("--render", help="print the table of a JSON file written before")
    args = parser.parse_args(argv)
    records: list[dict[str, Any]] = []
    if args.render:
        records = json.loads(Path(args.render).read_text())
    if args.out and Path(args.out).is_file():
        records = json.loads(Path(args.out).read_text())
    for group in args.groups:
        label, sep, parent = group.partition("=")
        if not sep:
            raise SystemExit(f"expected LABEL=RUNS_PARENT, got {group!r}")
        for run in sorted(Path(parent).glob("*/metrics.json")):
            # a run folder's name is unique within its parent only: two sweeps started in the same
            # second share it, so a record is replaced only by the same folder under the same label
            same = (label, run.parent.name)
            records = [r for r in records if (r["label"], r["run"]) != same] + [record(run.parent, label)]
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out, records)
    table = render(records)
    print(table)
    return table


if __name__ == "__main__":
    main()
