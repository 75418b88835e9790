"""An ablation sweep (``psp-rl sweep`` with named ``arms``) as records and one table: per arm the parameters,
the interaction, and average performance and forgetting as the interquartile mean with its stratified-bootstrap
confidence interval (rliable, through :func:`psp_rl.sweep.summary.summarize_point`).

Collect the finished runs of a sweep folder (runs still training are listed, not counted)::

    python benchmarks/ablation.py --collect sweeps/offpolicy-ablation-dqn --out results/sweeps/offpolicy-ablation-dqn.json
    python benchmarks/ablation.py --render results/sweeps/offpolicy-ablation-dqn.json

A record holds the run's arm, seed, mode and machinery, its per-task scores (the performance matrix and the
forgetting per task, what the IQM is taken over), the interaction it had (``metrics.json["interaction"]``:
training env steps, validation env steps of keep_best, their total), its parameter count and wall time.
``separate`` counts every per-task network; target networks (DQN's, the critics' of SAC and TD3) are copies
and are not counted.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from psp_rl.utils import write_json_atomic

#: the modules of a policy that only copy others (not counted as parameters)
TARGET_NETWORKS = ("q_net_target", "critic_target", "actor_target")


def param_count(run: Path) -> int:
    """Trainable parameters of a run's saved policy, target networks left out.

    :param run: the run folder (its ``model.zip``).
    """
    from psp_rl.training.saved_runs import load_run_model

    _, model, _ = load_run_model(run, device="cpu")
    return int(
        sum(
            p.numel()
            for name, p in model.policy.named_parameters()
            if p.requires_grad and name.split(".")[0] not in TARGET_NETWORKS
        )
    )


def _run_folder(point: Path) -> Path | None:
    """The run folder of a sweep point (``runs/<point>/<run>``), if it has one."""
    folders = [p for p in point.iterdir() if p.is_dir()] if point.is_dir() else []
    return folders[0] if len(folders) == 1 else None


def record(run: Path, arm: str) -> dict[str, Any]:
    """What one finished run of an arm measured.

    :param run: the run folder.
    :param arm: the arm's name.
    """
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    steps = int(config["steps_per_task"]) * int(metrics["num_tasks"])
    interaction = metrics.get("interaction") or {"training": int(metrics["num_timesteps"])}
    interaction.setdefault("total", sum(v for k, v in interaction.items() if k != "total"))
    return {
        "arm": arm,
        "seed": int(config["seed"]),
        "agent": config["agent"],
        "suite": config["suite"],
        "mode": (config.get("policy_kwargs") or {}).get("mode", "psp"),
        "rehearsal_coef": float((config.get("rehearsal") or {}).get("coef", 0.0)),
        "rehearsal_ratio": float((config.get("rehearsal") or {}).get("ratio", 0.0)),
        "keep_best_freq": int((config.get("keep_best") or {}).get("freq", 0)),
        "optimizer_at_switch": (config.get("optimizer") or {}).get("at_switch"),
        "num_tasks": int(metrics["num_tasks"]),
        "steps_per_task": int(config["steps_per_task"]),
        "scheduled_steps": steps,
        "interaction": interaction,
        "avg_performance": float(metrics["avg_performance"]),
        "forgetting": float(metrics["forgetting"]),
        "perf_matrix": metrics["perf_matrix"],
        "forgetting_per_task": metrics.get("forgetting_per_task"),
        "param_count": param_count(run),
        "wall_time_s": float(metrics["wall_time_s"]),
        "run": "/".join(run.parts[-2:]),  # <sweep point>/<run folder>, under the sweep's runs/
        "command": (run / "command.txt").read_text(encoding="utf-8").strip().splitlines()[0],
    }


def collect(sweep: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a sweep folder's finished runs, and the points still unfinished.

    :param sweep: the sweep folder (``psp-rl sweep --out``).
    :raises ValueError: a folder without the sweep's ``sweep.yaml`` or named arms.
    """
    spec_file = sweep / "sweep.yaml"
    if not spec_file.is_file():
        raise ValueError(f"{sweep} is not a sweep folder (no sweep.yaml): give the --out of psp-rl sweep.")
    arms = (yaml.safe_load(spec_file.read_text(encoding="utf-8")) or {}).get("arms") or {}
    if not arms:
        raise ValueError(f"{spec_file} has no arms: benchmarks/ablation.py tables sweeps with named arms.")
    records, unfinished = [], []
    for point in sorted((sweep / "runs").iterdir()) if (sweep / "runs").is_dir() else []:
        arm = point.name.split("_arm-", 1)[-1].rsplit("__s", 1)[0]
        run = _run_folder(point)
        if arm not in arms:
            continue
        if run is None or not (run / "metrics.json").is_file():
            unfinished.append(point.name)
        else:
            records.append(record(run, arm))
    return records, unfinished


