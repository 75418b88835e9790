"""Drifting contexts against fixed keys and task-blind networks on a drifting suite.

One variant whose physics drifts once through a full period while the agent trains (the suite's
``steps_per_task`` is one period), so the first quarter of the period is trained early and never seen
again. Each setting trains one agent on the same budget; the trained agent is then evaluated at
``--bins`` phases spread over the period (the drift clock set to each phase, ``--episodes`` episodes
each). The first-quarter bins are also evaluated when training reaches the end of the first quarter,
so the table shows how much of the early phases each setting keeps.

Settings (``--setting``): ``drift`` (PSP, keys interpolated between ``M`` anchors along the phase),
``power`` (PSP, complex keys, powers of one key), ``binned`` (PSP, the phase binned into ``M`` fixed
keys), ``shared`` (one network, no phase), ``shared-phase`` (one network given ``sin/cos`` of the phase).

Run (one run per invocation; records are merged into ``--out`` by suite, setting, seed and ``--keys``, and an
existing record is skipped, so an interrupted sweep continues where it stopped)::

    python benchmarks/drift.py --suite pendulum-drift --agent sac-psp --setting drift --seed 0 --out results/drift.json
    python benchmarks/drift.py --render results/drift.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from records import run_and_show

SETTINGS: dict[str, list[str]] = {
    "drift": ["policy_kwargs.drift_context=interpolate"],
    "power": ["policy_kwargs.context=complex", "policy_kwargs.drift_context=power"],
    "binned": ["policy_kwargs.drift_context=binned"],
    "shared": ["policy_kwargs.mode=shared"],
    "shared-phase": ["policy_kwargs.mode=shared", "policy_kwargs.coord_input=true"],
}


def drift_period(suite: Any) -> int:
    """The period (env steps) of the suite's drift family."""
    periods = {int(v["period"]) for v in suite.spec["variants"] if v["family"] == "drift"}
    if len(periods) != 1:
        raise ValueError(f"{suite.name}: benchmarks/drift.py needs one drift period, got {sorted(periods)}.")
    return periods.pop()


def evaluate_phases(
    model: Any, suite: Any, phases: list[float], episodes: int, seed: int, steps: list[int] | None = None
) -> list[float]:
    """Normalised mean return of ``model`` with the drift clock set to each phase (one fresh env each).

    :param steps: when given, the env steps each phase's episodes took are appended to it
    """
    period = drift_period(suite)
    scores = []
    for i, phase in enumerate(phases):
        env = suite.make_env(task=0, seed=seed + i)
        env.get_wrapper_attr("set_drift_step")(int(round(phase * period)))
        total, taken = 0.0, 0
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + 1000 * i + episode)
            done = False
            while not done:
                action, _ = model.predict(obs, deterministic=True)
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = terminated or truncated
                taken += 1
        env.close()
        if steps is not None:
            steps.append(taken)
        scores.append(float(suite.normalize(0, total / episodes)))
    return scores


def setting_config(args: argparse.Namespace, sets: list[str], keyless: bool) -> Any:
    """The training config of one setting: ``args.agent`` on ``args.suite`` with the setting's overrides,
    ``policy_kwargs.drift_keys=args.keys`` (dropped again for a setting without keys) and ``args.set``.

    :param args: ``agent``, ``suite``, ``seed``, ``run_dir``, ``keys`` and ``set``
    :param sets: the setting's ``KEY=VALUE`` overrides
    :param keyless: the setting uses no drifting keys (task-blind networks)
    """
    from psp_rl.training import resolve_config

    cfg = resolve_config(
        args.agent,
        args.suite,
        seed=args.seed,
        run_dir=args.run_dir,
        sets=[*sets, f"policy_kwargs.drift_keys={args.keys}", *args.set],
    )
    if keyless:
        cfg.policy_kwargs.pop("drift_keys")
    return cfg


