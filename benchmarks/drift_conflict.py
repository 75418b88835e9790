"""Drift where the phases conflict: learning curves per phase bin, recurrence, and the per-bin oracle.

On ``pendulum-flip-drift`` the torque's gain drifts as ``cos(2πs)``: what lifts the pole at phase ``s``
pushes it down at ``s + 1/2``, and the drift is cyclic (three periods by default), so every regime comes
back. Each setting trains one agent on the suite's budget; during training every one of ``--bins`` phase
bins is evaluated (deterministic policy, ``--episodes`` episodes at the bin's centre, the drift clock set
there as :func:`drift.evaluate_phases` does) each time the training drift clock crosses a bin boundary,
i.e. every ``1/B`` of a period, and once before training.

* **recurrence**: for bin ``b`` and cycle ``c >= 1``, its score when the clock comes back to it (evaluated
  just before the clock enters ``b`` in cycle ``c``) over its score right after it was trained in cycle
  ``c - 1`` (evaluated just after the clock left ``b``); the ratio is kept where that score is at least
  ``--min-score`` (a ratio of two near-zero scores says nothing), and the raw pairs always.
* **the oracle check**: the task-blind network (``shared``) should reach at most 0.6 of the period-mean
  normalised return of ``separate`` (one independent network per phase bin).

Settings (``--setting``, ``M = --keys``): ``shared`` (one network, no phase), ``coord_input`` (one
network given ``sin/cos`` of the phase), ``binned`` (PSP, ``M`` fixed keys by phase bin), ``power``
(complex keys), ``geodesic`` (rotation keys), ``interpolate`` (``M`` anchors, interpolated), ``separate``
(``M`` independent networks, one per phase bin: mode separate with drift_context binned).

Evaluation episodes are not training interaction: a record's ``steps`` counts every env step of training
(``interaction``), ``eval_steps`` those of the per-bin evaluations, ``run_eval_episodes`` the episodes of
the run's own evaluations (at its start and at each phase end).

Run (one run per invocation; records merged into ``--out`` by suite, setting, seed and ``--keys``, an
existing record skipped, so the loop can be stopped and started again)::

    for setting in shared coord_input binned power geodesic interpolate separate; do
      for seed in 0 1 2; do
        python benchmarks/drift_conflict.py --setting $setting --seed $seed --keys 8 --bins 8 \\
          --out results/sweeps/drift-conflict.json
      done
    done
    python benchmarks/drift_conflict.py --render results/sweeps/drift-conflict.json --figure drift-conflict.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from drift import SETTINGS as DRIFT_SETTINGS
from drift import drift_period, evaluate_phases, run_setting, setting_config

SETTINGS: dict[str, list[str]] = {
    "shared": DRIFT_SETTINGS["shared"],
    "coord_input": DRIFT_SETTINGS["shared-phase"],
    "binned": DRIFT_SETTINGS["binned"],
    "power": DRIFT_SETTINGS["power"],
    "geodesic": ["policy_kwargs.context=rotation", "policy_kwargs.drift_context=geodesic"],
    "interpolate": DRIFT_SETTINGS["drift"],
    "separate": ["policy_kwargs.mode=separate", "policy_kwargs.drift_context=binned"],
}
KEYLESS = ("shared", "coord_input")  # task-blind networks: no drifting keys
BLIND, ORACLE, ORACLE_BOUND = "shared", "separate", 0.6


def eval_clocks(period: int, bins: int, total: int) -> list[int]:
    """The drift clocks at which every bin is evaluated: ``0`` and each bin boundary up to ``total``.

    :param period: the drift period (env steps)
    :param bins: ``B``, the phase bins
    :param total: the training steps
    :raises ValueError: when the bins do not cut the period, or the run, into whole bins
    """
    if bins < 1 or period % bins or total % (period // bins):
        raise ValueError(
            f"--bins {bins} must cut the drift period ({period} steps) and the run ({total} steps) into whole "
            "bins: pick a divisor of the period whose bin width divides the run's steps."
        )
    width = period // bins
    return [k * width for k in range(total // width + 1)]


def recurrence(
    clocks: list[int], scores: list[list[float]], period: int, bins: int, min_score: float
) -> list[dict[str, Any]]:
    """Each bin's score when the clock comes back to it, against its score right after it was trained.

    For bin ``b`` and cycle ``c >= 1`` whose bin the training clock enters: ``after_training`` is the score
    at clock ``(c - 1) P + (b + 1) P / B``, ``on_return`` the one at ``c P + b P / B``, and ``ratio`` their
    quotient where ``after_training >= min_score`` (else ``None``).

    :param clocks: the drift clock of every evaluation
    :param scores: the normalised return of every bin at every evaluation
    :param period: ``P``
    :param bins: ``B``
    :param min_score: the smallest ``after_training`` score a ratio is taken of
    """
    at = {int(c): s for c, s in zip(clocks, scores)}
    width, end = period // bins, max(clocks)
    out = []
    for cycle in range(1, end // period + 1):
        for b in range(bins):
            back, left = cycle * period + b * width, (cycle - 1) * period + (b + 1) * width
            if back >= end or back not in at or left not in at:
                continue
            after, on_return = float(at[left][b]), float(at[back][b])
            ratio = on_return / after if after >= min_score else None
            out.append(
                {"bin": b, "cycle": cycle, "after_training": after, "on_return": on_return, "ratio": ratio}
            )
    return out


def mean_ratio(entries: list[dict[str, Any]]) -> float | None:
    """The mean of the defined ratios of :func:`recurrence` (``None`` when none is)."""
    ratios = [e["ratio"] for e in entries if e["ratio"] is not None]
    return float(np.mean(ratios)) if ratios else None


def parameter_count(model: Any) -> int:
    """Trainable real numbers of the policy without its target networks (a complex weight counts twice)."""
    return int(
        sum(
            p.numel() * (2 if p.is_complex() else 1)
            for name, p in model.policy.named_parameters()
            if p.requires_grad and not name.split(".")[0].endswith("_target")
        )
    )


def phase_curves(suite: Any, clocks: list[int], phases: list[float], episodes: int, seed: int) -> Any:
    """An SB3 callback that evaluates every phase each time the training drift clock reaches one of
    ``clocks``; its ``curve`` holds the clocks, timesteps and scores, ``eval_steps`` the env steps taken."""
    from stable_baselines3.common.callbacks import BaseCallback

    from psp_rl.envs.drift_clocks import get_drift_steps

    class PhaseCurves(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.curve: dict[str, list[Any]] = {"clock": [], "timesteps": [], "scores": []}
            self.taken: list[int] = []

        def _clock(self) -> int:
            steps = [s for s in get_drift_steps(self.training_env) if s is not None]
            if not steps:
                raise ValueError(f"{suite.name} does not drift: use a suite with a drift family.")
            return min(steps)

        def _evaluate(self, clock: int) -> None:
            scores = evaluate_phases(self.model, suite, phases, episodes, seed, steps=self.taken)
            self.curve["clock"].append(clock)
            self.curve["timesteps"].append(int(self.num_timesteps))
            self.curve["scores"].append(scores)

        def _on_training_start(self) -> None:
            self._on_step()

        def _on_step(self) -> bool:
            clock = self._clock()
            while len(self.curve["clock"]) < len(clocks) and clock >= clocks[len(self.curve["clock"])]:
                self._evaluate(clock)
            return True

    return PhaseCurves()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train one setting, evaluating every phase bin at every bin boundary of the drift clock."""
    from psp_rl.training import train

    cfg = setting_config(args, SETTINGS[args.setting], keyless=args.setting in KEYLESS)
    suite = cfg.load_suite()
    period, total = drift_period(suite), int(cfg.make_schedule(suite).total_timesteps)
    clocks = eval_clocks(period, args.bins, total)
    phases = [(b + 0.5) / args.bins for b in range(args.bins)]
    curves = phase_curves(suite, clocks, phases, args.episodes, args.seed + 50_000)
    started = time.perf_counter()
    result = train(cfg, progress_bar=False, verbose=0, callbacks=[curves])
    wall = time.perf_counter() - started
    if len(curves.curve["clock"]) != len(clocks):
        raise RuntimeError(f"evaluated at clocks {curves.curve['clock']}, expected {clocks}")
    entries = recurrence(clocks, curves.curve["scores"], period, args.bins, args.min_score)
    interaction = result.metrics["interaction"]
    history = result.metrics.get("eval_history") or []
    final = curves.curve["scores"][-1]
    return {
        "suite": args.suite,
        "agent": args.agent,
        "setting": args.setting,
        "seed": args.seed,
        "drift_keys": args.keys,
        "keys_used": args.setting not in KEYLESS,
        "bins": args.bins,
        "episodes": args.episodes,
        "period": period,
        "cycles": total // period if total % period == 0 else total / period,
        "steps": int(interaction["total"]),
        "interaction": interaction,
        "eval_steps": int(sum(curves.taken)),
        "run_eval_episodes": int(
            sum(sum(v is not None for v in h["normalized"]) for h in history)
            * result.metrics["eval_episodes"]
        ),
        "parameters": parameter_count(result.model),
        "phases": phases,
        "curve": {"boundary": clocks, **curves.curve},
        "final": final,
        "period_mean": float(np.mean(final)),
        "recurrence": entries,
        "recurrence_ratio": mean_ratio(entries),
        "recurrence_min_score": args.min_score,
        "wall_s": round(wall, 1),
        "run": str(result.run_path),
        "command": " ".join(sys.argv),
    }


