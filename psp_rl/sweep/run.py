"""``psp-rl sweep`` from start to end: the sweep's folder, its trials (finished ones skipped), the engine,
then ``summary.json``, the table and the plot.

The sweep folder ``OUT/``::

    sweep.yaml      the sweep's definition (agent, suite, seeds, grid, set, num_tasks, steps_per_task)
    runs/<trial>/   one folder per grid point and seed (g00_mode-psp__s0): the psp_rl run folder inside
                    it, and result.json once the run is done
    tune/<launch>/  Ray Tune's records of each launch (experiment state, per-trial progress)
    summary.json    one record per grid point: its overrides, seeds, and the aggregates
    summary.png     the aggregates with their confidence intervals

Example::

    from psp_rl.sweep import SweepSpec, run_sweep

    spec = SweepSpec(agent="ppo-psp", seeds=[0, 1], grid={"policy_kwargs.mode": ["psp", "shared"]},
                     num_tasks=2, steps_per_task=2000, workers=2)
    result = run_sweep(spec, "sweeps/demo")
    print(result.table)
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from psp_rl.sweep.extra import require_sweep_extra
from psp_rl.sweep.grid import (
    EXECUTION_KEYS,
    SweepSpec,
    load_sweep_file,
    parse_grid,
    point_label,
    set_items,
    trial_id,
)
from psp_rl.sweep.summary import format_table, plot_summary, summarize_point
from psp_rl.sweep.trial import find_run_folder, is_finished
from psp_rl.training.config import TrainConfig
from psp_rl.utils import write_atomic, write_json_atomic

__all__ = ["SweepResult", "build_trials", "run_sweep", "spec_from_options", "write_summary"]

SWEEP_FILE = "sweep.yaml"
#: the bootstrap of summary.json (fixed, so that a summary is reproducible)
BOOTSTRAP: dict[str, Any] = {"method": "percentile", "reps": 2000, "confidence": 0.95, "seed": 0}


@dataclasses.dataclass
class SweepResult:
    """What :func:`run_sweep` returns.

    :param out: the sweep folder.
    :param records: the records of ``summary.json`` (one per grid point).
    :param table: the printed table.
    :param trained: ids of the trials trained in this launch.
    :param skipped: ids of the trials that were finished already.
    :param failed: id -> error of the trials that failed every attempt.
    :param interrupted: ids of the trials left unfinished by a stopped launch.
    """

    out: Path
    records: list[dict[str, Any]]
    table: str
    trained: list[str]
    skipped: list[str]
    failed: dict[str, str]
    interrupted: list[str]


def spec_from_options(options: Mapping[str, Any]) -> tuple[SweepSpec, Path, bool]:
    """The sweep of the command line: a ``--file`` (if any), then the explicit options, or, with
    ``--resume OUT``, the saved ``OUT/sweep.yaml`` with the execution options given now.

    :param options: the parsed options (``vars(args)`` of ``psp-rl sweep``).
    :return: the spec, the sweep folder and whether it resumes.
    :raises ValueError: a missing ``--out``, options that a resume cannot change, bad values.
    """
    execution = {k: options.get(k) for k in EXECUTION_KEYS if options.get(k) is not None}
    sets = [item for group in options.get("sets") or [] for item in group]
    defining = {"agent", "suite", "seeds", "num_tasks", "steps_per_task", "file", "out"}
    if options.get("resume") is not None:
        given = sorted(k for k in defining if options.get(k) is not None)
        given += ["grid"] * bool(options.get("grid")) + ["set"] * bool(sets)
        if given:
            names = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ValueError(
                f"--resume continues the sweep saved in its sweep.yaml; drop {names} (or start a new sweep "
                "with another --out). --workers, --address and the resources per run may change."
            )
        out = Path(options["resume"])
        saved = out / SWEEP_FILE
        if not saved.is_file():
            raise ValueError(
                f"--resume {out}: not a sweep folder (no {SWEEP_FILE}); give the --out of a sweep."
            )
        definition = yaml.safe_load(saved.read_text(encoding="utf-8"))
        if not isinstance(definition, dict):
            raise ValueError(f"--resume {out}: {saved} is not a sweep definition (a mapping); was it edited?")
        return SweepSpec.from_mapping({**definition, **execution}, source=str(saved)), out, True
    data: dict[str, Any] = load_sweep_file(options["file"]) if options.get("file") else {}
    data.update(
        {
            k: options[k]
            for k in ("agent", "suite", "seeds", "num_tasks", "steps_per_task")
            if options.get(k) is not None
        }
    )
    data.update(execution)
    grid = parse_grid(options.get("grid") or [])
    data["grid"] = {**(data.get("grid") or {}), **grid}
    data["set"] = [*set_items(data.get("set") or []), *sets]
    out_value = options.get("out") or data.get("out")
    if not out_value:
        raise ValueError("psp-rl sweep needs --out DIR (the sweep's folder), or out: in the --file.")
    source = f"sweep file {options['file']}" if options.get("file") else "the sweep"
    return SweepSpec.from_mapping(data, source=source), Path(out_value), False


def _command(spec: SweepSpec, cfg: TrainConfig, point: Mapping[str, Any]) -> list[str]:
    """The ``psp-rl train`` line of one run (recorded in its command.txt: the run on its own)."""
    line = ["psp-rl", "train", "--agent", spec.agent, "--seed", str(cfg.seed)]
    if spec.suite is not None:
        line += ["--suite", spec.suite]
    for flag, value in (("--num-tasks", spec.num_tasks), ("--steps-per-task", spec.steps_per_task)):
        if value is not None:
            line += [flag, str(value)]
    items = [*spec.set, *spec.point_sets(point)]
    return line + (["--set", *items] if items else [])


def build_trials(spec: SweepSpec, out: Path) -> list[list[dict[str, Any]]]:
    """Every run of the sweep as an engine trial (configs resolved and validated here, on the driver).

    :param spec: the sweep.
    :param out: the sweep folder (absolute).
    :return: ``trials[point][seed index]``.
    """
    configs = spec.configs(out / "runs")
    trials = []
    for index, (point, per_seed) in enumerate(zip(spec.points(), configs)):
        row = []
        for cfg in per_seed:
            name = trial_id(index, point, cfg.seed)
            row.append(
                {
                    "trial_id": name,
                    "run_root": str(out / "runs" / name),
                    "config": cfg.to_dict(),
                    "command": _command(spec, cfg, point),
                    "point": index,
                }
            )
        trials.append(row)
    return trials


def _prepare_folder(spec: SweepSpec, out: Path, resume: bool) -> None:
    """Record the sweep's definition in ``OUT/sweep.yaml``; a folder of another sweep is an error."""
    saved = out / SWEEP_FILE
    definition = spec.definition()
    if saved.is_file():
        if yaml.safe_load(saved.read_text(encoding="utf-8")) != definition:
            raise ValueError(
                f"{out} holds another sweep ({saved} differs): continue it with psp-rl sweep --resume {out}, "
                "or give another --out."
            )
        return
    if resume:
        raise ValueError(f"--resume {out}: not a sweep folder (no {SWEEP_FILE}); give the --out of a sweep.")
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(saved, yaml.safe_dump(definition, sort_keys=False))


