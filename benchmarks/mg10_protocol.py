"""Collect a ``psp-rl sweep`` of MiniGrid MG10 at the published protocol (``benchmarks/protocols/mg10.yaml``)
into one JSON record file: every finished run's scores, the protocol's ICR and TPOT, its learning curves and
parameter count, and the runs still in progress or not started.

The sweep folder is read only: ``sweep.yaml`` (arms and seeds) and ``runs/<gNN_arm-NAME__sS>/<run folder>/``
with ``config.yaml``, ``command.txt``, ``versions.json``, ``checkpoints/`` and, once the run has trained all
its steps, ``metrics.json`` and ``model.zip``. A run without final metrics is *in progress* (its newest
complete checkpoint's step is recorded, none of its scores). The section of ``docs/results.md`` is rendered
from the file by ``benchmarks/mg10_protocol_page.py`` (a ``"table": "mg10-protocol"`` entry of
``results/notes.json``).

Run::

    python benchmarks/mg10_protocol.py --sweep sweeps/mg10-protocol --out results/sweeps/mg10-protocol.json
    python benchmarks/continual.py --render-only --out results/continual.json   # re-render docs/results.md
"""

from __future__ import annotations

import argparse
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from psp_rl.lifelong_metrics import icr_tpot
from psp_rl.sweep.trial import find_run_folder, is_finished
from psp_rl.training.checkpoint import find_latest_checkpoint
from psp_rl.utils import write_atomic

__all__ = ["collect", "compact_history", "parameter_counts", "run_record", "trial_arm_seed"]

SCHEMA = 1
PROTOCOL_FILE = "benchmarks/protocols/mg10.yaml"
_NUMBERS = re.compile(r"\[\s*((?:-?[0-9.eE+-]+|null)(?:,\s*(?:-?[0-9.eE+-]+|null))*)\s*\]")
_TRIAL = re.compile(r"^g(?P<index>\d+)_arm-(?P<arm>.+)__s(?P<seed>\d+)$")


def trial_arm_seed(name: str) -> tuple[str, int]:
    """The arm and seed of a sweep trial folder (``g03_arm-mask-lc__s2`` -> ``("mask-lc", 2)``).

    :param name: the folder's name.
    :raises ValueError: when the name is not that of a trial of a sweep with ``arms``.
    """
    match = _TRIAL.match(name)
    if match is None:
        raise ValueError(
            f"runs/{name}: not a trial folder of a sweep with arms (gNN_arm-NAME__sS); give the --out folder "
            "of `psp-rl sweep --file benchmarks/protocols/mg10.yaml`."
        )
    return match["arm"], int(match["seed"])


def compact_history(history: Sequence[Mapping[str, Any]], digits: int = 4) -> dict[str, list]:
    """The learning curves of a run: ``{"step": [S], "normalized": [S][K]}`` (as ``benchmarks/report.py``
    reads them), rounded.

    :param history: ``metrics.json["eval_history"]``.
    :param digits: decimals kept.
    """
    return {
        "step": [int(e["step"]) for e in history],
        "normalized": [
            [None if v is None else round(float(v), digits) for v in e["normalized"]] for e in history
        ],
    }


def parameter_counts(model_zip: Path, algo: str) -> dict[str, int] | None:
    """The policy's trainable parameters and its fixed tensors (buffers: PSP's context keys, the fixed
    backbone of the mask modes), from a saved SB3 model; ``None`` when it cannot be read (a checkpoint
    replaced while the sweep runs).

    :param model_zip: an SB3 ``model.zip``.
    :param algo: the run's ``algo`` (``ppo``, ...).
    """
    from psp_rl.training.build import algo_class

    try:
        policy = algo_class(algo).load(model_zip, device="cpu").policy
    except (OSError, ValueError, KeyError, RuntimeError, EOFError, zipfile.BadZipFile):
        return None
    return {
        "trainable": int(sum(p.numel() for p in policy.parameters() if p.requires_grad)),
        "frozen": int(sum(p.numel() for p in policy.parameters() if not p.requires_grad)),
        "buffers": int(sum(b.numel() for b in policy.buffers())),
    }


