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
other than the preset's own is the only ``--set`` it may get). Each finished run is merged into ``--out`` at once (atomic write), so an
interrupted benchmark keeps what it finished; running the same command again skips the runs already
there (``--force`` re-runs them). ``docs/results.md`` and its figures are rendered from the JSON.

Forward transfer uses, for each task, the AUC of the ``separate`` agent (K independent networks, so
every task is learned from scratch: a single-task reference) of the same experiment, K and seed.

Run::

    python benchmarks/continual.py --experiment 1 --seeds 0 1 2            # the full protocol
    python benchmarks/continual.py --experiment 1 --quick --workers 2      # reduced budget
    python benchmarks/continual.py --experiment 7 --presets sac-psp td3-psp # some presets of 7
    python benchmarks/continual.py --experiment 8 --out results/defaults.json --report docs/defaults.md
    python benchmarks/continual.py --render-only --out results/continual.json
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import copy
import json
import multiprocessing
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
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
            "a2c-psp": 50_000,
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
            "a2c-psp": 30_000,
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

#: the SB3 baseline of experiment 7: SB3's own policy for ``Dict`` observations (the task id is a
#: one-hot ``Discrete(1)`` entry there: one constant input)
SB3_AGENT = "sb3"
SB3_POLICY = "MultiInputPolicy"
#: policy arguments only the PSP policies take (or take with PSP meanings), dropped for the SB3 policy
PSP_ONLY_POLICY_KWARGS = ("context", "context_seed", "task_bias", "mode", "width_scaling", "base_width",
                          "features_extractor_class", "features_extractor_kwargs")  # fmt: skip

EWC_LAMBDA = 1000.0

#: a diagnostic agent, not a library mode: binary PSP on the raw observation (no lifting) whose first
#: layer of every network is per-task (a ``TaskLinear``) whenever its fan-in is at most
#: ``DIAGNOSTIC_MAX_FAN_IN``. With a 4-entry CartPole observation, binary keys of the first layer live in
#: {-1, +1}^4 and several of K = 10 tasks draw the same key; this agent measures how much of PSP's
#: forgetting that accounts for (compare ``psp-nolift``, and ``psp``, which lifts the observation).
DIAGNOSTIC_AGENT = "psp-taskin"
DIAGNOSTIC_MAX_FAN_IN = 16


def register_diagnostic_mode() -> None:
    """Register :data:`DIAGNOSTIC_AGENT` as a network mode (``psp_rl.nn.register_mode``; idempotent):
    superposed layers everywhere except a per-task first layer where the fan-in is small."""
    from psp_rl.nn.layers import TaskLinear
    from psp_rl.nn.modes import Mode, available_modes, register_mode, superposed_conv, superposed_linear

    if DIAGNOSTIC_AGENT in available_modes():
        return

    def linear(config: Any, name: str, n_in: int, n_out: int, head: bool) -> Any:
        if name.endswith("/0") and n_in <= DIAGNOSTIC_MAX_FAN_IN:
            return TaskLinear(n_in, n_out, config.num_tasks)
        return superposed_linear(config, name, n_in, n_out, head)

    register_mode(DIAGNOSTIC_AGENT, Mode(linear, superposed_conv, superposed=True))


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


#: short keys for agent-label overrides (``psp-binary@lr=7.5e-5``)
LABEL_KEYS = {"lr": "hyperparams.learning_rate"}


def _agent_sets(
    agent: str, algo_preset: str, width: int, ewc_lambda: float
) -> tuple[list[str], float | None]:
    """``--set`` overrides and the EWC strength of one agent label.

    A label is an agent (``psp``, ``shared``, ..., ``ewc-<lambda>``, ``psp-<context>``) optionally
    followed by ``@key=value`` overrides, e.g. ``psp-binary@lr=7.5e-5`` (keys of :data:`LABEL_KEYS` or
    any preset key such as ``hyperparams.n_epochs``).
    """
    agent, *extra = agent.split("@")
    overrides = _label_overrides(extra)
    sets = [f"policy_kwargs.net_arch={_arch(algo_preset, width)}"]
    ewc = None
    if agent == "ewc" or agent.startswith("ewc-"):  # ewc-<lambda> sets the strength in the label
        ewc = float(agent.removeprefix("ewc-")) if agent.startswith("ewc-") else ewc_lambda
        sets += ["policy_kwargs.mode=shared", f"ewc.lambda={ewc}"]  # the preset key (train() adds EWC)
    elif agent in (DIAGNOSTIC_AGENT, "psp-nolift"):
        # binary PSP on the raw observation, without the random lifting of small observations (the
        # diagnostic agent's per-task first layer then sees the raw fan-in)
        mode = "psp" if agent == "psp-nolift" else DIAGNOSTIC_AGENT
        sets += [f"policy_kwargs.mode={mode}", "policy_kwargs.features_extractor_kwargs.lift_dim=0"]
    elif agent.startswith("psp-"):
        sets += ["policy_kwargs.mode=psp", f"policy_kwargs.context={agent.removeprefix('psp-')}"]
    else:
        sets.append(f"policy_kwargs.mode={agent}")
    return sets + overrides, ewc


