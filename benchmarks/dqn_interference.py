"""How much does training DQN on later variants move an earlier variant's greedy policy, against how much
room its action gaps leave?

A full ``psp-rl train`` run (the preset's flow: replay reset, restarted schedules, rehearsal and keep_best
as configured) with one probe added. At the end of each phase ``p`` the probe rolls out variant ``p``'s
greedy policy for ``--states`` states (fresh env, the probe's own seeds; these steps are the measurement's,
not the agent's, and are counted apart) and stores them with their Q-values. At every later phase end it
measures, on those states:

- ``dq``: the relative change of the Q-values, ``mean |Q_now - Q_ref| / mean |Q_ref|``;
- ``gap``: the relative action gap at storage, ``median (Q_ref(a*) - Q_ref(a2)) / mean |Q_ref|``;
- ``ratio``: per state, ``|Δ(Q(a*) - Q(a2))| / (Q_ref(a*) - Q_ref(a2))``, the change of the lead of the
  stored greedy action over the runner-up in units of that lead (its median; a state's greedy action
  flips where this exceeds 1);
- ``flipped``: the share of states whose greedy action changed.

A lever that keeps the variants must bring ``ratio`` below 1 on (nearly) every state: either the Q change
shrinks (rehearsal, a smaller step size) or the gaps grow relative to it (a dueling head stores the gaps in
an advantage stream of their own; value rescaling changes the scale of both).

Each invocation is one run, merged into ``--out`` by label and seed (an existing record is skipped), so a
loop over labels and seeds continues where it stopped::

    python benchmarks/dqn_interference.py --label psp-rehearsal-0.1 --seed 0 --out results/sweeps/dqn-gap.json \\
        --set rehearsal.ratio=0.1 keep_best.freq=0 optimizer.at_switch=reset
    python benchmarks/dqn_interference.py --render results/sweeps/dqn-gap.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from records import run_and_show

from psp_rl.phases import PhaseCallback

#: the probe's env seeds (apart from every seed namespace of a run: psp_rl.seeds)
PROBE_SEED = 900_000_000


def q_values(model: Any, obs: np.ndarray, task: int) -> np.ndarray:
    """Q-values of one variant on raw observations.

    :param model: the DQN model.
    :param obs: observations ``(n, ...)``.
    :param task: the variant.
    """
    tensors, _ = model.policy.obs_to_tensor({"obs": obs, "task": np.full(len(obs), task)})
    with torch.no_grad():
        return model.q_net(tensors).cpu().numpy()


def greedy_states(model: Any, suite: Any, task: int, count: int, seed: int) -> np.ndarray:
    """``count`` states that variant ``task``'s greedy policy visits (episodes from fresh resets).

    :param model: the DQN model.
    :param suite: the task suite.
    :param task: the variant.
    :param count: states to collect.
    :param seed: the first reset's seed.
    """
    env = suite.make_env(task=task, seed=seed)
    states: list[np.ndarray] = []
    episode = 0
    while len(states) < count:
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done and len(states) < count:
            states.append(np.asarray(obs["obs"]))
            action, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
        episode += 1
    env.close()
    return np.stack(states)


def compare(reference: np.ndarray, now: np.ndarray) -> dict[str, float]:
    """The probe's figures for one stored variant (see the module docstring).

    :param reference: Q-values at storage, ``(n, actions)``.
    :param now: Q-values now, same states.
    """
    rows = np.arange(len(reference))
    order = np.argsort(reference, axis=1)
    best, second = order[:, -1], order[:, -2]
    lead_ref = reference[rows, best] - reference[rows, second]
    lead_now = now[rows, best] - now[rows, second]
    scale = float(np.abs(reference).mean())
    ratio = np.abs(lead_now - lead_ref) / np.maximum(lead_ref, 1e-8)
    return {
        "dq": float(np.abs(now - reference).mean() / scale),
        "gap": float(np.median(lead_ref) / scale),
        "ratio": float(np.median(ratio)),
        "ratio_p90": float(np.quantile(ratio, 0.9)),
        "flipped": float((now.argmax(axis=1) != best).mean()),
    }


class GapProbe(PhaseCallback):
    """Stores each finished variant's greedy states and Q-values; measures them at every later phase end.

    :param suite: the task suite.
    :param phase_tasks: the task of each phase.
    :param boundaries: the env steps at which the phases end.
    :param states: states stored per variant.
    :param seed: the probe's env seed.
    """

    def __init__(
        self, suite: Any, phase_tasks: list[int], boundaries: list[int], states: int, seed: int
    ) -> None:
        super().__init__(boundaries)
        self.suite, self.phase_tasks, self.states, self.seed = suite, phase_tasks, states, seed
        self.stored: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.rows: list[dict[str, Any]] = []
        self.probe_steps = 0

    def on_phase_end(self, phase: int, last: bool) -> None:
        """Measure every stored variant, then store the one just finished."""
        for task, (obs, reference) in self.stored.items():
            now = q_values(self.model, obs, task)
            self.rows.append({"phase": phase, "task": task, **compare(reference, now)})
        task = self.phase_tasks[phase]
        if task not in self.stored:
            obs = greedy_states(self.model, self.suite, task, self.states, self.seed + 1000 * task)
            self.probe_steps += len(obs)
            self.stored[task] = (obs, q_values(self.model, obs, task))


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train one configuration with the probe and return its record."""
    from psp_rl.training import resolve_config, train

    cfg = resolve_config(
        args.agent,
        args.suite,
        seed=args.seed,
        run_dir=args.run_dir,
        steps_per_task=args.steps_per_task,
        num_tasks=args.num_tasks,
        sets=args.set,
    )
    if cfg.algo != "dqn":
        raise ValueError(f"benchmarks/dqn_interference.py probes DQN agents; {args.agent} is {cfg.algo}.")
    suite = cfg.load_suite()
    schedule = cfg.make_schedule(suite)
    probe = GapProbe(
        suite,
        [int(schedule.phase_task(p)) for p in range(schedule.num_phases)],
        [int(b) for b in schedule.phase_boundaries()],
        args.states,
        PROBE_SEED + args.seed,
    )
    result = train(cfg, progress_bar=False, verbose=0, callbacks=[probe])
    metrics = result.metrics
    return {
        "label": args.label,
        "agent": args.agent,
        "suite": cfg.suite if isinstance(cfg.suite, str) else suite.name,
        "seed": args.seed,
        "sets": list(args.set),
        "num_tasks": int(metrics["num_tasks"]),
        "steps_per_task": int(schedule.phase_boundaries()[0]),
        "avg_performance": float(metrics["avg_performance"]),
        "forgetting": float(metrics["forgetting"]),
        "final_normalized": metrics["final_normalized"],
        "interaction": metrics.get("interaction"),
        "probe_env_steps": probe.probe_steps,
        "probe": probe.rows,
        "run": str(result.run_path),
        "command": " ".join(["python", *sys.argv]),
    }