def _commit(run: Path) -> str | None:
    try:
        return json.loads((run / "versions.json").read_text()).get("git_commit")
    except (OSError, ValueError):
        return None


def _commands(run: Path) -> list[str]:
    try:
        return [line for line in (run / "command.txt").read_text().splitlines() if line.strip()]
    except OSError:
        return []


def run_record(run: Path, arm: str, seed: int, parameters: bool = True) -> dict[str, Any]:
    """What a finished run of the sweep measured.

    :param run: the run folder (with ``metrics.json`` and ``config.yaml``).
    :param arm: its arm.
    :param seed: its seed.
    :param parameters: count the parameters of its ``model.zip`` (loads the model).
    """
    metrics = json.loads((run / "metrics.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    history = metrics.get("eval_history") or []
    every = (config.get("eval") or {}).get("eval_freq")
    icr, tpot = icr_tpot(history, every=every, key="returns")
    rows, tasks = metrics["perf_matrix"], metrics["phase_tasks"]
    commands = _commands(run)
    return {
        "arm": arm,
        "seed": seed,
        "trial": run.parent.name,
        "run": run.name,
        "commit": _commit(run),
        "command": commands[0] if commands else None,
        "starts": len(commands),  # one line per start: the first and every resume
        "agent": config["agent"],
        "suite": config["suite"],
        "num_tasks": metrics["num_tasks"],
        "steps_per_task": config["steps_per_task"],
        "eval_freq": every,
        "eval_episodes": metrics["eval_episodes"],
        "deterministic": metrics.get("eval_deterministic", True),
        "policy_mode": (config.get("policy_kwargs") or {}).get("mode", "psp"),
        "view": ((config.get("suite_overrides") or {}).get("task_env") or {}).get("view", "flat"),
        "ewc_lambda": (config.get("ewc") or {}).get("lambda", 0.0),
        "num_timesteps": metrics["num_timesteps"],
        "interaction": metrics.get("interaction") or {"training": metrics["num_timesteps"]},
        "wall_time_s": round(float(metrics["wall_time_s"]), 1),
        "avg_performance": metrics["avg_performance"],
        "forgetting": metrics["forgetting"],
        "forgetting_per_task": metrics.get("forgetting_per_task"),
        "after_own_phase": [rows[i][tasks[i]] for i in range(len(rows))],
        "final_normalized": metrics["final_normalized"],
        "final_returns": metrics["final_returns"],
        "perf_matrix": rows,
        "icr_final": icr[-1] if icr else None,
        "tpot": tpot,
        "icr_evaluations": len(icr),
        "parameters": parameter_counts(run / "model.zip", config["algo"]) if parameters else None,
        "history": compact_history(history),
    }


def _task_label(task: Mapping[str, Any]) -> str:
    """``SimpleCrossingS9N1 (860)``: the MiniGrid env without its prefix and version, and its layout seed."""
    return f"{task['env_id'].removeprefix('MiniGrid-').removesuffix('-v0')} ({task.get('seed')})"


def _protocol(config: Mapping[str, Any]) -> dict[str, Any]:
    spec = config.get("suite_spec") or {}
    return {
        "agent": config["agent"],
        "suite": config["suite"],
        "num_tasks": config["num_tasks"],
        "steps_per_task": config["steps_per_task"],
        "n_envs": config.get("n_envs"),
        "eval_freq": (config.get("eval") or {}).get("eval_freq"),
        "eval_episodes": (config.get("eval") or {}).get("episodes"),
        "deterministic": (config.get("eval") or {}).get("deterministic", True),
        "tasks": [_task_label(t) for t in spec.get("tasks") or []],
    }


def collect(sweep: str | Path, parameters: bool = True, protocol_file: str = PROTOCOL_FILE) -> dict[str, Any]:
    """Read a sweep folder (never writes to it).

    :param sweep: the sweep's ``--out`` folder (``sweep.yaml``, ``runs/``).
    :param parameters: count each run's parameters from its ``model.zip`` / newest checkpoint.
    :param protocol_file: the sweep file it was started from (for the commands).
    :return: ``{"schema", "sweep", "arms", "seeds", "set", "protocol", "commits", "commands", "runs",
        "in_progress", "not_started"}``.
    :raises ValueError: when the folder is not a sweep folder with arms.
    """
    sweep = Path(sweep)
    if not (sweep / "sweep.yaml").is_file():
        raise ValueError(f"--sweep {sweep}: no sweep.yaml there; give the --out folder of `psp-rl sweep`.")
    spec = yaml.safe_load((sweep / "sweep.yaml").read_text()) or {}
    arms, seeds = list(spec.get("arms") or {}), [int(s) for s in spec.get("seeds") or []]
    if not arms:
        raise ValueError(f"--sweep {sweep}: its sweep.yaml has no arms; this collector reads arm sweeps.")
    runs, in_progress, seen, protocol = [], [], set(), None
    for trial in sorted(p for p in (sweep / "runs").glob("g*") if p.is_dir()):
        arm, seed = trial_arm_seed(trial.name)
        run = find_run_folder(trial)
        if run is None:
            continue  # a trial folder whose run has not written its config yet: not started
        seen.add((arm, seed))
        config = yaml.safe_load((run / "config.yaml").read_text())
        if protocol is None or arm == arms[0]:
            protocol = _protocol(config)
        if is_finished(trial):
            runs.append(run_record(run, arm, seed, parameters))
            continue
        checkpoint = find_latest_checkpoint(run)
        step = int(checkpoint.name.removeprefix("step_")) if checkpoint else 0  # step_000001536000
        counts = (
            parameter_counts(checkpoint / "model.zip", config["algo"]) if checkpoint and parameters else None
        )
        in_progress.append(
            {
                "arm": arm,
                "seed": seed,
                "trial": trial.name,
                "run": run.name,
                "commit": _commit(run),
                "step": int(step),
                "total_timesteps": int(config.get("total_timesteps") or 0),
                "parameters": counts,
            }
        )
    name = sweep.name
    return {
        "schema": SCHEMA,
        "sweep": name,
        "description": spec.get("description"),
        "arms": {arm: list(spec["arms"][arm] or []) for arm in arms},
        "seeds": seeds,
        "set": list(spec.get("set") or []),
        "protocol": protocol,
        "commits": sorted({r["commit"] for r in runs + in_progress if r.get("commit")}),
        "commands": {
            "sweep": f"psp-rl sweep --file {protocol_file} --out sweeps/{name} --workers {spec.get('workers', 2)}",
            "resume": f"psp-rl sweep --resume sweeps/{name}",
            "collect": f"python benchmarks/mg10_protocol.py --sweep sweeps/{name} --out results/sweeps/{name}.json",
            "render": "python benchmarks/continual.py --render-only --out results/continual.json",
        },
        "runs": sorted(
            runs, key=lambda r: (arms.index(r["arm"]) if r["arm"] in arms else len(arms), r["seed"])
        ),
        "in_progress": in_progress,
        "not_started": [{"arm": a, "seed": s} for a in arms for s in seeds if (a, s) not in seen],
    }


def dumps(data: Any) -> str:
    """JSON with every innermost list of numbers on one line (a learning curve is a few hundred of them).

    :param data: the collected record file.
    """
    text = json.dumps(data, indent=1)
    return _NUMBERS.sub(lambda m: "[" + re.sub(r",\s*", ", ", m[1]) + "]", text)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Collect and write the record file.

    :param argv: command-line arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", required=True, help="the sweep's folder (read only)")
    parser.add_argument("--out", default="results/sweeps/mg10-protocol.json", help="the JSON file to write")
    parser.add_argument("--protocol", default=PROTOCOL_FILE, help="the sweep file it was started from")
    parser.add_argument("--no-parameters", action="store_true", help="do not load models to count parameters")
    args = parser.parse_args(argv)
    data = collect(args.sweep, parameters=not args.no_parameters, protocol_file=args.protocol)
    write_atomic(args.out, dumps(data) + "\n")
    print(
        f"wrote {args.out}: {len(data['runs'])} finished, {len(data['in_progress'])} in progress, "
        f"{len(data['not_started'])} not started"
    )
    return data


if __name__ == "__main__":
    try:
        main()
    except ValueError as error:
        raise SystemExit(f"mg10_protocol.py: error: {error}") from None
