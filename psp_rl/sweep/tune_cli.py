"""The options of ``psp-rl tune`` (argparse) and the command itself: parse, run the tune, print.

Example::

    psp-rl tune --agent dqn-psp --suite cartpole-permuted --samples 30 --num-tasks 3 --out tunes/dqn
    psp-rl tune --resume tunes/dqn --samples 40
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psp_rl.sweep.tune import TuneSpec

__all__ = ["add_tune_parser", "cmd_tune", "spec_from_options"]


def add_tune_parser(sub: Any) -> None:
    """Add the ``tune`` subcommand to ``psp-rl``'s subparsers.

    :param sub: the result of ``parser.add_subparsers()``.
    """
    tu = sub.add_parser(
        "tune",
        help='fit a preset\'s hyperparameters to a suite: TPE search with early stopping (pip install "psp-rl[ray]")',
        description="Optuna's TPE search on Ray Tune over a space of config keys, poor trials stopped early "
        "(ASHA); writes DIR/best.yaml, a preset for psp-rl train --agent. See docs/sweeps.md#tuning-a-preset.",
    )
    tu.add_argument("--resume", default=None, metavar="DIR", help="continue the tune in DIR (its tune.yaml)")
    tu.add_argument("--agent", default=None, help="agent preset name or YAML path (default ppo-psp)")
    tu.add_argument("--suite", default=None, help="task suite name or YAML path (default: the preset's)")
    tu.add_argument("--samples", type=int, default=None, help="number of trials (default 20)")
    tu.add_argument(
        "--space", default=None, metavar="FILE", help="search space YAML (default: the algorithm's)"
    )
    tu.add_argument(
        "--metric",
        choices=("final", "auc", "avg_performance"),
        default=None,
        help="the objective: final = avg_performance - forgetting at the end (default), auc = mean task AUC",
    )
    tu.add_argument("--seed", type=int, default=None, help="the seed of every trial and of TPE (default 0)")
    tu.add_argument(
        "--scheduler", choices=("asha", "median", "none"), default=None, help="early stopping (default asha)"
    )
    tu.add_argument(
        "--set",
        dest="sets",
        action="append",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="an override shared by every trial, as for psp-rl train",
    )
    tu.add_argument(
        "--num-tasks", type=int, default=None, help="number of task variants (default: the suite's)"
    )
    tu.add_argument("--steps-per-task", type=int, default=None, help="env steps per task phase")
    tu.add_argument("--workers", type=int, default=None, help="CPUs of a local Ray (default: all)")
    tu.add_argument("--cpus-per-run", type=float, default=None, help="CPUs reserved per trial (default 1)")
    tu.add_argument("--gpus-per-run", type=float, default=None, help="GPUs per trial, e.g. 0.25 (default 0)")
    tu.add_argument("--address", default=None, help="join a running Ray cluster (default: a local Ray)")
    tu.add_argument("--out", default=None, metavar="DIR", help="the tune's folder (trials, best.yaml)")


def cmd_tune(args: argparse.Namespace) -> int:
    """Run ``psp-rl tune``.

    :param args: the parsed options.
    :return: 0 when a trial finished (best.yaml written), 1 otherwise.
    """
    from psp_rl.sweep.tune import run_tune

    spec, out, resume = spec_from_options(vars(args))
    result = run_tune(spec, out, resume=resume)
    return 0 if result.best is not None else 1


def spec_from_options(options: Mapping[str, Any]) -> tuple[TuneSpec, Path, bool]:
    """The tune of the command line, or with ``--resume DIR`` the saved one (``--samples`` may grow it).

    :param options: ``vars(args)`` of ``psp-rl tune``.
    :return: the spec, the folder and whether it resumes.
    :raises ValueError: a missing ``--out``, options a resume cannot change.
    """
    from psp_rl.sweep.grid import set_items
    from psp_rl.sweep.space import load_space_file
    from psp_rl.sweep.tune import DEFINITION_KEYS, TUNE_FILE, TuneSpec, load_definition
    from psp_rl.utils import did_you_mean

    execution = {
        k: options[k]
        for k in ("workers", "cpus_per_run", "gpus_per_run", "address")
        if options.get(k) is not None
    }
    sets = [item for group in options.get("sets") or [] for item in group]
    if options.get("resume") is not None:
        defining = (
            "agent",
            "suite",
            "seed",
            "metric",
            "space",
            "num_tasks",
            "steps_per_task",
            "scheduler",
            "out",
        )
        given = [k for k in defining if options.get(k) is not None] + ["set"] * bool(sets)
        if given:
            names = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ValueError(
                f"--resume continues the tune saved in its {TUNE_FILE}; drop {names} "
                "(--samples may raise the number of trials)."
            )
        out = Path(options["resume"])
        data = load_definition(out)
        valid = (*DEFINITION_KEYS, "samples")
        unknown = [k for k in data if k not in valid]
        if unknown:
            raise ValueError(
                f"{out / TUNE_FILE}: unknown key {unknown[0]!r}.{did_you_mean(unknown[0], valid)}"
            )
        if options.get("samples") is not None:
            data["samples"] = options["samples"]
        return TuneSpec(**data, **execution), out, True
    if not options.get("out"):
        raise ValueError("psp-rl tune needs --out DIR (the tune's folder).")
    data = {
        k: options[k]
        for k in ("agent", "suite", "seed", "metric", "num_tasks", "steps_per_task", "scheduler", "samples")
        if options.get(k) is not None
    }
    if options.get("space"):
        data["space"] = load_space_file(options["space"])
    return TuneSpec(**data, set=set_items(sets), **execution), Path(options["out"]), False