def write_summary(
    spec: SweepSpec, out: Path, trials: Sequence[Sequence[Mapping[str, Any]]]
) -> list[dict[str, Any]]:
    """Aggregate the finished runs of every grid point into ``summary.json`` and ``summary.png``.

    :param spec: the sweep.
    :param out: the sweep folder.
    :param trials: from :func:`build_trials`.
    :return: the records, one per grid point.
    """
    records = []
    for index, (point, row) in enumerate(zip(spec.points(), trials)):
        runs, seeds, paths = [], [], []
        for trial in row:
            run = find_run_folder(trial["run_root"])
            if run is not None and is_finished(trial["run_root"]):
                runs.append(json.loads((run / "metrics.json").read_text()))
                seeds.append(int(trial["config"]["seed"]))
                paths.append(str(run.relative_to(out)))
        stats = summarize_point(
            runs, reps=BOOTSTRAP["reps"], confidence=BOOTSTRAP["confidence"], seed=BOOTSTRAP["seed"]
        )
        records.append(
            {
                "point": index,
                "label": point_label(point),
                "overrides": dict(point),
                "seeds": list(spec.seeds),
                "finished_seeds": seeds,
                "runs": paths,
                **stats,
            }
        )
    summary = {"sweep": spec.definition(), "bootstrap": BOOTSTRAP, "points": records}
    write_json_atomic(out / "summary.json", summary)
    title = f"{spec.agent} on {spec.suite or 'its suite'}: {len(spec.seeds)} seeds per grid point"
    plot_summary(records, out / "summary.png", title=title)
    return records