def run_setting(
    args: argparse.Namespace,
    run_one: Callable[[argparse.Namespace], dict[str, Any]],
    render_one: Callable[[list[dict[str, Any]]], str],
) -> str:
    """Run one setting's record unless ``args.out`` has it (key: suite, setting, seed, ``--keys``), and print it.

    :param args: the parsed options (``out``, ``suite``, ``setting``, ``seed``, ``keys``)
    :param run_one: trains and returns the record
    :param render_one: the table of a list of records
    :return: the printed table ("" when the run was skipped)
    """
    return run_and_show(
        args.out,
        (args.suite, args.setting, args.seed, args.keys),
        lambda r: (r["suite"], r["setting"], r["seed"], r["drift_keys"]),
        lambda: run_one(args),
        render_one,
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train one setting and evaluate it over the drift period."""
    from stable_baselines3.common.callbacks import BaseCallback

    from psp_rl.training import train

    cfg = setting_config(args, SETTINGS[args.setting], keyless=args.setting.startswith("shared"))
    suite = cfg.load_suite()
    period, steps = drift_period(suite), cfg.make_schedule(suite).total_timesteps
    phases = [(b + 0.5) / args.bins for b in range(args.bins)]
    early = [p for p in phases if p < 0.25]
    at_quarter: dict[str, list[float]] = {}

    class QuarterEval(BaseCallback):
        def _on_step(self) -> bool:
            if not at_quarter and self.num_timesteps >= period // 4:
                at_quarter["early"] = evaluate_phases(
                    self.model, suite, early, args.episodes, args.seed + 50_000
                )
            return True

    result = train(cfg, progress_bar=False, verbose=0, callbacks=[QuarterEval()])
    final = evaluate_phases(result.model, suite, phases, args.episodes, args.seed + 50_000)
    return {
        "suite": args.suite,
        "agent": args.agent,
        "setting": args.setting,
        "seed": args.seed,
        "steps": int(steps),
        "period": period,
        "drift_keys": args.keys,
        "episodes": args.episodes,
        "phases": phases,
        "final": final,
        "period_mean": float(np.mean(final)),
        "early_phases": early,
        "early_at_quarter": at_quarter.get("early"),
        "early_at_end": final[: len(early)],
        "run": str(result.run_path),
        "command": " ".join(sys.argv),
    }


def render(records: list[dict[str, Any]]) -> str:
    """A markdown table: one row per suite, setting and seed."""
    lines = [
        "| suite | setting | M | seed | steps | return over the period | first quarter at 1/4 | first quarter at the end |",
        "|---|---|---|---|---|---|---|---|",
    ]
    order = list(SETTINGS)

    def keys_of(r: dict[str, Any]) -> int:  # task-blind settings have no keys
        return 0 if r["setting"].startswith("shared") else int(r["drift_keys"])

    for r in sorted(records, key=lambda r: (r["suite"], order.index(r["setting"]), keys_of(r), r["seed"])):
        keys = str(keys_of(r) or "–")
        early = r["early_at_quarter"]
        at_q = "n/a" if early is None else f"{np.mean(early):.3f}"
        lines.append(
            f"| {r['suite']} | {r['setting']} | {keys} | {r['seed']} | {r['steps']} | {r['period_mean']:.3f} | {at_q} | "
            f"{np.mean(r['early_at_end']):.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="pendulum-drift")
    parser.add_argument("--agent", default="sac-psp")
    parser.add_argument("--setting", choices=list(SETTINGS), default="drift")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keys", type=int, default=8, help="M: anchors / frequency range of the keys")
    parser.add_argument("--bins", type=int, default=8, help="phases evaluated over the period")
    parser.add_argument("--episodes", type=int, default=3, help="episodes per phase")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="more config overrides"
    )
    parser.add_argument("--run-dir", default="runs/drift")
    parser.add_argument("--out", help="JSON file of records (merged by suite, setting, seed, keys)")
    parser.add_argument("--render", help="print the table of a JSON file")
    args = parser.parse_args(argv)
    if args.render:
        text = render(json.loads(Path(args.render).read_text()))
        print(text)
        return text
    return run_setting(args, run, render)


if __name__ == "__main__":
    main()
