"""Agent labels of the benchmark (``psp``, ``ewc-100``, ``psp-binary@lr=7.5e-5``, ``sb3``, the diagnostic
``psp-taskin``) turned into the ``--set`` overrides of a run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

#: the SB3 baseline of experiment 7: SB3's own policy for ``Dict`` observations (the task id is a
#: one-hot ``Discrete(1)`` entry there: one constant input)
SB3_AGENT = "sb3"
SB3_POLICY = "MultiInputPolicy"
#: policy arguments only the PSP policies take (or take with PSP meanings), dropped for the SB3 policy
PSP_ONLY_POLICY_KWARGS = (
    "context",
    "context_seed",
    "task_bias",
    "mode",
    "width_scaling",
    "base_width",
    "layer_norm",
    "features_extractor_class",
    "features_extractor_kwargs",
)

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