def _label_overrides(items: Sequence[str]) -> list[str]:
    """``--set`` items of the ``@KEY=VALUE`` parts of an agent label."""
    overrides = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"agent label override {item!r}: expected @KEY=VALUE, e.g. @lr=1e-4.")
        overrides.append(f"{LABEL_KEYS.get(key, key)}={value}")
    return overrides


def _arch(algo_preset: str, width: int) -> str:
    """Two hidden layers of ``width`` (separate actor and critic trunks for the actor-critic presets)."""
    if algo_preset.startswith("ppo"):
        return f"{{pi: [{width}, {width}], vf: [{width}, {width}]}}"
    return f"[{width}, {width}]"


def _single_sets(agent: str, preset: str, preset_data: dict[str, Any], width: int | None) -> list[str]:
    """``--set`` overrides of one agent of experiment 7.

    ``sb3`` is SB3's ``MultiInputPolicy`` with the preset's policy arguments minus the PSP-only ones
    (:data:`PSP_ONLY_POLICY_KWARGS`), given as one ``policy_kwargs`` mapping so the recorded
    ``psp-rl train`` command reproduces it; every other label is an agent of :func:`_agent_sets`
    (``psp``: the preset as is). ``width`` ``None`` keeps the preset's ``net_arch``.
    """
    name, *extra = agent.split("@")
    if name != SB3_AGENT:
        sets, ewc = _agent_sets(agent, preset, width or 64, EWC_LAMBDA)
        if ewc is not None:
            raise ValueError(f"experiment 7 compares single-task agents: {agent!r} (EWC) does not apply.")
        return sets if width is not None else sets[1:]  # [0] is the net_arch
    kwargs = dict(preset_data.get("policy_kwargs") or {})
    if width is not None:
        kwargs["net_arch"] = (
            {"pi": [width] * 2, "vf": [width] * 2} if preset.startswith("ppo") else [width] * 2
        )
    kwargs = {k: v for k, v in kwargs.items() if k not in PSP_ONLY_POLICY_KWARGS}
    return [f"policy={SB3_POLICY}", f"policy_kwargs={json.dumps(kwargs)}", *_label_overrides(extra)]


def _common_sets(spec: dict[str, Any], preset: str, steps: int) -> list[str]:
    """Evaluation, checkpoint and suite overrides shared by every agent of an experiment."""
    per_phase = int(spec["evals_per_phase"])
    sets = [
        f"eval.episodes={spec['eval_episodes']}",
        f"eval.eval_freq={steps // per_phase if per_phase > 0 else 0}",
        "checkpoint.keep=1",
    ]
    if "eval_matrix" in spec:
        sets.append(f"eval.matrix={spec['eval_matrix']}")
    if not preset.startswith(("ppo", "a2c")):
        sets.append("checkpoint.save_replay_buffer=false")
    for top, value in (spec.get("suite_overrides") or {}).items():
        for sub, v in value.items():
            sets.append(f"suite_overrides.{top}.{sub}={v}")
    return sets


def _single_jobs(name: str, spec: dict[str, Any], run_dir: str) -> list[dict[str, Any]]:
    """The jobs of experiment 7: every preset x width x seed x agent, K = 1."""
    from psp_rl.training import load_preset

    jobs = []
    for preset in spec["presets"]:
        preset_data = load_preset(preset)
        budget = spec["steps_per_task"]
        steps = int(budget[preset] if isinstance(budget, dict) else budget)
        for width in spec["widths"]:
            for k in spec["num_tasks"]:
                for seed in spec["seeds"]:
                    for agent in spec["agents"]:
                        sets = _single_sets(agent, preset, preset_data, width)
                        sets += _common_sets(spec, preset, steps)
                        w = "preset" if width is None else width
                        jobs.append(
                            {
                                "key": f"{name}|{preset}|{agent}|K{k}|w{w}|s{seed}",
                                "experiment": name,
                                "agent": agent,
                                "num_tasks": k,
                                "width": width,
                                "seed": seed,
                                "preset": preset,
                                "preset_data": preset_data,
                                "suite": spec["suites"][preset],
                                "steps_per_task": steps,
                                "n_envs": spec.get("n_envs"),
                                "sets": sets,
                                "ewc_lambda": None,
                                "run_dir": str(Path(run_dir) / f"exp{name}"),
                            }
                        )
    return jobs


