"""Task inference on trained runs: accuracy and return against the window, unsignalled switches, never-trained
variants, and a task-blind network trained on every variant at once, side by side.

Every measurement is ``psp_rl.training.evaluate_run(RUN, infer_task=True, ...)`` (what ``psp-rl eval RUN
--infer-task`` prints), on the run's own evaluation envs:

* ``window`` cells: for each method (``entropy``, ``score``, ``dynamics``; TD3 has no ``entropy``) and
  window ``B``, the mean return with the inferred task per task, its fraction of the oracle return (the
  agent told the task) and the fraction of steps whose inferred task was right;
* ``switch`` cells (``--switch-every N``, window ``--switch-window``): every sub-env switches to another random
  variant every N steps inside its episodes: median / 90th-percentile detection delay (steps until the
  inferred task is the new one), missed switches, false alarms per 10k steps; and, where the suite has
  further variants, the fraction of steps ``--new-variants`` never-trained variants are reported new;
* ``blind`` (``--blind LABEL=RUN``): the plain evaluation of a task-blind network (``mode=shared``,
  trained on all variants interleaved, same budget) next to the PSP run's oracle and inferred returns.

Records go to ``--out`` keyed by run label, kind, method and window; a key already there is skipped, so an
interrupted benchmark continues where it stopped. ``--render FILE...`` prints the Markdown tables of one or more
records files; with ``--page OUT --notes NOTES.json`` it writes a page: the notes' ``title`` and ``summary``, then
the tables.

Example::

    python benchmarks/inference.py --run cp10=runs/cartpole-permuted__ppo-psp__s0__... \\
        --blind cp10=runs/cartpole-permuted-rr__ppo-psp__s0__... --out results/inference/bench.json
    python benchmarks/inference.py --render results/inference/bench-*.json \
        --notes results/inference-notes.json --page docs/inference.md
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from psp_rl.utils import write_atomic, write_json_atomic

METHODS = ("entropy", "score", "dynamics")
WINDOWS = (1, 4, 16, 64)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise SystemExit(f"{what} takes LABEL=RUN_FOLDER, got {item!r}.")
        out[label] = path
    return out


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {"records": {}}


def _algo(run: str) -> str:
    from psp_rl.training.saved_runs import load_run_model

    cfg, _, _ = load_run_model(run, device="cpu")
    return str(cfg.algo)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run every missing cell and write each record as soon as it is measured."""
    from psp_rl.training.saved_runs import evaluate_run

    out = Path(args.out)
    data = _load(out)
    records: dict[str, Any] = data["records"]

    def cell(key: str, run: str, **kwargs: Any) -> None:
        if key in records:
            print(f"skip {key}")
            return
        start = time.perf_counter()
        try:
            result = evaluate_run(run, episodes=args.episodes, device="cpu", **kwargs)
        except ValueError as error:  # e.g. no further variants for --new-variants
            if not kwargs.get("new_variants"):
                raise
            print(f"{key}: {error}; measured without never-trained variants")
            result = evaluate_run(run, episodes=args.episodes, device="cpu", **{**kwargs, "new_variants": 0})
        result.pop("table", None)
        result.update(run=str(run), seconds=round(time.perf_counter() - start, 1), settings=kwargs)
        records[key] = result
        write_json_atomic(out, data)
        inf = result.get("inference", {})
        print(
            f"{key}: oracle {result['avg_normalized']:.3f}"
            + (f", inferred {inf['avg_normalized']:.3f}, accuracy {inf['avg_accuracy']:.3f}" if inf else "")
            + f" ({result['seconds']} s)"
        )

    runs = _pairs(args.run, "--run")
    for label, run in runs.items():
        methods = [m for m in args.methods if not (m == "entropy" and _algo(run) == "td3")]
        for method in methods:
            for window in args.windows:
                cell(
                    f"{label}|window|{method}|{window}",
                    run,
                    infer_task=True,
                    method=method,
                    window=window,
                    calibration_steps=args.calibration_steps,
                )
        for method in methods:
            cell(
                f"{label}|switch|{method}|{args.switch_window}",
                run,
                infer_task=True,
                method=method,
                window=args.switch_window,
                switch_every=args.switch_every,
                new_variants=args.new_variants,
                calibration_steps=args.calibration_steps,
                switch_episodes=args.switch_episodes,
            )
    for label, run in _pairs(args.blind, "--blind").items():
        cell(f"{label}|blind", run)
    return data


def _f(value: Any, fmt: str = ".3f") -> str:
    return "–" if value is None else format(value, fmt)


