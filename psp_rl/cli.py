"""The ``psp-rl`` command: ``train``, ``eval``, ``sweep``, ``tune`` and ``list``.

Examples::

    psp-rl train --agent ppo-psp --suite cartpole-permuted
    psp-rl train --agent ppo-psp --suite cartpole-permuted --set hyperparams.learning_rate=3e-4 --seed 1
    psp-rl train --resume runs/cartpole-permuted__ppo-psp__s0__20250101-120000
    psp-rl eval runs/cartpole-permuted__ppo-psp__s0__20250101-120000 --episodes 20
    psp-rl eval runs/cartpole-permuted__ppo-psp__s0__20250101-120000 --infer-task --switch-every 100 --json eval.json
    psp-rl eval runs/cartpole-permuted__ppo-psp__s0__20250101-120000 --video videos
    psp-rl sweep --agent ppo-psp --seeds 0 1 2 --grid policy_kwargs.mode=psp,shared --out sweeps/modes
    psp-rl sweep --resume sweeps/modes
    psp-rl tune --agent dqn-psp --samples 30 --num-tasks 3 --out tunes/dqn
    psp-rl list
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from psp_rl.sweep.tune_cli import add_tune_parser, cmd_tune

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """:return: the argument parser of ``psp-rl``."""
    parser = argparse.ArgumentParser(
        prog="psp-rl",
        description="Multi-task / continual RL with Parameter Superposition on Stable-Baselines3.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{train,eval,sweep,tune,list}")
    sub.required = True

    tr = sub.add_parser("train", help="train an agent preset on a task suite (or --resume a run)")
    tr.add_argument(
        "--agent", default=None, help="agent preset name in agents/ or a YAML path (default ppo-psp)"
    )
    tr.add_argument(
        "--suite", default=None, help="task suite name in envs/ or a YAML path (default: the preset's)"
    )
    tr.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    tr.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default=None, help="torch device (default auto)"
    )
    tr.add_argument("--n-envs", type=int, default=None, help="parallel training envs (default: the preset's)")
    tr.add_argument(
        "--steps-per-task",
        type=int,
        default=None,
        help="env steps per task phase (default: the suite's); with --resume and --num-tasks: per added task",
    )
    tr.add_argument(
        "--num-tasks",
        type=int,
        default=None,
        help="number of task variants (default: the suite's); with --resume: grow the run to this many",
    )
    tr.add_argument("--run-dir", default=None, help="parent folder of run folders (default runs/)")
    _add_sets(
        tr, "override a config key, e.g. --set hyperparams.learning_rate=1e-3 policy_kwargs.context=complex"
    )
    tr.add_argument(
        "--reference", default=None, help="single-task reference run folder, for forward transfer"
    )
    tr.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR",
        help="continue an interrupted run (or a finished one, with --num-tasks)",
    )
    tr.add_argument(
        "--skip-damaged",
        action="store_true",
        help="with --resume: continue from the newest intact checkpoint when newer ones are damaged",
    )
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    tr.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1: fastest for small nets)"
    )

    ev = sub.add_parser("eval", help="per-task return table of a saved run's agent")
    ev.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run folder (runs/<suite>__<agent>__s<seed>__<time>)"
    )
    ev.add_argument(
        "--episodes", type=int, default=None, help="episodes per task (default: the run's eval.episodes)"
    )
    ev.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="torch device")
    ev.add_argument(
        "--stochastic", action="store_true", help="sample actions instead of the deterministic policy"
    )
    ev.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ev.add_argument(
        "--infer-task",
        action="store_true",
        help="also evaluate without telling the agent the task (it infers it from what it sees)",
    )
    ev.add_argument(
        "--method",
        choices=("entropy", "score", "dynamics"),
        default="dynamics",
        help="task inference: per-task models of one env step fitted on labelled transitions (default), the "
        "critic's TD error, or the entropy gradient over superposed keys",
    )
    ev.add_argument(
        "--calibration-steps",
        type=int,
        default=1000,
        metavar="N",
        help="--method dynamics: labelled transitions per task to fit the step models on (default 1000; "
        "kept in the run folder as task_dynamics.npz)",
    )
    ev.add_argument(
        "--new-variants",
        type=int,
        default=0,
        metavar="N",
        help="with --infer-task: also run N never-trained variants and report how often they are called new",
    )
    ev.add_argument("--window", type=int, default=16, help="samples per task inference (default 16)")
    ev.add_argument(
        "--switch-every",
        type=int,
        default=None,
        metavar="N",
        help="with --infer-task: switch each env to another task every N steps, inside episodes",
    )
    ev.add_argument(
        "--switch-episodes",
        type=int,
        default=None,
        metavar="N",
        help="with --switch-every: episodes of the switching run (default: --episodes)",
    )
    ev.add_argument("--json", default=None, metavar="PATH", help="write the figures to a JSON file")
    ev.add_argument(
        "--video",
        default=None,
        metavar="DIR",
        help='record one episode per task as an .mp4 file in DIR (pip install "psp-rl[video]")',
    )

    _add_sweep_parser(sub)
    add_tune_parser(sub)
    sub.add_parser("list", help="agent presets and task suites, one line each")
    return parser


def _add_sets(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--set KEY=VALUE ...`` (repeatable), collected in ``args.sets``."""
    parser.add_argument(
        "--set", dest="sets", action="append", nargs="+", default=[], metavar="KEY=VALUE", help=help_text
    )