def _groups(records: list[dict[str, Any]]) -> dict[tuple[str, str, int | None], list[dict[str, Any]]]:
    """Records by suite, setting and ``M`` (``None`` for the task-blind settings), in the settings' order."""
    groups: dict[tuple[str, str, int | None], list[dict[str, Any]]] = {}
    order = list(SETTINGS)
    for r in sorted(records, key=lambda r: (r["suite"], order.index(r["setting"]), r["seed"])):
        keys = None if r["setting"] in KEYLESS else int(r["drift_keys"])
        groups.setdefault((r["suite"], r["setting"], keys), []).append(r)
    return groups


def _mean_std(values: list[float | None], digits: int = 3) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "n/a"
    return f"{np.mean(known):.{digits}f} ± {np.std(known):.{digits}f}"


def oracle_lines(records: list[dict[str, Any]]) -> list[str]:
    """Whether the task-blind network stayed at or below 0.6 of the per-bin oracle, per suite and ``M``."""
    groups, lines = _groups(records), []
    for (suite, setting, keys), oracle in groups.items():
        if setting != ORACLE:
            continue
        blind = groups.get((suite, BLIND, None))
        top = float(np.mean([r["period_mean"] for r in oracle]))
        if not blind:
            lines.append(f"{suite}, M={keys}: oracle check not measured (no {BLIND} record).")
            continue
        low = float(np.mean([r["period_mean"] for r in blind]))
        verdict = "held" if low <= ORACLE_BOUND * top else "did NOT hold"
        lines.append(
            f"{suite}, M={keys}: oracle check ({BLIND} <= {ORACLE_BOUND} x {ORACLE}) {verdict}: {BLIND} "
            f"{low:.3f} ({len(blind)} seeds) vs {ORACLE_BOUND} x {top:.3f} = {ORACLE_BOUND * top:.3f} "
            f"({len(oracle)} seeds)."
        )
    return lines


