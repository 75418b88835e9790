"""Check every field of a training config; the first problem raises a ``ValueError`` naming the fix.

Every value is checked against the type its key needs, and the types are not a hand-written table: they
come from the code that receives the values (:func:`init_types`) -- the constructor type hints of the SB3
algorithm (``hyperparams``), of the policy and its features extractor (``policy_kwargs``), of
``VecNormalize`` (``normalize``) and the field types of ``TrainConfig`` (top-level keys). Where a hint names
a Python object that YAML cannot write, the zoo convention that :mod:`~psp_rl.training.build` turns into that
object is accepted instead: ``lin_<x>`` schedules, ``action_noise: {type, sigma}``, ``train_freq: [n,
step|episode]``, ``activation_fn`` by name. Integers are accepted where numbers are expected; booleans are
not integers. Example::

    >>> from psp_rl.training.config import resolve_config
    >>> resolve_config("ppo-psp", sets=["hyperparams.n_steps=1.5"])
    Traceback (most recent call last):
    ValueError: hyperparams.n_steps must be an integer, got 1.5 (a number). Fix it in the preset or with e.g. --set hyperparams.n_steps=2048.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from psp_rl.checks import check_int as _check_int
from psp_rl.checks import check_keys as _check_keys
from psp_rl.continual import check_sections
from psp_rl.evaluation.callback import EVAL_DEFAULTS, EVAL_MATRIX
from psp_rl.nn.contexts import CONTEXT_KINDS
from psp_rl.nn.networks import available_modes
from psp_rl.training.build import OPTIMIZERS, algo_class, policy_class
from psp_rl.training.config.ranges import check_ranges
from psp_rl.training.config.schema import (
    ACTIVATIONS,
    ALGOS,
    CHECKPOINT_DEFAULTS,
    DEVICES,
    PSP_POLICY_KEYS,
    RESERVED_HYPERPARAMS,
    coerce_number,
)
from psp_rl.training.config.types import (
    BASIC_TYPES,
    POSITIVE_INT,
    ExpectedType,
    check_section,
    check_value,
    choice_type,
    from_hint,
    init_params,
    init_types,
    is_number,
)
from psp_rl.utils import unknown

if TYPE_CHECKING:
    from psp_rl.training.config.schema import TrainConfig

__all__ = ["check_fields", "init_params", "init_types", "validate_config"]

_EMPTY: Any = inspect.Parameter.empty


GROWN_KEYS = ("from_tasks", "num_tasks", "steps_per_task")


def _check_grown(stages: Any, num_tasks: int | None) -> None:
    """``grown``: each entry adds tasks to the previous count; the last one gives ``num_tasks``."""
    previous: int | None = None
    for i, stage in enumerate(stages):
        where = f"grown[{i}]"
        if not isinstance(stage, Mapping):
            raise ValueError(f"{where} must be a mapping with keys {', '.join(GROWN_KEYS)}, got {stage!r}.")
        _check_keys(where, stage, GROWN_KEYS)
        for key in GROWN_KEYS:
            if key not in stage:
                raise ValueError(f"{where} lacks {key!r}: the run folder's config.yaml was edited by hand.")
            _check_int(f"{where}.{key}", stage[key], 1)
        if stage["num_tasks"] <= stage["from_tasks"] or (
            previous is not None and stage["from_tasks"] != previous
        ):
            raise ValueError(
                f"{where} must add tasks to the count before it (from_tasks {stage['from_tasks']} -> "
                f"num_tasks {stage['num_tasks']}, previous count {previous})."
            )
        previous = stage["num_tasks"]
    if previous is not None and num_tasks != previous:
        raise ValueError(f"num_tasks ({num_tasks}) must be the last grown count ({previous}).")


# Expected types ----------------------------------------------------------------------------------------
# Not a hand-written table: the type of a key comes from the code that receives the value -- the type hints
# of the SB3 algorithm's constructor (hyperparams), of the policy's and its features extractor's constructors
# (policy_kwargs), of VecNormalize (normalize) and of the TrainConfig fields (top-level keys). Where a hint
# names a Python object that YAML cannot write, the zoo convention that training/build.py turns into that
# object takes its place (the *_CONVENTIONS tables below).


def _is_lin_schedule(value: Any) -> bool:
    return (
        isinstance(value, str) and value.startswith("lin_") and is_number(coerce_number(value[len("lin_") :]))
    )


def _is_action_noise(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) <= {"type", "sigma"}
        and any(value.get("type", "normal") == kind for kind in ACTION_NOISE_TYPES)
        and is_number(value.get("sigma", 0.1))
    )


def _is_auto_coef(value: Any) -> bool:
    return isinstance(value, str) and (
        value == "auto" or (value.startswith("auto_") and is_number(coerce_number(value[len("auto_") :])))
    )


#: action noise kinds of the ``action_noise`` mapping (see :func:`~psp_rl.training.build.build_hyperparams`)
ACTION_NOISE_TYPES: tuple[str, ...] = ("normal", "ornstein-uhlenbeck")
#: hyperparams that :func:`~psp_rl.training.build.build_hyperparams` turns from ``lin_<x>`` into schedules
SCHEDULE_KEYS: tuple[str, ...] = ("learning_rate", "clip_range", "clip_range_vf")
_LIN_SCHEDULE = ExpectedType(
    "Callable", "a lin_<number> schedule (e.g. lin_3e-4)", "schedules", "lin_3e-4", _is_lin_schedule
)

#: zoo conventions for hyperparams whose SB3 type YAML cannot write: {key: {type name: accepted instead}}
HYPERPARAM_CONVENTIONS: dict[str, dict[str, ExpectedType]] = {
    **{key: {"Callable": _LIN_SCHEDULE} for key in SCHEDULE_KEYS},
    "action_noise": {
        "ActionNoise": ExpectedType(
            "ActionNoise",
            f"a mapping {{type: {'|'.join(ACTION_NOISE_TYPES)}, sigma: <number>}}",
            "action noise mappings",
            {"type": "normal", "sigma": 0.1},
            _is_action_noise,
        )
    },
    "train_freq": {"str": choice_type(("step", "episode"))},  # train_freq: [4, step]
    "ent_coef": {
        "str": ExpectedType("str", "auto|auto_<number>", "auto|auto_<number>", "auto", _is_auto_coef),
        "float": ExpectedType(  # PPO / A2C: a number, or a schedule of the entropy bonus (training/build.py)
            "float",
            "a number or a lin_<number> schedule (e.g. lin_0.01)",
            "numbers or lin_<number> schedules",
            0.0,
            lambda value: is_number(value) or _is_lin_schedule(value),
        ),
    },
    "target_entropy": {"str": choice_type(("auto",))},
}


def _policy_conventions(policy: type | None) -> dict[str, dict[str, ExpectedType]]:
    """Zoo conventions for policy_kwargs: ``activation_fn`` and ``optimizer_class`` by name (``RMSprop``),
    ``net_arch`` of positive widths (a mapping with the keys the policy reads: ``pi``/``vf`` for
    actor-critics, ``pi``/``qf`` otherwise)."""
    from stable_baselines3.common.policies import ActorCriticPolicy

    keys = ("pi", "vf") if policy is not None and issubclass(policy, ActorCriticPolicy) else ("pi", "qf")
    activation = ExpectedType(
        "str",
        f"an activation name ({'|'.join(ACTIVATIONS)})",
        "activation names",
        "relu",
        lambda v: isinstance(v, str),
    )
    optimizer = choice_type(OPTIMIZERS)
    return {
        "activation_fn": {"type[Module]": activation},
        "optimizer_class": {"type[Optimizer]": optimizer},
        "net_arch": {"int": POSITIVE_INT, "str": choice_type(keys)},
    }


@functools.cache
def _field_types(cls: type) -> dict[str, tuple[ExpectedType, Any]]:
    """Expected type and default of every field of a dataclass (the top-level config keys)."""
    hints = typing.get_type_hints(cls)
    table: dict[str, tuple[ExpectedType, Any]] = {}
    for field in dataclasses.fields(cls):
        default: Any = field.default
        if field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        table[field.name] = (
            from_hint(hints.get(field.name, Any)),
            _EMPTY if default is dataclasses.MISSING else default,
        )
    return table


def check_fields(cls: type, data: Mapping[str, Any]) -> None:
    """Check the top-level values of a config mapping against the types of the config's fields.

    A mapping field may be null (the config fills in its defaults).

    :param cls: the config dataclass (:class:`~psp_rl.training.config.TrainConfig`).
    :param data: the values, by field name (other keys are ignored).
    :raises ValueError: on the first value of the wrong type.
    """
    table = _field_types(cls)
    for key, value in data.items():
        if key in table and not (value is None and table[key][0].kind == "dict"):
            check_value(key, value, *table[key])


def _extractor_kwargs(policy: type, psp: bool, kwargs: Any, default_extractor: Any) -> None:
    """Check ``policy_kwargs.features_extractor_kwargs`` against the features extractor's constructor."""
    if not isinstance(kwargs, dict):
        return  # null (checked by type already)
    key = "policy_kwargs.features_extractor_kwargs"
    by_policy: set[str] = set()
    if psp:
        from psp_rl.policies.common import PSPPolicyMixin
        from psp_rl.policies.extractor import TaskFeaturesExtractor

        extractor: Any = TaskFeaturesExtractor
        by_policy = set(init_params(PSPPolicyMixin))
        for name in kwargs:
            if name in by_policy:
                raise ValueError(f"{key}.{name} is set by the PSP policy: use policy_kwargs.{name} instead.")
    else:
        extractor = default_extractor
    if not isinstance(extractor, type):
        return
    table = init_types(extractor, skip=("observation_space",))
    _check_keys(f"{key} ({extractor.__name__})", kwargs, [name for name in table if name not in by_policy])
    check_section(f"{key}.", kwargs, table)