def _cell(stats: Mapping[str, Any]) -> str:
    if stats.get("iqm") is None:
        return "n/a"
    low, high = stats["ci_iqm"]
    return f"{stats['iqm']:.3f} [{low:.3f}, {high:.3f}]"


def _machinery(r: Mapping[str, Any]) -> str:
    parts = []
    if r["rehearsal_coef"] > 0:
        parts.append(f"rehearsal (ratio {r['rehearsal_ratio']:g})")
    if r["keep_best_freq"] > 0:
        parts.append("keep_best")
    return " + ".join(parts) or "none"


def _interaction(group: Sequence[Mapping[str, Any]]) -> str:
    total = round(float(np.mean([r["interaction"]["total"] for r in group])))
    training = round(float(np.mean([r["interaction"]["training"] for r in group])))
    extra = total - training
    return f"{total:,}" + (f" ({training:,} + {extra:,} validation)" if extra else "")


def render(records: Sequence[Mapping[str, Any]], order: Sequence[str] | None = None) -> str:
    """One row per arm: parameters, interaction and wall time per run (the mean; wall time depends on what else
    shared the cores), seeds, and the IQM [95 % CI] of average performance and forgetting over every (run, task)
    score; then the per-seed means.

    :param records: the records of :func:`collect`.
    :param order: the arms' order (default: as they come).
    """
    from psp_rl.sweep.summary import summarize_point

    arms = list(order or dict.fromkeys(r["arm"] for r in records))
    lines = [
        "| arm | mode | machinery | parameters | env steps per run | wall time per run (min) | seeds | "
        "avg perf IQM [95% CI] | forgetting IQM [95% CI] | avg perf per seed | forgetting per seed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        group = sorted((r for r in records if r["arm"] == arm), key=lambda r: r["seed"])
        if not group:
            continue
        stats = summarize_point(group)
        first = group[0]
        perf = " ".join(f"{r['avg_performance']:.3f}" for r in group)
        forgetting = " ".join(f"{r['forgetting']:.3f}" for r in group)
        lines.append(
            f"| {arm} | {first['mode']} | {_machinery(first)} | {first['param_count']:,} | {_interaction(group)} | "
            f"{np.mean([r['wall_time_s'] for r in group]) / 60:.0f} | "
            f"{' '.join(str(r['seed']) for r in group)} | {_cell(stats['avg_performance'])} | "
            f"{_cell(stats['forgetting'])} | {perf} | {forgetting} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    """Collect a sweep folder into a records file, or render one.

    :param argv: command-line arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collect", help="a sweep folder with named arms")
    parser.add_argument("--out", help="the records file that --collect writes")
    parser.add_argument("--render", help="print the table of a records file")
    args = parser.parse_args(argv)
    if args.collect:
        if not args.out:
            parser.error("--collect needs --out FILE (the records file)")
        records, unfinished = collect(Path(args.collect))
        write_json_atomic(Path(args.out), records)
        print(f"{len(records)} finished runs -> {args.out}; unfinished: {', '.join(unfinished) or 'none'}")
        text = render(records)
    elif args.render:
        text = render(json.loads(Path(args.render).read_text(encoding="utf-8")))
    else:
        parser.error("give --collect SWEEP --out FILE, or --render FILE")
    print(text)
    return text


if __name__ == "__main__":
    main()