def render(records: list[dict[str, Any]]) -> str:
    """A markdown table, mean ± std over seeds per setting, and the oracle check."""
    lines = [
        "| suite | setting | M | seeds | period-mean return at the end | recurrence ratio | training steps "
        "(+ evaluation steps) | parameters |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (suite, setting, keys), group in _groups(records).items():
        steps = sorted({r["steps"] for r in group})
        evals = sorted({r["eval_steps"] for r in group})
        lines.append(
            f"| {suite} | {setting} | {keys or '–'} | {len(group)} | "
            f"{_mean_std([r['period_mean'] for r in group])} | "
            f"{_mean_std([r['recurrence_ratio'] for r in group], 2)} | "
            f"{'/'.join(map(str, steps))} (+ {'/'.join(map(str, evals))}) | "
            f"{'/'.join(str(p) for p in sorted({r['parameters'] for r in group}))} |"
        )
    notes = [
        "",
        "Recurrence ratio: a bin's score when the drift clock comes back to it over its score right after it "
        "was trained one period earlier (ratios where that score is >= "
        f"{sorted({r['recurrence_min_score'] for r in records})}).",
    ]
    return "\n".join([*lines, *notes, *oracle_lines(records)])


def figure(records: list[dict[str, Any]], path: str | Path) -> Path:
    """Heat maps, one per setting: the normalised return of each phase bin (rows) against training steps
    (columns), the mean over seeds; the white line is the bin the training clock is in.

    :param records: the records
    :param path: the PNG to write
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(records)
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 1.9 * len(groups) + 0.6), squeeze=False)
    image = None
    for ax, ((suite, setting, keys), group) in zip(axes[:, 0], groups.items()):
        first = group[0]
        same = [r for r in group if r["curve"]["boundary"] == first["curve"]["boundary"]]
        scores = np.mean([np.asarray(r["curve"]["scores"], dtype=float) for r in same], axis=0).T
        clocks = np.asarray(first["curve"]["boundary"], dtype=float)
        width = clocks[1] - clocks[0] if len(clocks) > 1 else 1.0
        image = ax.imshow(
            scores,
            aspect="auto",
            origin="lower",
            cmap="viridis",
            vmin=0.0,
            vmax=1.0,
            extent=(clocks[0] - width / 2, clocks[-1] + width / 2, -0.5, first["bins"] - 0.5),
        )
        t = np.linspace(0, clocks[-1], 2000, endpoint=False)
        ax.plot(t, (t % first["period"]) / first["period"] * first["bins"] - 0.5, ",", color="white")
        ax.set_yticks(range(first["bins"]))
        ax.set_ylabel("phase bin")
        seeds = f"{len(same)} seed" + ("s" if len(same) != 1 else "")
        ax.set_title(f"{suite}: {setting}" + (f" (M={keys})" if keys else "") + f", {seeds}", fontsize=9)
    axes[-1, 0].set_xlabel("training steps (drift clock)")
    fig.colorbar(image, ax=axes[:, 0].tolist(), label="normalised return")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="pendulum-flip-drift")
    parser.add_argument("--agent", default="sac-psp")
    parser.add_argument("--setting", choices=list(SETTINGS), default="shared")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keys", type=int, default=8, help="M: keys / bins of the keyed settings")
    parser.add_argument("--bins", type=int, default=8, help="B: phase bins evaluated")
    parser.add_argument("--episodes", type=int, default=3, help="episodes per bin and evaluation")
    parser.add_argument(
        "--min-score", type=float, default=0.1, help="smallest score after training a ratio is taken of"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="more config overrides"
    )
    parser.add_argument("--run-dir", default="runs/drift-conflict")
    parser.add_argument("--out", help="JSON file of records (merged by suite, setting, seed, keys)")
    parser.add_argument("--render", help="print the table of a JSON file")
    parser.add_argument("--figure", help="with --render: write the per-bin heat maps to this PNG")
    args = parser.parse_args(argv)
    if args.render:
        records = json.loads(Path(args.render).read_text())
        text = render(records)
        if args.figure:
            text += f"\nfigure: {figure(records, args.figure)}"
        print(text)
        return text
    if args.figure:
        parser.error("--figure goes with --render FILE")
    import torch

    torch.set_num_threads(1)
    return run_setting(args, run, render)


if __name__ == "__main__":
    main()