def validate_config(cfg: TrainConfig) -> TrainConfig:
    """Check every field of a config; raise a ``ValueError`` naming the fix on the first problem.

    :param cfg: the config.
    :return: ``cfg``.
    """
    check_fields(type(cfg), {field.name: getattr(cfg, field.name) for field in dataclasses.fields(cfg)})
    _check_run(cfg)
    _check_eval_and_checkpoint(cfg)
    check_sections(cfg.continual, cfg.algo)  # each continual mechanism checks its own section
    _check_grown(cfg.grown, cfg.num_tasks)
    algo_cls = _check_hyperparams(cfg)
    _check_policy_kwargs(cfg, algo_cls)
    _check_normalize(cfg.normalize)
    return cfg


def _check_run(cfg: TrainConfig) -> None:
    """The run's own keys: algorithm, device, seed, env and task counts, suite."""
    if cfg.algo not in ALGOS:
        raise unknown("algo", cfg.algo, ALGOS)
    if cfg.device not in DEVICES:
        raise unknown("device", cfg.device, DEVICES)
    _check_int("seed", cfg.seed, 0)
    _check_int("n_envs", cfg.n_envs, 1)
    _check_int("num_tasks", cfg.num_tasks, 1, allow_none=True)
    _check_int("steps_per_task", cfg.steps_per_task, 1, allow_none=True)
    if not isinstance(cfg.suite, str) or not cfg.suite:
        raise ValueError(f"suite must be a suite name or path, got {cfg.suite!r}.")


