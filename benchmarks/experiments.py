"""The experiments of the continual benchmark: their full protocols (``EXPERIMENTS``), the reduced
budget of ``--quick`` (``QUICK``) and the spec of one experiment after the command-line overrides."""

from __future__ import annotations

import argparse
import copy
import json
from typing import Any

MODES_1 = ("psp", "shared", "onehot", "multihead", "separate", "ewc")

#: the full protocol of every experiment
EXPERIMENTS: dict[str, dict[str, Any]] = {
    "1": {
        "title": "Continual cartpole-permuted, K = 10, PPO, all modes",
        "kind": "continual",
        "suite": "cartpole-permuted",
        "agent": "ppo-psp",
        "agents": list(MODES_1),
        "num_tasks": [10],
        "widths": [64],
        "steps_per_task": 50_000,
        "seeds": [0, 1, 2],
        "evals_per_phase": 4,
        "eval_episodes": 10,
    },
    "2": {
        "title": "Capacity: PSP contexts on cartpole-permuted against K",
        "kind": "capacity",
        "suite": "cartpole-permuted",
        "agent": "ppo-psp",
        "agents": ["psp-binary", "psp-complex", "psp-rotation"],
        "num_tasks": [10, 50, 100],
        "widths": [256, 64],
        "width_max_tasks": {"64": 50},  # width 64 only up to K = 50
        "steps_per_task": 50_000,
        "seeds": [0],
        "evals_per_phase": 0,
        "eval_episodes": 5,
        "eval_matrix": "diagonal",  # R[j, j] and the last row: 2K task evaluations instead of K^2
    },
    "3": {
        "title": "Output interference: cartpole-actions, K = 10, PPO",
        "kind": "continual",
        "suite": "cartpole-actions",
        "agent": "ppo-psp",
        "agents": ["psp", "shared", "onehot"],
        "num_tasks": [10],
        "widths": [64],
        "steps_per_task": 50_000,
        "seeds": [0, 1, 2],
        "evals_per_phase": 4,
        "eval_episodes": 10,
        "suite_overrides": {"schedule": {"cycles": 1}},
    },
    "4": {
        "title": "Continuous control: pendulum-permuted (torque reversed in half the variants), SAC",
        "kind": "continual",
        "suite": "pendulum-permuted",
        "agent": "sac-psp",
        "agents": ["psp", "shared"],
        "num_tasks": [4],
        "widths": [64],
        "steps_per_task": 15_000,
        "seeds": [0, 1, 2],
        "evals_per_phase": 4,
        "eval_episodes": 5,
    },
    "5": {
        "title": "Multi-task at once (parallel schedule): cartpole-permuted, PPO",
        "kind": "parallel",
        "suite": "cartpole-permuted",
        "agent": "ppo-psp",
        "agents": ["psp", "onehot", "multihead", "separate"],
        "num_tasks": [5, 10],
        "widths": [64],
        "steps_per_task": 50_000,  # a parallel run lasts K x steps_per_task env steps in all
        "seeds": [0, 1, 2],
        "evals_per_phase": 2,
        "eval_episodes": 10,
        "n_envs": 10,  # every sub-env keeps one task: n_envs >= K, same for K = 5 and 10
        "suite_overrides": {"schedule": {"kind": "parallel"}},
    },
    "7": {
        "title": "No cost at K = 1: every PSP preset against SB3's own policy on one variant",
        "kind": "single",
        "presets": ["ppo-psp", "a2c-psp", "dqn-psp", "sac-psp", "td3-psp"],
        # each preset's suite; K = 1 keeps its variant 0 (a fixed permutation + sign flip)
        "suites": {
            "ppo-psp": "cartpole-permuted",
            "a2c-psp": "cartpole-permuted",
            "dqn-psp": "cartpole-permuted",
            "sac-psp": "pendulum-permuted",
            "td3-psp": "pendulum-permuted",
        },
        "agents": ["psp", "sb3"],
        "num_tasks": [1],
        "widths": [None],  # None: every preset's own net_arch
        # env steps: what each preset needs to learn one variant (the suites' steps_per_task)
        "steps_per_task": {
            "ppo-psp": 50_000,
            "a2c-psp": 200_000,  # its preset's own steps_per_task (A2C needs more samples)
            "dqn-psp": 50_000,
            "sac-psp": 15_000,
            "td3-psp": 15_000,
        },
        "seeds": [0, 1, 2],
        "evals_per_phase": 10,  # 11 points with the one at step 0: the AUC of the learning curve
        "eval_episodes": 10,
    },
    "8": {
        "title": "Default presets keep every variant",
        "kind": "continual",
        "suite": "cartpole-permuted",
        # every agent label is a preset, run as it is: no width / mode / context / hyper-parameter sets
        "agents": ["ppo-psp", "a2c-psp"],
        # the runs: (agent, K, seeds) combinations; --agents, --num-tasks and --seeds filter them
        "combos": [
            {"agent": "ppo-psp", "num_tasks": 5, "seeds": [0, 1, 2, 3, 4]},
            {"agent": "ppo-psp", "num_tasks": 10, "seeds": [0, 1, 2]},
            {"agent": "a2c-psp", "num_tasks": 5, "seeds": [0, 1, 2, 3, 4]},  # its preset: 100k steps/task
        ],
        "num_tasks": [5, 10],
        "widths": [None],  # the presets' own net_arch
        "steps_per_task": 50_000,
        "seeds": [0, 1, 2, 3, 4],
        "evals_per_phase": 0,  # evaluation at the phase ends only (the presets' own eval_freq 0)
        "eval_episodes": 10,
        "per_seed": True,  # the report's per-seed table
        "targets": {"avg_performance": 0.97, "forgetting": 0.02},  # on every seed
    },
}