def _preset_budget_sets(spec: dict[str, Any], preset_data: dict[str, Any], steps: int) -> list[str]:
    """The ``--set`` items that give a preset run as is the experiment's evaluation budget: none when
    the preset's own ``eval`` settings already are that budget."""
    from psp_rl.training import TrainConfig

    own = {**TrainConfig().eval, **(preset_data.get("eval") or {})}
    per_phase = int(spec["evals_per_phase"])
    wanted = {
        "episodes": int(spec["eval_episodes"]),
        "eval_freq": steps // per_phase if per_phase > 0 else 0,
    }
    return [f"eval.{k}={v}" for k, v in wanted.items() if own.get(k) != v]


def _combo_jobs(name: str, spec: dict[str, Any], run_dir: str) -> list[dict[str, Any]]:
    """The jobs of an experiment of explicit ``combos``: every agent label is a preset (``ppo-psp``),
    trained as it is -- no net_arch, mode, context or hyper-parameter overrides -- for each
    (agent, K, seed) of :func:`_selected_combos`."""
    from psp_rl.training import load_preset

    jobs = []
    for combo in _selected_combos(spec):
        agent = combo["agent"]
        preset = combo.get("preset", agent)
        preset_data = load_preset(preset)
        # a preset's own steps_per_task (a2c-psp: 100k) wins over the experiment's; --steps-per-task or
        # --quick (a budget below the protocol) applies to every preset
        own = preset_data.get("steps_per_task")
        full_steps = spec["steps_per_task"] == spec["protocol"]["steps_per_task"]
        steps = int(own if own is not None and full_steps else spec["steps_per_task"])
        sets = _preset_budget_sets(spec, preset_data, steps)
        for seed in combo["seeds"]:
            jobs.append(
                {
                    "key": f"{name}|{agent}|K{combo['num_tasks']}|wpreset|s{seed}",
                    "experiment": name,
                    "agent": agent,
                    "num_tasks": combo["num_tasks"],
                    "width": None,
                    "seed": seed,
                    "preset": preset,
                    "preset_data": preset_data,
                    "suite": combo.get("suite", spec["suite"]),
                    "steps_per_task": steps,
                    "n_envs": spec.get("n_envs"),
                    "sets": list(sets),
                    "ewc_lambda": None,
                    "run_dir": str(Path(run_dir) / f"exp{name}"),
                }
            )
    return jobs


def make_jobs(name: str, spec: dict[str, Any], run_dir: str) -> list[dict[str, Any]]:
    """Every run of an experiment, as picklable job descriptions.

    The agent preset is read here, once, and travels with every job, so editing ``agents/`` while a
    benchmark runs cannot mix two sets of hyper-parameters in one invocation.

    :param name: experiment name.
    :param spec: from :func:`experiment_spec`.
    :param run_dir: parent folder of the run folders.
    :return: jobs with a unique ``key``.
    """
    from psp_rl.training import load_preset

    if spec.get("kind") == "single":
        return _single_jobs(name, spec, run_dir)
    if "combos" in spec:
        return _combo_jobs(name, spec, run_dir)
    preset_data = load_preset(spec["agent"])
    jobs = []
    limits = spec.get("width_max_tasks", {})
    for width in spec["widths"]:
        for k in spec["num_tasks"]:
            if str(width) in limits and k > limits[str(width)]:
                continue
            for seed in spec["seeds"]:
                for agent in spec["agents"]:
                    sets, ewc = _agent_sets(agent, spec["agent"], width, spec["ewc_lambda"])
                    steps = int(spec["steps_per_task"])
                    sets += _common_sets(spec, spec["agent"], steps)
                    jobs.append(
                        {
                            "key": f"{name}|{agent}|K{k}|w{width}|s{seed}",
                            "experiment": name,
                            "agent": agent,
                            "num_tasks": k,
                            "width": width,
                            "seed": seed,
                            "preset": spec["agent"],
                            "preset_data": preset_data,
                            "suite": spec["suite"],
                            "steps_per_task": steps,
                            "n_envs": spec.get("n_envs"),
                            "sets": sets,
                            "ewc_lambda": ewc,
                            "run_dir": str(Path(run_dir) / f"exp{name}"),
                        }
                    )
    return jobs