def _check_eval_and_checkpoint(cfg: TrainConfig) -> None:
    """The ``eval`` and ``checkpoint`` sections."""
    _check_keys("eval", cfg.eval, EVAL_DEFAULTS)
    _check_int("eval.episodes", cfg.eval["episodes"], 1)
    _check_int("eval.eval_freq", cfg.eval["eval_freq"], 0)
    _check_int("eval.n_envs", cfg.eval["n_envs"], 1, allow_none=True)
    check_value("eval.deterministic", cfg.eval["deterministic"], BASIC_TYPES[bool], True)
    if cfg.eval["matrix"] not in EVAL_MATRIX:
        raise unknown("eval.matrix", cfg.eval["matrix"], EVAL_MATRIX)
    _check_keys("checkpoint", cfg.checkpoint, CHECKPOINT_DEFAULTS)
    _check_int("checkpoint.freq", cfg.checkpoint["freq"], 0)
    _check_int("checkpoint.keep", cfg.checkpoint["keep"], 1)
    check_value(
        "checkpoint.save_replay_buffer", cfg.checkpoint["save_replay_buffer"], BASIC_TYPES[bool], True
    )


def _check_hyperparams(cfg: TrainConfig) -> type:
    """``hyperparams``: the algorithm's constructor arguments, their types and ranges.

    :return: the algorithm class.
    """
    algo_cls = algo_class(cfg.algo)
    valid_hp = init_params(algo_cls)
    for key in cfg.hyperparams:
        if key in RESERVED_HYPERPARAMS:
            raise ValueError(
                f"hyperparams.{key} is set by the training loop: use {RESERVED_HYPERPARAMS[key]}."
            )
    _check_keys(
        f"hyperparams ({cfg.algo})", cfg.hyperparams, [k for k in valid_hp if k not in RESERVED_HYPERPARAMS]
    )
    check_section("hyperparams.", cfg.hyperparams, init_types(algo_cls), HYPERPARAM_CONVENTIONS)
    check_ranges(cfg, {key: default for key, (_, default) in init_types(algo_cls).items()})
    return algo_cls