def run_sweep(spec: SweepSpec, out: str | Path, *, resume: bool = False, verbose: int = 1) -> SweepResult:
    """Run every unfinished run of a sweep on Ray Tune, then write and print its summary.

    A run whose folder holds its final metrics is not trained again, so an interrupted sweep continues
    where it stopped (``resume=True``, or the same sweep into the same ``out``).

    :param spec: the sweep.
    :param out: the sweep folder.
    :param resume: continue the sweep saved in ``out`` (``spec`` must be its definition, as
        :func:`spec_from_options` reads it); without it a new sweep, or the same sweep again.
    :param verbose: 1 prints the plan, a line per finished run and the table.
    :return: the records, the table and what happened to each run.
    :raises ValueError: an invalid config of some run, or the ``ray`` extra is missing.
    """
    out = Path(out).resolve()
    trials = build_trials(spec, out)  # every config checked before anything starts
    require_sweep_extra()
    from psp_rl.sweep.engine import run_trials

    _prepare_folder(spec, out, resume)
    flat = [row[i] for i in range(len(spec.seeds)) for row in trials]  # seed-major: every arm of seed 0 first
    todo = [t for t in flat if not is_finished(t["run_root"])]
    skipped = [t["trial_id"] for t in flat if t not in todo]
    if verbose:
        print(
            f"{len(flat)} runs ({len(trials)} grid points x {len(spec.seeds)} seeds), {len(skipped)} finished "
            f"already in {out}, {len(todo)} to train",
            flush=True,
        )
    outcome = run_trials(
        todo,
        out / "tune",
        workers=spec.workers,
        address=spec.address,
        cpus_per_run=spec.cpus_per_run,
        gpus_per_run=spec.gpus_per_run,
        max_failures=spec.max_failures,
        verbose=verbose,
    )
    records = write_summary(spec, out, trials)
    table = format_table(records)
    if verbose:
        print(f"\nSweep {out} (summary.json, summary.png):\n{table}", flush=True)
        for name, error in outcome.failed.items():
            print(f"FAILED {name}: {error}", file=sys.stderr)
        if outcome.failed:
            print(
                f"{len(outcome.failed)} run(s) failed every attempt (see above); after a fix, "
                f"psp-rl sweep --resume {shlex.quote(str(out))} runs them again.",
                file=sys.stderr,
            )
        if outcome.interrupted:
            print(
                f"{len(outcome.interrupted)} run(s) unfinished. Continue with:\n"
                f"  psp-rl sweep --resume {shlex.quote(str(out))}",
                file=sys.stderr,
            )
    return SweepResult(
        out=out,
        records=records,
        table=table,
        trained=outcome.finished,
        skipped=skipped,
        failed=outcome.failed,
        interrupted=outcome.interrupted,
    )
