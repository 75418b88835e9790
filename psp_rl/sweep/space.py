"""The search space of ``psp-rl tune``: the default space per algorithm, the YAML space file, the check of
every key against the agent's config, and the space as Ray Tune domains.

A space maps a dotted config key to one distribution (``yaml.safe_load``)::

    hyperparams.learning_rate: {loguniform: [1.0e-5, 1.0e-2]}
    hyperparams.ent_coef: {uniform: [0.0, 0.01]}
    hyperparams.n_steps: {choice: [128, 256, 512]}
    policy_kwargs.net_arch: {choice: [[64, 64], [256, 256]]}
    rehearsal.states_per_task: {int: [1000, 20000]}      # integers, both ends included

A sampled value reaches the run as a ``--set KEY=VALUE`` item. Choices travel as their ``--set`` text,
so that a choice may be a list or a mapping (Optuna's categorical takes only plain scalars).

Example::

    >>> sorted(default_space("dqn"))[:2]
    ['hyperparams.batch_size', 'hyperparams.learning_rate']
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from psp_rl.sweep.grid import check_grid_key, value_text
from psp_rl.training.config import TrainConfig, coerce_tree, resolve_config
from psp_rl.utils import did_you_mean

__all__ = [
    "DEFAULT_SPACES",
    "DISTRIBUTIONS",
    "check_space",
    "default_space",
    "load_space_file",
    "resolver",
    "to_tune",
]

#: the distributions a space may use, with the form of their argument
DISTRIBUTIONS: dict[str, str] = {
    "loguniform": "[LOW, HIGH], both > 0",
    "uniform": "[LOW, HIGH]",
    "int": "[LOW, HIGH], integers, both included",
    "choice": "[V1, V2, ...]",
}

_ON_POLICY_NETS = [{"pi": [w, w], "vf": [w, w]} for w in (64, 128, 256)]
_OFF_POLICY_CONTINUAL: dict[str, Any] = {
    "rehearsal.ratio": {"uniform": [0.25, 1.0]},
    "replay.at_switch": {"choice": ["reset", "keep"]},
}
#: the default space of each algorithm (``choice`` values as YAML would read them)
DEFAULT_SPACES: dict[str, dict[str, Any]] = {
    "ppo": {
        "hyperparams.learning_rate": {"loguniform": [1.0e-4, 3.0e-3]},
        "hyperparams.n_steps": {"choice": [128, 256, 512]},
        "hyperparams.batch_size": {"choice": [32, 64, 128]},
        "hyperparams.ent_coef": {"uniform": [0.0, 0.01]},
        "policy_kwargs.net_arch": {"choice": _ON_POLICY_NETS},
    },
    "a2c": {
        "hyperparams.learning_rate": {"loguniform": [1.0e-4, 3.0e-3]},
        "hyperparams.n_steps": {"choice": [5, 8, 16, 32]},
        "hyperparams.ent_coef": {"uniform": [0.0, 0.01]},
        "policy_kwargs.net_arch": {"choice": _ON_POLICY_NETS},
    },
    "dqn": {
        "hyperparams.learning_rate": {"loguniform": [1.0e-4, 3.0e-3]},
        "hyperparams.batch_size": {"choice": [64, 128, 256]},
        "policy_kwargs.net_arch": {"choice": [[64, 64], [128, 128], [256, 256]]},
        **_OFF_POLICY_CONTINUAL,
    },
    "sac": {
        "hyperparams.learning_rate": {"loguniform": [1.0e-4, 3.0e-3]},
        "hyperparams.batch_size": {"choice": [128, 256, 512]},
        "policy_kwargs.net_arch": {"choice": [[64, 64], [256, 256], [400, 300]]},
        **_OFF_POLICY_CONTINUAL,
    },
}
DEFAULT_SPACES["td3"] = copy.deepcopy(DEFAULT_SPACES["sac"])


def default_space(algo: str) -> dict[str, Any]:
    """The default space of an algorithm.

    :param algo: ``ppo``, ``a2c``, ``dqn``, ``sac`` or ``td3``.
    :raises ValueError: another algorithm (give ``--space FILE``).
    """
    if algo not in DEFAULT_SPACES:
        raise ValueError(
            f"no default search space for algo {algo!r} (defaults: {', '.join(DEFAULT_SPACES)}); "
            "give one with --space FILE."
        )
    return copy.deepcopy(DEFAULT_SPACES[algo])


def load_space_file(path: str | Path) -> dict[str, Any]:
    """Read a space file (``yaml.safe_load``); its form is checked by :func:`check_space`.

    :param path: the YAML file.
    :raises FileNotFoundError: no such file.
    :raises ValueError: not valid YAML, or not a non-empty mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--space {path}: no such file.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"--space {path}: not valid YAML ({error}).") from error
    if not isinstance(data, dict) or not data:
        raise ValueError(
            f"--space {path}: a space maps dotted config keys to distributions, "
            "e.g. hyperparams.learning_rate: {loguniform: [1.0e-5, 1.0e-2]}."
        )
    return data