def render(records: list[dict[str, Any]]) -> str:
    """A markdown table: one row per label and seed, the probe's figures at the run's last phase end
    (means over the earlier variants) beside the run's scores.

    :param records: the records of :func:`run`.
    """
    lines = [
        "| label | seed | avg perf | forgetting | rel. Q change | rel. action gap | lead change / lead (median, p90) | greedy flipped |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(records, key=lambda r: (r["label"], r["seed"])):
        last = max((row["phase"] for row in r["probe"]), default=None)
        rows = [row for row in r["probe"] if row["phase"] == last]

        def mean(key: str, rows: list[dict[str, Any]] = rows) -> str:
            return f"{np.mean([row[key] for row in rows]):.3f}" if rows else "n/a"

        lines.append(
            f"| {r['label']} | {r['seed']} | {r['avg_performance']:.3f} | {r['forgetting']:.3f} | {mean('dq')} | "
            f"{mean('gap')} | {mean('ratio')}, {mean('ratio_p90')} | {mean('flipped')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    """Run one configuration (or render a records file) and print its table.

    :param argv: command-line arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", help="the record's name (e.g. the lever)")
    parser.add_argument("--agent", default="dqn-psp")
    parser.add_argument("--suite", default=None, help="default: the preset's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-tasks", type=int, default=None, help="default: the suite's")
    parser.add_argument("--steps-per-task", type=int, default=None, help="default: the suite's")
    parser.add_argument("--states", type=int, default=1000, help="greedy states stored per variant")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--run-dir", default="runs/dqn-gap")
    parser.add_argument("--out", help="JSON file of records (merged by label and seed)")
    parser.add_argument("--render", help="print the table of a records file")
    args = parser.parse_args(argv)
    if args.render:
        text = render(json.loads(Path(args.render).read_text(encoding="utf-8")))
        print(text)
        return text
    if not args.label:
        parser.error("--label is needed to run (the record's name)")
    torch.set_num_threads(1)
    return run_and_show(
        args.out,
        (args.label, args.seed),
        lambda r: (r["label"], r["seed"]),
        lambda: run(args),
        render,
    )


if __name__ == "__main__":
    main()