def _check_policy_kwargs(cfg: TrainConfig, algo_cls: type) -> None:
    """``policy_kwargs``: the policy's (and its features extractor's) constructor arguments."""
    pk = cfg.policy_kwargs
    skip: tuple[str, ...] = ("observation_space", "action_space", "lr_schedule")
    policy: type | None = None
    if cfg.policy == "psp":
        valid_pk = list(PSP_POLICY_KEYS)
        with contextlib.suppress(ImportError):  # policies not importable: check the PSP keys only
            found = policy_class(cfg.algo, "psp")
            policy = found if isinstance(found, type) else None
            valid_pk += init_params(policy, skip=skip) if policy is not None else []
    else:
        aliases = getattr(algo_cls, "policy_aliases", {})
        if cfg.policy not in aliases:
            raise unknown(f"policy for {cfg.algo}", cfg.policy, ["psp", *aliases])
        policy = aliases[cfg.policy]
        valid_pk = init_params(aliases[cfg.policy], skip=skip)
    _check_keys(f"policy_kwargs ({cfg.policy})", pk, valid_pk)
    if policy is not None:
        table = init_types(policy, skip=skip)
        check_section("policy_kwargs.", pk, table, _policy_conventions(policy))
        default_extractor = table.get("features_extractor_class", (None, None))[1]
        _extractor_kwargs(policy, cfg.policy == "psp", pk.get("features_extractor_kwargs"), default_extractor)
    for key, choices in (
        ("context", CONTEXT_KINDS),
        ("mode", available_modes()),
        ("activation_fn", ACTIVATIONS),
    ):
        if key in pk and (not isinstance(pk[key], str) or pk[key] not in choices):
            raise unknown(f"policy_kwargs.{key}", pk[key], choices)


def _check_normalize(normalize: Any) -> None:
    """``normalize``: a bool or VecNormalize's arguments (and psp_rl's own options)."""
    if isinstance(normalize, dict):
        from stable_baselines3.common.vec_env import VecNormalize

        from psp_rl.training.normalize import NORMALIZE_OPTIONS

        skip = ("venv", "norm_obs_keys")
        _check_keys("normalize", normalize, [*init_params(VecNormalize, skip=skip), *NORMALIZE_OPTIONS])
        check_section("normalize.", normalize, init_types(VecNormalize, skip=skip))
        for key, kind in NORMALIZE_OPTIONS.items():
            if key in normalize and not isinstance(normalize[key], kind):
                raise ValueError(
                    f"normalize.{key} must be {kind.__name__}, got {normalize[key]!r}: "
                    f"e.g. --set normalize.{key}=true."
                )
    elif not isinstance(normalize, bool):
        raise ValueError(
            f"normalize must be true, false or a mapping of VecNormalize arguments, got {normalize!r}."
        )