def _cells(records: dict[str, Any], kind: str) -> Any:
    """``(label, method, window, record)`` of every cell of one kind, by label."""
    for label in sorted({key.split("|")[0] for key in records}):
        for key, rec in records.items():
            parts = key.split("|")
            if parts[0] == label and parts[1] == kind:
                yield label, parts[2], parts[3], rec


def render(data: dict[str, Any]) -> str:
    """The Markdown tables of a records file."""
    records: dict[str, Any] = data["records"]
    lines = ["### Inferred return and accuracy against the window", ""]
    lines += [
        "| run | method | B | inferred / oracle | accuracy | oracle avg | episodes/task |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, method, window, rec in _cells(records, "window"):
        inf = rec["inference"]
        lines.append(
            f"| {label} | {method} | {window} | {_f(inf['fraction_of_oracle'])} | "
            f"{_f(inf['avg_accuracy'])} | {_f(rec['avg_normalized'])} | {rec['episodes']} |"
        )
    lines += ["", "### Unsignalled switches and never-trained variants", ""]
    lines += [
        "| run | method | B | every | episodes | switches | delay median | delay p90 | missed | false alarms / 10k | "
        "accuracy | never-trained reported new |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, method, window, rec in _cells(records, "switch"):
        sw = rec["inference"].get("switches", {})
        new = rec["inference"].get("new_variants")
        lines.append(
            f"| {label} | {method} | {window} | {sw.get('every')} | "
            f"{rec['settings'].get('switch_episodes') or rec['episodes']} | {sw.get('switches')} | "
            f"{_f(sw.get('delay_median'), '.0f')} | {_f(sw.get('delay_p90'), '.0f')} | {sw.get('missed')} | "
            f"{_f(sw.get('false_alarms_per_10k'), '.1f')} | {_f(sw.get('accuracy'))} | "
            + (f"{_f(new['avg_reported_new'])} ({new['count']} variants)" if new else "–")
            + " |"
        )
    blind = {key.split("|")[0]: rec for key, rec in records.items() if key.endswith("|blind")}
    if blind:
        lines += ["", "### Against one task-blind network trained on every variant at once", ""]
        lines += [
            "| run | task-blind (shared, interleaved) | PSP told the task | PSP inferred (dynamics, B = 16) |",
            "|---|---|---|---|",
        ]
        for label, rec in sorted(blind.items()):
            psp = records.get(f"{label}|window|dynamics|16")
            lines.append(
                f"| {label} | {_f(rec['avg_normalized'])} | {_f(psp and psp['avg_normalized'])} | "
                f"{_f(psp and psp['inference']['avg_normalized'])} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", default=[], metavar="LABEL=RUN", help="a trained PSP run")
    parser.add_argument("--blind", action="append", default=[], metavar="LABEL=RUN", help="a task-blind run")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument(
        "--windows", nargs="*", type=int, default=list(WINDOWS), help="none: switch cells only"
    )
    parser.add_argument("--episodes", type=int, default=10, help="episodes per task (default 10)")
    parser.add_argument("--switch-every", type=int, default=100, help="steps between switches (default 100)")
    parser.add_argument(
        "--switch-window", type=int, default=16, help="window of the switch cells (default 16)"
    )
    parser.add_argument("--new-variants", type=int, default=3, help="never-trained variants (default 3)")
    parser.add_argument("--switch-episodes", type=int, default=None, help="episodes of the switch cells")
    parser.add_argument("--calibration-steps", type=int, default=1000, help="dynamics method (default 1000)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="JSON file of records")
    parser.add_argument("--render", nargs="+", metavar="FILE", help="print the tables of records files")
    parser.add_argument("--notes", help="with --render --page: JSON with the page's title and summary")
    parser.add_argument("--page", help="with --render: write the page here")
    args = parser.parse_args(argv)
    if args.render:
        merged: dict[str, Any] = {"records": {}}
        for name in args.render:
            merged["records"].update(_load(Path(name))["records"])
        tables = render(merged)
        if args.page:
            notes = json.loads(Path(args.notes).read_text()) if args.notes else {"title": "Task inference"}
            write_atomic(args.page, f"# {notes['title']}\n\n{notes.get('summary', '').strip()}\n\n{tables}\n")
            print(f"wrote {args.page}")
        else:
            print(tables)
        return
    if not args.out:
        raise SystemExit("--out FILE is needed to measure (records are kept there).")
    import torch

    torch.set_num_threads(args.threads)
    print(render(measure(args)))


if __name__ == "__main__":
    main()