def _compact_history(history: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "step": [int(h["step"]) for h in history],
        "phase_end": [bool(h["phase_end"]) for h in history],
        "normalized": [[None if v is None else round(float(v), 4) for v in h["normalized"]] for h in history],
    }


def job_config(job: dict[str, Any]) -> Any:
    """The validated training config of a job: its preset (as read when the job list was made), the
    explicit options, then its ``--set`` overrides.

    :param job: from :func:`make_jobs`.
    :return: a :class:`psp_rl.training.TrainConfig`.
    :raises ValueError: when the config is invalid (e.g. a policy argument the policy does not take).
    """
    from psp_rl.training import TrainConfig
    from psp_rl.training.config import apply_overrides, parse_overrides

    register_diagnostic_mode()
    # the preset as read once when the benchmark started: every run of an invocation shares it
    data = TrainConfig().to_dict()
    for key, value in job["preset_data"].items():
        data[key] = {**data[key], **value} if key in ("eval", "checkpoint") else copy.deepcopy(value)
    explicit = {
        "agent": job["preset"], "suite": job["suite"], "seed": job["seed"], "device": "cpu",
        "n_envs": job["n_envs"], "steps_per_task": job["steps_per_task"], "num_tasks": job["num_tasks"],
        "run_dir": job["run_dir"],
    }  # fmt: skip
    data.update({k: v for k, v in explicit.items() if v is not None})
    return TrainConfig.from_dict(apply_overrides(data, parse_overrides(job["sets"])))


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one run and return its record (runs in a worker process).

    :param job: from :func:`make_jobs`.
    :return: the record written to the results JSON.
    """
    import torch

    torch.set_num_threads(1)
    from psp_rl.metrics import nan_to_none
    from psp_rl.training import train

    cfg = job_config(job)
    command = ["psp-rl", "train", "--agent", job["preset"], "--suite", job["suite"]]
    command += ["--seed", str(job["seed"]), "--steps-per-task", str(job["steps_per_task"])]
    command += ["--num-tasks", str(job["num_tasks"])]
    for item in job["sets"]:
        command += ["--set", item]
    started = time.perf_counter()
    result = train(cfg, progress_bar=False, verbose=0, command=command)
    wall = time.perf_counter() - started
    m = result.metrics
    return {
        **{k: job[k] for k in ("key", "experiment", "agent", "num_tasks", "width", "seed", "ewc_lambda")},
        "preset": job["preset"],
        "algo": cfg.algo,
        "policy": cfg.policy,
        "suite": cfg.suite,
        "steps_per_task": job["steps_per_task"],
        "n_envs": cfg.n_envs,
        "eval_episodes": cfg.eval["episodes"],
        "hyperparams": cfg.hyperparams,
        "policy_kwargs": cfg.policy_kwargs,
        "num_timesteps": m["num_timesteps"],
        "param_count": int(sum(p.numel() for p in result.model.policy.parameters())),
        "wall_time_s": round(wall, 2),
        "avg_performance": m["avg_performance"],
        "forgetting": m["forgetting"],
        "forgetting_per_task": m["forgetting_per_task"],
        "perf_matrix": m["perf_matrix"],
        "phase_tasks": m["phase_tasks"],
        "task_auc": m["task_auc"],
        "final_normalized": m["final_normalized"],
        "final_returns": nan_to_none(m["final_returns"]),
        "history": _compact_history(m["eval_history"]),
        "run_path": str(result.run_path),
        "git_commit": _git_commit(result.run_path),
    }


def _git_commit(run_path: Path) -> str | None:
    """The commit recorded in the run folder's ``versions.json`` (the code the run used)."""
    try:
        return json.loads((Path(run_path) / "versions.json").read_text()).get("git_commit")
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------- results file
def load_results(path: Path) -> dict[str, Any]:
    """Read the results JSON (an empty skeleton if it does not exist).

    :param path: the file.
    """
    if path.is_file():
        return json.loads(path.read_text())
    return {"schema": 1, "experiments": {}, "overhead": None}


def save_results(path: Path, results: dict[str, Any]) -> None:
    """Write the results JSON atomically.

    :param path: the file.
    :param results: the content.
    """
    from psp_rl.utils import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(results, indent=1))


def _experiment_entry(
    results: dict[str, Any], name: str, spec: dict[str, Any], command: str
) -> dict[str, Any]:
    entry = results["experiments"].setdefault(name, {"runs": [], "commands": []})
    entry.update(
        {
            k: spec[k]
            for k in (
                "title",
                "kind",
                "suite",
                "agent",
                "suites",
                "protocol",
                "ewc_lambda",
                "per_seed",
                "targets",
            )
            if k in spec
        }
    )
    entry["budget"] = {
        k: spec[k]
        for k in ("steps_per_task", "seeds", "num_tasks", "widths", "agents", "eval_episodes", "presets")
        if k in spec
    }
    entry["budget"]["evals_per_phase"] = spec["evals_per_phase"]
    if "combos" in spec:
        entry["budget"]["combos"] = _selected_combos(spec)
    entry["full_protocol"] = spec["full_protocol"] and entry.get("full_protocol", True)
    if command not in entry["commands"]:
        entry["commands"].append(command)
    return entry