#: the reduced budget of ``--quick`` (what fits on 2 shared CPU cores in about an hour)
QUICK: dict[str, dict[str, Any]] = {
    "1": {"steps_per_task": 30_000, "seeds": [0], "eval_episodes": 5},
    "2": {"num_tasks": [10], "widths": [64], "steps_per_task": 30_000, "eval_episodes": 5},
    "3": {"steps_per_task": 30_000, "seeds": [0], "eval_episodes": 5},
    "4": {"steps_per_task": 10_000, "seeds": [0], "eval_episodes": 5},
    "5": {"num_tasks": [5], "steps_per_task": 30_000, "seeds": [0], "eval_episodes": 5},
    "7": {
        "steps_per_task": {
            "ppo-psp": 30_000,
            "a2c-psp": 200_000,  # cheap: A2C runs ~10k steps/s
            "dqn-psp": 30_000,
            "sac-psp": 8_000,
            "td3-psp": 8_000,
        },
        "seeds": [0, 1],  # two seeds: the verdict needs a spread
        "evals_per_phase": 5,
        "eval_episodes": 5,
    },
    "8": {"steps_per_task": 20_000, "seeds": [0]},
}


def experiment_spec(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """The protocol of one experiment after ``--quick`` and the command-line overrides.

    :param name: ``"1"`` ... ``"5"``, ``"7"`` or ``"8"``.
    :param args: the parsed command line.
    :return: a copy of :data:`EXPERIMENTS` ``[name]`` with the budget actually used.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"Unknown experiment {name!r}: use one of {', '.join(sorted([*EXPERIMENTS, '6']))}.")
    spec = copy.deepcopy(EXPERIMENTS[name])
    full = copy.deepcopy(spec)
    if args.quick:
        spec.update(copy.deepcopy(QUICK[name]))
    for key, value in (
        ("seeds", args.seeds),
        ("steps_per_task", args.steps_per_task),
        ("num_tasks", args.num_tasks),
        ("widths", args.widths),
        ("agents", args.agents),
        ("eval_episodes", args.eval_episodes),
        ("presets", getattr(args, "presets", None)),
    ):
        if value is not None:
            if key == "presets" and "presets" not in spec:
                raise ValueError(f"--presets is for experiment 7, not experiment {name}.")
            spec[key] = value
    spec["ewc_lambda"] = args.ewc_lambda
    budget_keys = ("steps_per_task", "seeds", "num_tasks", "widths", "agents", "eval_episodes")
    if "presets" in spec:
        budget_keys += ("presets",)
        unknown = [p for p in spec["presets"] if p not in spec["suites"]]
        if unknown:
            raise ValueError(
                f"experiment {name}: no suite for preset(s) {', '.join(unknown)}; use "
                f"{', '.join(spec['suites'])}."
            )
    if "combos" in spec:
        _check_combos(name, spec, full)
    spec["full_protocol"] = all(spec[k] == full[k] for k in budget_keys)
    spec["protocol"] = {k: full[k] for k in budget_keys}
    if "combos" in spec:
        spec["protocol"]["combos"] = copy.deepcopy(full["combos"])
    return spec


def _check_combos(name: str, spec: dict[str, Any], full: dict[str, Any]) -> None:
    """The overrides an experiment of explicit ``combos`` (presets as is) accepts: ``--agents``,
    ``--num-tasks`` and ``--seeds`` select among its combinations; ``--widths`` does not apply."""
    if spec["widths"] != full["widths"]:
        raise ValueError(f"experiment {name} runs the presets as they are: --widths does not apply.")
    agents = {c["agent"] for c in spec["combos"]}
    unknown = [a for a in spec["agents"] if a not in agents]
    if unknown:
        raise ValueError(
            f"experiment {name}: no run for agent(s) {', '.join(unknown)}; use {', '.join(sorted(agents))}."
        )
    if not _selected_combos(spec):
        raise ValueError(
            f"experiment {name}: --agents / --num-tasks / --seeds select none of its runs "
            f"({json.dumps(full['combos'])})."
        )


def _selected_combos(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``combos`` of an experiment narrowed to its ``agents``, ``num_tasks`` and ``seeds``."""
    selected = []
    for combo in spec["combos"]:
        seeds = [s for s in combo["seeds"] if s in spec["seeds"]]
        if combo["agent"] in spec["agents"] and combo["num_tasks"] in spec["num_tasks"] and seeds:
            selected.append({**combo, "seeds": seeds})
    return selected