def _add_sweep_parser(sub: Any) -> None:
    sw = sub.add_parser(
        "sweep",
        help='a grid of training runs on Ray Tune, local or on a cluster (pip install "psp-rl[ray]")',
        description="Every combination of the --grid values x every seed is one `psp-rl train` run, "
        "scheduled by Ray Tune. See docs/sweeps.md.",
    )
    sw.add_argument("--file", default=None, metavar="SWEEP.yaml", help="the sweep's keys from a YAML file")
    sw.add_argument(
        "--resume", default=None, metavar="DIR", help="continue the sweep in DIR (its sweep.yaml)"
    )
    sw.add_argument("--agent", default=None, help="agent preset name or YAML path (default ppo-psp)")
    sw.add_argument("--suite", default=None, help="task suite name or YAML path (default: the preset's)")
    sw.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="seeds of every grid point (default 0)"
    )
    sw.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a config key and its values, e.g. --grid policy_kwargs.mode=psp,shared (repeat for more keys)",
    )
    _add_sets(sw, "an override shared by every run, as for psp-rl train")
    sw.add_argument(
        "--num-tasks", type=int, default=None, help="number of task variants (default: the suite's)"
    )
    sw.add_argument("--steps-per-task", type=int, default=None, help="env steps per task phase")
    sw.add_argument("--workers", type=int, default=None, help="CPUs of a local Ray (default: all)")
    sw.add_argument("--cpus-per-run", type=float, default=None, help="CPUs reserved per run (default 1)")
    sw.add_argument("--gpus-per-run", type=float, default=None, help="GPUs per run, e.g. 0.25 (default 0)")
    sw.add_argument(
        "--address", default=None, help="join a running Ray cluster (default: RAY_ADDRESS, else a local Ray)"
    )
    sw.add_argument("--max-failures", type=int, default=None, help="retries of a failed run (default 2)")
    sw.add_argument("--out", default=None, metavar="DIR", help="the sweep's folder (runs, summary)")


def _cmd_train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from psp_rl.training.config import resolve_config
    from psp_rl.training.train import train

    command = ["psp-rl", *argv]
    if args.resume is not None:
        given = [
            name
            for name in ("agent", "suite", "seed", "device", "n_envs", "run_dir", "reference")
            if getattr(args, name) is not None
        ]
        if given or args.sets:
            opts = ", ".join(f"--{n.replace('_', '-')}" for n in given) + (" --set" if args.sets else "")
            raise ValueError(
                f"--resume continues a run with its saved config.yaml; drop {opts.strip(', ')} "
                "(or start a new run without --resume). --num-tasks K2 [--steps-per-task N] add tasks to it."
            )
        if args.steps_per_task is not None and args.num_tasks is None:
            raise ValueError(
                "--resume with --steps-per-task sets the steps of added tasks: give --num-tasks K2 too "
                "(a run keeps the steps of its own tasks)."
            )
        # a finished run is left as it is (train() says so): exit 0, as for a run that had steps left
        train(
            resume=args.resume,
            num_tasks=args.num_tasks,
            steps_per_task=args.steps_per_task,
            progress_bar=not args.no_progress,
            command=command,
            num_threads=args.threads,
            skip_damaged=args.skip_damaged,
        )
        return 0
    if args.skip_damaged:
        raise ValueError(
            "--skip-damaged chooses the checkpoint a --resume continues from: add --resume RUN_DIR."
        )
    sets = [item for group in args.sets for item in group]
    if args.reference is not None:
        sets.append(f"reference={args.reference}")
    cfg = resolve_config(
        args.agent or "ppo-psp",
        args.suite,
        seed=args.seed,
        device=args.device,
        n_envs=args.n_envs,
        steps_per_task=args.steps_per_task,
        num_tasks=args.num_tasks,
        run_dir=args.run_dir,
        sets=sets,
    )
    train(cfg, progress_bar=not args.no_progress, command=command, num_threads=args.threads)
    return 0


def _check_output_file(option: str, name: str) -> None:
    """Refuse an output path that cannot be written, before the work whose result it is to hold."""
    from pathlib import Path

    path = Path(name)
    if path.is_dir():
        raise ValueError(f"{option} {name}: that is a folder; give a file path such as {path / 'eval.json'}.")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(
            f"{option} {name}: the folder {folder} does not exist; create it or give another path."
        )
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"{option} {name}: it cannot be written there; give a path you can write to.")


