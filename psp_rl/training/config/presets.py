"""Agent presets (``agents/*.yaml``) and ``--set`` overrides, resolved into a :class:`TrainConfig`.

A preset is a zoo-style YAML mapping::

    description: PPO with binary PSP contexts
    algo: ppo                 # ppo | a2c | dqn | sac | td3
    policy: psp               # the PSP policy of the algorithm, or an SB3 alias such as MultiInputPolicy
    n_envs: 8
    policy_kwargs: {context: binary, net_arch: [64, 64], activation_fn: tanh}
    hyperparams: {learning_rate: 1.0e-3, n_steps: 128, batch_size: 256}
    eval: {episodes: 10, eval_freq: 0}
    checkpoint: {freq: 0, keep: 2}
    rehearsal: {coef: 1.0}    # a continual mechanism's section (psp_rl.continual)

It is resolved into a :class:`TrainConfig`: the preset, then the explicit command-line options
(``--seed``, ``--n-envs``, ...), then ``--set key.sub=value`` overrides (values parsed with
``yaml.safe_load``). Every key is checked; an unknown key is an error naming the closest valid key.

Example::

    >>> cfg = resolve_config("ppo-psp", suite="cartpole-permuted", sets=["hyperparams.learning_rate=1e-3"])
    >>> cfg.hyperparams["learning_rate"]
    0.001
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import yaml

from psp_rl.resources import find_yaml, load_yaml
from psp_rl.training.config.schema import PRESET_KEYS, TrainConfig, coerce_tree, mechanism_names
from psp_rl.utils import did_you_mean

__all__ = ["apply_overrides", "load_preset", "parse_overrides", "resolve_config"]


def load_preset(name: str) -> dict[str, Any]:
    """Read an agent preset by name (``ppo-psp``) or path, checking its keys.

    :param name: preset name (file stem in ``agents/``) or a path to a YAML file.
    :return: the preset mapping.
    :raises ValueError: unknown preset (with the closest name) or unknown key.
    """
    data = load_yaml(find_yaml("agents", name))
    valid = [*PRESET_KEYS, *mechanism_names()]
    for key in data:
        if key not in valid:
            raise ValueError(f"Unknown key {key!r} in agent preset {name!r}.{did_you_mean(key, valid)}")
    return data


def parse_overrides(items: Sequence[str] | None) -> list[tuple[list[str], Any]]:
    """Parse ``--set`` items of the form ``key.sub=value`` (value read with ``yaml.safe_load``).

    :param items: the strings given after ``--set``.
    :return: ``(key path, value)`` pairs.
    :raises ValueError: when an item is not ``KEY=VALUE``.

    Example::

        >>> parse_overrides(["hyperparams.learning_rate=1e-3", "policy_kwargs.net_arch=[32, 32]"])
        [(['hyperparams', 'learning_rate'], 0.001), (['policy_kwargs', 'net_arch'], [32, 32])]
    """
    pairs: list[tuple[list[str], Any]] = []
    for item in items or []:
        key, sep, text = item.partition("=")
        path = key.strip().split(".")
        if not sep or not key.strip() or any(not part for part in path):
            raise ValueError(
                f"Bad --set {item!r}: expected KEY=VALUE with a dotted key, "
                "e.g. --set hyperparams.learning_rate=1e-3 or --set policy_kwargs.context=complex."
            )
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as error:
            raise ValueError(f"Bad --set {item!r}: the value is not valid YAML ({error}).") from error
        pairs.append((path, coerce_tree(value)))
    return pairs


def apply_overrides(config: dict[str, Any], overrides: Sequence[tuple[list[str], Any]]) -> dict[str, Any]:
    """Set dotted keys in a config dict (in place). Top-level and section keys are checked later by
    :func:`validate_config`; the top-level key is checked here so typos fail early.

    :param config: a config mapping (as from :meth:`TrainConfig.to_dict`).
    :param overrides: pairs from :func:`parse_overrides`.
    :return: ``config``.
    :raises ValueError: unknown top-level key, or a sub-key under a non-mapping key.
    """
    names = TrainConfig.field_names()
    for path, value in overrides:
        if path[0] not in names:
            raise ValueError(f"Unknown --set key {'.'.join(path)!r}.{did_you_mean(path[0], names)}")
        node = config
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None or child is False or child is True:
                child = {}
                node[part] = child
            if not isinstance(child, dict):
                raise ValueError(
                    f"--set {'.'.join(path)}: {'.'.join(path[: depth + 1])!r} is not a mapping "
                    f"(it is {child!r}); set it directly instead."
                )
            node = child
        node[path[-1]] = value
    return config


def resolve_config(
    agent: str,
    suite: str | None = None,
    *,
    seed: int | None = None,
    device: str | None = None,
    n_envs: int | None = None,
    steps_per_task: int | None = None,
    num_tasks: int | None = None,
    run_dir: str | None = None,
    sets: Sequence[str] | None = None,
) -> TrainConfig:
    """Preset, then explicit options (those not ``None``), then ``--set`` overrides.

    :param agent: preset name or path.
    :param suite: suite name or path (default: the preset's ``suite`` key, else ``cartpole-permuted``).
    :param seed: random seed.
    :param device: ``auto``, ``cpu`` or ``cuda``.
    :param n_envs: parallel training envs.
    :param steps_per_task: env steps per task phase.
    :param num_tasks: number of task variants.
    :param run_dir: parent folder for run folders.
    :param sets: ``KEY=VALUE`` override strings.
    :return: the validated config.
    """
    preset = load_preset(agent)
    data = TrainConfig().to_dict()
    for key, value in preset.items():
        if key in ("eval", "checkpoint") and isinstance(value, dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = copy.deepcopy(value)
    data["agent"] = str(agent)
    explicit = {
        "suite": suite,
        "seed": seed,
        "device": device,
        "n_envs": n_envs,
        "steps_per_task": steps_per_task,
        "num_tasks": num_tasks,
        "run_dir": run_dir,
    }
    data.update({k: v for k, v in explicit.items() if v is not None})
    apply_overrides(data, parse_overrides(sets))
    return TrainConfig.from_dict(data)
