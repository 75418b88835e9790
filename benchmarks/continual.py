"""The continual-learning benchmark: agents x suites x seeds, raw results as JSON, ``docs/results.md``.

Experiments (``--experiment``, several allowed):

1. ``cartpole-permuted``, K = 10, PPO, every mode (psp, shared, onehot, multihead, separate) and EWC:
   average performance, forgetting, forward transfer, parameter count, wall time.
2. Capacity: PSP binary / complex / rotation on ``cartpole-permuted``, K = 10, 50, 100 at width 256
   and K = 10, 50 at width 64: final normalised performance and forgetting against K.
3. Output interference: ``cartpole-actions`` (two action labellings, alternating), K = 10, PPO,
   psp vs shared vs onehot.
4. Continuous control: ``pendulum-permuted`` (permuted observations, torque reversed in half the
   variants) with SAC, psp vs shared.
5. Multi-task at once (``parallel`` schedule: sub-env i runs task i mod K): ``cartpole-permuted``,
   K = 5 and 10, PPO, psp vs onehot vs multihead vs separate; mean normalised return against env steps.
6. The overhead figures of ``benchmarks/overhead.py`` (run here, written into the same JSON).
7. No cost at K = 1: every algorithm preset (``ppo-psp``, ``a2c-psp``, ``dqn-psp`` on
   ``cartpole-permuted``; ``sac-psp``, ``td3-psp`` on ``pendulum-permuted``) with a single variant, as
   is (``psp``) and with SB3's own ``MultiInputPolicy`` (``sb3``: same hyper-parameters, ``net_arch`` and
   activation; the PSP-only policy arguments dropped): final return, area under the learning curve
   and wall time over seeds. With K = 1 the variant is one fixed permutation (+ sign flip) of the
   observation, the same for both agents.
8. Default presets keep every variant: the presets ``ppo-psp`` and ``a2c-psp`` as they are (no
   overrides at all: their own width, mode, context and hyper-parameters) on ``cartpole-permuted``,
   50k steps per task, evaluation at phase ends: ``ppo-psp`` K = 5 seeds 0-4 and K = 10 seeds 0-2,
   ``a2c-psp`` K = 5 seeds 0-4 (explicit ``combos``). The report adds a per-seed table and checks the
   targets (average performance >= 0.97 and forgetting <= 0.02 on every seed).

Every run is ``psp_rl.training.train(config)`` with the agent preset (``ppo-psp``, ``sac-psp``) and the
mode / width / context set by overrides, so every agent of an experiment shares widths,
hyper-parameters and seeds; experiment 8 runs each preset as is (no overrides; an evaluation budget
other than the preset's own is the only ``--set`` it may get).

The runs are trials of the sweep engine (``psp_rl.sweep``, Ray Tune; ``pip install "psp-rl[ray]"``): as
many at a time as ``--workers`` CPUs (a local Ray), or on a running Ray cluster (``--address``, shared
storage for ``--run-dir`` and ``--out``; docs/sweeps.md). A failed run is retried from its last
checkpoint. ``--in-process`` trains them one after another in this process instead, without Ray (for
debugging). Each run has its own folder ``<run-dir>/exp<N>/<run key>/``; each finished run goes into
``--out`` at once (atomic write), so an interrupted benchmark keeps what it finished; running the same
command again skips the runs already there (``--force`` re-runs them) and resumes an interrupted run
from its checkpoint. Invocations that each run part of an experiment write into the same ``--out``.
``docs/results.md`` and its figures are rendered from the JSON.

Forward transfer uses, for each task, the AUC of the ``separate`` agent (K independent networks, so
every task is learned from scratch: a single-task reference) of the same experiment, K and seed.

Run::

    python benchmarks/continual.py --experiment 1 --seeds 0 1 2            # the full protocol
    python benchmarks/continual.py --experiment 1 --quick --workers 2      # reduced budget, 2 at a time
    python benchmarks/continual.py --experiment 1 --address auto --run-dir /shared/bench   # a Ray cluster
    python benchmarks/continual.py --experiment 1 --quick --seeds 0 --agents psp --in-process  # no Ray
    python benchmarks/continual.py --experiment 7 --presets sac-psp td3-psp # some presets of 7
    python benchmarks/continual.py --experiment 8 --out results/defaults.json --report docs/defaults.md
    python benchmarks/continual.py --render-only --out results/continual.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent_labels import DIAGNOSTIC_AGENT, EWC_LAMBDA
from experiments import experiment_spec
from jobs import job_run_root, job_trial, job_trial_id, make_jobs, run_job
from results_file import _experiment_entry, load_results, record_run, save_results

ROOT = Path(__file__).resolve().parent.parent


def run_overhead(results: dict[str, Any], args: argparse.Namespace, command: str) -> None:
    """Run ``benchmarks/overhead.py`` and store its figures under ``results["overhead"]``."""
    out = Path(args.out).with_suffix(".overhead.json")
    extra = ["--steps", "4000", "--repeats", "1", "--iters", "50"] if args.quick else []
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "overhead.py"), *extra, "--json", str(out)], check=True
    )
    data = json.loads(out.read_text())
    data["command"] = " ".join(["python", "benchmarks/overhead.py", *extra])
    data["benchmark_command"] = command
    data["wall_time_s"] = round(time.perf_counter() - started, 1)
    results["overhead"] = data


def run_on_engine(
    todo: list[dict[str, Any]], args: argparse.Namespace, record_done: Callable[[dict[str, Any], Any], None]
) -> list[str]:
    """Run the jobs as trials of the sweep engine (Ray Tune); each finished record goes to ``record_done``
    on this machine as it arrives.

    :return: the keys of the jobs that failed every attempt.
    :raises KeyboardInterrupt: the run was stopped before every job finished.
    """
    from psp_rl.sweep.extra import require_sweep_extra
    from psp_rl.utils import MissingExtraError

    try:
        require_sweep_extra()
    except MissingExtraError as error:
        raise ValueError(f"{error} (or train the runs without Ray: --in-process)") from error
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers} (--in-process trains without Ray).")
    from psp_rl.sweep.engine import run_trials

    by_id = {job_trial_id(job): job for job in todo}
    outcome = run_trials(
        [job_trial(job) for job in todo],
        Path(args.run_dir) / "tune",
        workers=args.workers,
        address=args.address,
        gpus_per_run=args.gpus_per_run,
        max_failures=args.max_failures,
        on_result=lambda trial_id, record: record_done(by_id[trial_id], record),
        verbose=0,
    )
    for trial_id, error in outcome.failed.items():
        print(f"FAILED {by_id[trial_id]['key']}: {error}", flush=True)
    if outcome.interrupted:
        print(f"{len(outcome.interrupted)} run(s) unfinished: run the same command again to continue.")
        raise KeyboardInterrupt
    return [by_id[trial_id]["key"] for trial_id in outcome.failed]


#: the notes file rendered when --notes is not given (if it exists)
DEFAULT_NOTES = "results/notes.json"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--experiment", nargs="+", default=[], help="experiments to run: 1 2 3 4 5 6 7 8")
    parser.add_argument("--quick", action="store_true", help="the reduced budget (see QUICK)")
    parser.add_argument("--seeds", type=int, nargs="+", help="override the seeds")
    parser.add_argument("--steps-per-task", type=int, help="override the env steps per task phase")
    parser.add_argument(
        "--num-tasks", type=int, nargs="+", help="override K (a list for experiments 2, 5, 8)"
    )
    parser.add_argument("--widths", type=int, nargs="+", help="override the hidden widths")
    parser.add_argument(
        "--agents",
        nargs="+",
        help=f"override the agents: modes, ewc (--ewc-lambda), ewc-<lambda>, psp-<context>, psp-nolift, "
        f"{DIAGNOSTIC_AGENT}",
    )
    parser.add_argument("--eval-episodes", type=int, help="override the evaluation episodes per task")
    parser.add_argument(
        "--presets", nargs="+", help="experiment 7: override the agent presets (ppo-psp a2c-psp ...)"
    )
    parser.add_argument("--ewc-lambda", type=float, default=EWC_LAMBDA, help="EWC penalty strength")
    parser.add_argument(
        "--workers", type=int, default=None, help="runs at a time: the CPUs of a local Ray (default: all)"
    )
    parser.add_argument(
        "--address", default=None, help="run on this Ray cluster (default: RAY_ADDRESS, else a local Ray)"
    )
    parser.add_argument("--gpus-per-run", type=float, default=0.0, help="GPUs Ray reserves per run")
    parser.add_argument("--max-failures", type=int, default=2, help="retries of a failed run")
    parser.add_argument(
        "--in-process", action="store_true", help="train the runs one by one in this process, without Ray"
    )
    parser.add_argument("--out", default="results/continual.json", help="raw results JSON (merged into)")
    parser.add_argument("--run-dir", default="runs/bench", help="parent folder of the run folders")
    parser.add_argument("--report", default="docs/results.md", help="markdown report to render")
    parser.add_argument("--fig-dir", default="docs/figures", help="folder of the report's figures")
    parser.add_argument("--no-report", action="store_true", help="do not render the report")
    parser.add_argument(
        "--notes",
        default=None,
        help="findings shown in the report (JSON; default results/notes.json, if it exists)",
    )
    parser.add_argument("--render-only", action="store_true", help="only render the report from --out")
    parser.add_argument("--force", action="store_true", help="re-run runs already in --out")
    parser.add_argument("--dry-run", action="store_true", help="list the runs, train nothing")
    args = parser.parse_args(argv)

    command = " ".join(
        ["python", "benchmarks/continual.py", *(shlex.quote(a) for a in (argv or sys.argv[1:]))]
    )
    out = Path(args.out)
    results = load_results(out)
    failed: list[str] = []
    if not args.render_only:
        names = [e for e in args.experiment if e != "6"]
        jobs: list[dict[str, Any]] = []
        for name in names:
            spec = experiment_spec(name, args)
            _experiment_entry(results, name, spec, command)
            jobs += make_jobs(name, spec, args.run_dir)
        done = {r["key"] for e in results["experiments"].values() for r in e["runs"]}
        todo = [j for j in jobs if args.force or j["key"] not in done]
        # longest first (env steps in all), so parallel workers do not wait on one long run at the end
        todo.sort(key=lambda j: -j["num_tasks"] * j["steps_per_task"] * ((j["width"] or 64) / 64) ** 0.5)
        print(f"{len(jobs)} runs, {len(jobs) - len(todo)} already in {out}, {len(todo)} to train")
        if args.dry_run:
            for job in todo:
                print(" ", job["key"], " ".join(job["sets"]) or f"(the preset {job['preset']} as is)")
            return results
        save_results(out, results)
        if args.force:  # a run folder of an earlier attempt would be picked up: set it aside
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for job in todo:
                root = job_run_root(job)
                if root.exists():
                    root.rename(root.with_name(f"{root.name}.replaced-{stamp}"))
        started = time.perf_counter()

        def record_done(job: dict[str, Any], record: dict[str, Any]) -> None:
            record["command"] = command
            record_run(results, record)
            save_results(out, results)
            show = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
            if record["num_tasks"] == 1:
                auc = (record.get("task_auc") or [None])[0]
                final = (record.get("final_returns") or [None])[0]
                what = f"final return {show(final)}, AUC {show(auc)}"
            else:
                what = f"avg perf {show(record['avg_performance'])}, forgetting {show(record['forgetting'])}"
            print(
                f"done {record['key']}: {what}, params {record['param_count']}, "
                f"{record['wall_time_s']:.0f}s [{time.perf_counter() - started:.0f}s total]",
                flush=True,
            )

        if args.in_process:  # one after another in this process: no Ray, easy to debug
            for job in todo:
                try:
                    record_done(job, run_job(job))
                except Exception as error:  # keep the others going; report at the end
                    print(f"FAILED {job['key']}: {error!r}", flush=True)
                    failed.append(job["key"])
        else:
            failed += run_on_engine(todo, args, record_done)
        if "6" in args.experiment:
            run_overhead(results, args, command)
            save_results(out, results)
    if not args.no_report:
        from report import render

        notes = Path(args.notes or DEFAULT_NOTES)
        if args.notes and not notes.is_file():
            raise FileNotFoundError(
                f"--notes {args.notes}: no such notes file (a JSON of findings, see report.py)."
            )
        notes = notes if notes.is_file() else None
        render(out, out_md=args.report, fig_dir=args.fig_dir, notes=notes)
        print(f"wrote {args.report} and figures in {args.fig_dir}")
    if failed:
        raise RuntimeError(f"{len(failed)} run(s) failed: {', '.join(failed)} (see the messages above).")
    return results


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as error:  # bad input: one line naming the fix
        sys.exit(f"continual.py: error: {error}")
    except KeyboardInterrupt:  # what finished is in --out; the same command continues
        sys.exit(130)