def _distribution(key: str, spec: Any, source: str) -> tuple[str, list[Any]]:
    """The checked ``(kind, argument)`` of one key's distribution."""
    form = ", ".join(f"{{{k}: {v}}}" for k, v in DISTRIBUTIONS.items())
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ValueError(f"{source}: {key}: give one distribution, one of {form}; got {spec!r}.")
    kind, arg = next(iter(spec.items()))
    if kind not in DISTRIBUTIONS:
        raise ValueError(
            f"{source}: {key}: unknown distribution {kind!r}.{did_you_mean(kind, DISTRIBUTIONS)}"
        )
    if not isinstance(arg, list) or not arg:
        raise ValueError(f"{source}: {key}: {kind} takes {DISTRIBUTIONS[kind]}, got {arg!r}.")
    if kind == "choice":
        return kind, [coerce_tree(v) for v in arg]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in arg)
    if len(arg) != 2 or not numbers or not arg[0] < arg[1]:
        raise ValueError(f"{source}: {key}: {kind} takes {DISTRIBUTIONS[kind]} with LOW < HIGH, got {arg!r}.")
    if kind == "loguniform" and arg[0] <= 0:
        raise ValueError(f"{source}: {key}: loguniform needs LOW > 0, got {arg!r}.")
    if kind == "int" and not all(isinstance(v, int) for v in arg):
        raise ValueError(f"{source}: {key}: int takes integers, got {arg!r}.")
    return kind, [float(v) if kind != "int" else int(v) for v in arg]


def _examples(kind: str, arg: list[Any]) -> list[Any]:
    if kind == "choice":
        return arg
    if kind == "loguniform":
        return [arg[0], math.sqrt(arg[0] * arg[1]), arg[1]]
    return [arg[0], arg[1]]


def check_space(
    space: Mapping[str, Any],
    resolve: Any,
    source: str = "--space",
) -> dict[str, tuple[str, list[Any]]]:
    """Check every key and distribution of a space, and every value it may give, against the config.

    :param space: dotted key -> ``{kind: argument}``.
    :param resolve: ``resolve(sets)`` -> the :class:`TrainConfig` of the tune's base with those ``--set``
        items (it raises ``ValueError`` naming the closest valid key).
    :param source: named in error messages.
    :return: key -> ``(kind, argument)``.
    :raises ValueError: naming the key and the fix.
    """
    out = {}
    for key, spec in space.items():
        key = str(key)
        try:
            check_grid_key(key)
        except ValueError as error:
            raise ValueError(f"{source}: {str(error).replace('--grid', 'key')}") from error
        kind, arg = _distribution(key, spec, source)
        for value in _examples(kind, arg):
            try:
                resolve([f"{key}={value_text(value)}"])
            except ValueError as error:
                raise ValueError(f"{source}: {key}={value_text(value)}: {error}") from error
        out[key] = (kind, arg)
    return out


def to_tune(space: Mapping[str, tuple[str, list[Any]]]) -> dict[str, Any]:
    """The checked space as Ray Tune domains (a choice as its values' ``--set`` texts).

    :param space: from :func:`check_space`.
    :return: key -> a ``ray.tune`` domain.
    """
    from ray import tune

    domains: dict[str, Any] = {}
    for key, (kind, arg) in space.items():
        if kind == "loguniform":
            domains[key] = tune.loguniform(arg[0], arg[1])
        elif kind == "uniform":
            domains[key] = tune.uniform(arg[0], arg[1])
        elif kind == "int":
            domains[key] = tune.randint(arg[0], arg[1] + 1)
        else:
            domains[key] = tune.choice([value_text(v) for v in arg])
    return domains


def resolver(agent: str, suite: str | None, sets: list[str], **options: Any) -> Any:
    """``resolve(extra_sets)`` for :func:`check_space`: the tune's base config plus those items.

    :param agent: preset name or path.
    :param suite: task suite (``None``: the preset's).
    :param sets: the tune's own ``--set`` items.
    :param options: further :func:`resolve_config` options (seed, num_tasks, steps_per_task, run_dir).
    """

    def resolve(extra: list[str]) -> TrainConfig:
        return resolve_config(agent, suite, sets=[*sets, *extra], **options)

    return resolve