def _cmd_eval(args: argparse.Namespace) -> int:
    from psp_rl.training.build import resolve_device
    from psp_rl.training.saved_runs import evaluate_run

    resolve_device(args.device)  # --device cuda without CUDA: an error, not a silent CPU run
    if args.json is not None:
        _check_output_file("--json", args.json)
    if args.video is not None:
        from psp_rl.training.video import check_video_folder

        check_video_folder(args.video)
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}.")
    import torch

    torch.set_num_threads(args.threads)
    if args.window < 1:
        raise ValueError(f"--window must be >= 1, got {args.window}.")
    if (
        args.switch_every is not None
        or args.method != "dynamics"
        or args.window != 16
        or args.calibration_steps != 1000
        or args.new_variants
        or args.switch_episodes is not None
    ) and not args.infer_task:
        raise ValueError(
            "--method, --window, --switch-every, --switch-episodes, --calibration-steps and --new-variants set the "
            "task inference: "
            "add --infer-task."
        )
    result = evaluate_run(
        args.run_dir,
        episodes=args.episodes,
        device=args.device,
        deterministic=not args.stochastic,
        infer_task=args.infer_task,
        method=args.method,
        window=args.window,
        switch_every=args.switch_every,
        calibration_steps=args.calibration_steps,
        new_variants=args.new_variants,
        switch_episodes=args.switch_episodes,
    )
    mode = "stochastic" if args.stochastic else "deterministic"
    print(f"Per-task evaluation of {result['source']} ({result['episodes']} episodes per task, {mode}):")
    print(result["table"])
    print(f"average performance {result['avg_performance']:.3f}")
    inference = result.get("inference")
    if inference is not None:
        fraction = inference["fraction_of_oracle"]
        print(
            f"inferred task ({inference['method']}, window {inference['window']}): average performance "
            f"{inference['avg_normalized']:.3f}"
            + (f" ({fraction:.2f} x oracle)" if fraction is not None else "")
            + f", inference accuracy {inference['avg_accuracy']:.3f}"
        )
        switches = inference.get("switches")
        if switches is not None:
            delay = "-" if switches["delay_median"] is None else f"{switches['delay_median']:.0f}"
            p90 = "-" if switches["delay_p90"] is None else f"{switches['delay_p90']:.0f}"
            print(
                f"switches every {switches['every']} steps: {switches['switches']} switches, detection delay "
                f"median {delay} / p90 {p90} steps, {switches['missed']} missed, "
                f"{switches['false_alarms_per_10k']:.1f} false alarms per 10k steps, accuracy {switches['accuracy']:.3f}"
            )
        new = inference.get("new_variants")
        if new is not None:
            print(
                f"{new['count']} never-trained variants: reported new on {new['avg_reported_new']:.3f} of their steps"
            )
    if args.video is not None:
        from psp_rl.training.video import record_run

        result["videos"] = record_run(
            args.run_dir, args.video, device=args.device, deterministic=not args.stochastic
        )
        for clip in result["videos"]:
            cut = ", cut there" if clip["cut"] else ""
            print(
                f"video of task {clip['task']}: {clip['path']} (return {clip['return']:.1f}, "
                f"{clip['length']} steps{cut})"
            )
    if args.json is not None:
        import json
        from pathlib import Path

        data = {key: value for key, value in result.items() if key != "table"}
        Path(args.json).write_text(json.dumps(data, indent=2, default=float) + "\n")
        print(f"figures written to {args.json}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from psp_rl.sweep.run import run_sweep, spec_from_options

    spec, out, resume = spec_from_options(vars(args))
    result = run_sweep(spec, out, resume=resume)
    if result.interrupted:
        return 130
    return 1 if result.failed else 0


def _one_line(data: dict, fallback: str) -> str:
    text = str(data.get("description") or fallback).strip()
    return text.splitlines()[0] if text else fallback


def _cmd_list() -> int:
    from psp_rl.resources import list_yaml, load_yaml

    for folder, title in (("agents", "Agent presets (--agent)"), ("envs", "Task suites (--suite)")):
        entries = list_yaml(folder)
        print(f"{title}:")
        if not entries:
            print("  (none found)")
        width = max((len(name) for name in entries), default=0)
        for name, path in entries.items():
            try:
                data = load_yaml(path)
            except ValueError as error:
                line = f"(unreadable: {error})"
            else:
                fallback = data.get("algo") or data.get("env_id") or data.get("env") or ""
                line = _one_line(data, str(fallback))
            print(f"  {name:<{width}}  {line}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``psp-rl``; user errors print one line naming the fix and return 2.

    :param argv: arguments (default ``sys.argv[1:]``).
    :return: the exit status.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return _cmd_train(args, argv)
        if args.command == "eval":
            return _cmd_eval(args)
        if args.command == "sweep":
            return _cmd_sweep(args)
        if args.command == "tune":
            return cmd_tune(args)
        return _cmd_list()
    except (ValueError, FileNotFoundError) as error:
        print(f"psp-rl {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (``psp-rl list | head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