def merge_results(results: dict[str, Any], other: dict[str, Any]) -> None:
    """Merge another results file into ``results`` (runs by key, ``other`` wins; commands joined).

    Lets several benchmark invocations (or machines) write separate files, merged afterwards.

    :param results: the results to update in place.
    :param other: the results to merge in.
    """
    for name, entry in other.get("experiments", {}).items():
        mine = results["experiments"].setdefault(name, {"runs": [], "commands": []})
        keys = {r["key"] for r in entry.get("runs", [])}
        runs = [r for r in mine.get("runs", []) if r["key"] not in keys] + list(entry.get("runs", []))
        commands = [*mine.get("commands", [])]
        commands += [c for c in entry.get("commands", []) if c not in commands]
        mine.update({k: v for k, v in entry.items() if k not in ("runs", "commands", "full_protocol")})
        mine["full_protocol"] = bool(mine.get("full_protocol", True) and entry.get("full_protocol", True))
        mine["runs"], mine["commands"] = runs, commands
    if other.get("overhead") is not None:
        results["overhead"] = other["overhead"]


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
    parser.add_argument("--workers", type=int, default=1, help="runs in parallel (processes)")
    parser.add_argument("--out", default="results/continual.json", help="raw results JSON (merged into)")
    parser.add_argument("--run-dir", default="runs/bench", help="parent folder of the run folders")
    parser.add_argument("--report", default="docs/results.md", help="markdown report to render")
    parser.add_argument("--fig-dir", default="docs/figures", help="folder of the report's figures")
    parser.add_argument("--no-report", action="store_true", help="do not render the report")
    parser.add_argument(
        "--notes", default="results/notes.json", help="findings shown in the report (JSON, if it exists)"
    )
    parser.add_argument("--render-only", action="store_true", help="only render the report from --out")
    parser.add_argument(
        "--merge", nargs="+", default=[], metavar="JSON", help="merge these results files into --out first"
    )
    parser.add_argument("--force", action="store_true", help="re-run runs already in --out")
    parser.add_argument("--dry-run", action="store_true", help="list the runs, train nothing")
    args = parser.parse_args(argv)

    command = " ".join(
        ["python", "benchmarks/continual.py", *(shlex.quote(a) for a in (argv or sys.argv[1:]))]
    )
    out = Path(args.out)
    results = load_results(out)
    for path in args.merge:
        if not Path(path).is_file():
            raise FileNotFoundError(f"--merge {path}: no such results file.")
        merge_results(results, load_results(Path(path)))
        save_results(out, results)
        print(f"merged {path} into {out}")
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
        started = time.perf_counter()

        def record_done(job: dict[str, Any], record: dict[str, Any]) -> None:
            record["command"] = command
            runs = results["experiments"][job["experiment"]]["runs"]
            runs[:] = [r for r in runs if r["key"] != record["key"]] + [record]
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

        if args.workers <= 1:  # in this process: no start-up cost, easy to debug
            for job in todo:
                try:
                    record_done(job, run_job(job))
                except Exception as error:  # keep the others going; report at the end
                    print(f"FAILED {job['key']}: {error!r}", flush=True)
                    failed.append(job["key"])
        else:
            ctx = multiprocessing.get_context("spawn")
            with futures.ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx) as pool:
                pending = {pool.submit(run_job, job): job for job in todo}
                for future in futures.as_completed(pending):
                    job = pending[future]
                    try:
                        record_done(job, future.result())
                    except Exception as error:
                        print(f"FAILED {job['key']}: {error!r}", flush=True)
                        failed.append(job["key"])
        if "6" in args.experiment:
            run_overhead(results, args, command)
            save_results(out, results)
    if not args.no_report:
        from report import render

        notes = Path(args.notes) if args.notes and Path(args.notes).is_file() else None
        render(out, out_md=args.report, fig_dir=args.fig_dir, notes=notes)
        print(f"wrote {args.report} and figures in {args.fig_dir}")
    if failed:
        raise RuntimeError(f"{len(failed)} run(s) failed: {', '.join(failed)} (see the messages above).")
    return results


if __name__ == "__main__":
    main()
