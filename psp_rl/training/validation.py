"""Check every field of a training config; the first problem raises a ``ValueError`` naming the fix."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from psp_rl.nn.contexts import CONTEXT_KINDS
from psp_rl.nn.networks import available_modes
from psp_rl.training.build import algo_class, policy_class
from psp_rl.training.config import (
    ACTIVATIONS,
    ALGOS,
    CHECKPOINT_DEFAULTS,
    DEVICES,
    EVAL_DEFAULTS,
    EVAL_MATRIX,
    EWC_DEFAULTS,
    PSP_POLICY_KEYS,
    RESERVED_HYPERPARAMS,
)
from psp_rl.utils import did_you_mean, unknown

if TYPE_CHECKING:
    from psp_rl.training.config import TrainConfig

__all__ = ["init_params", "validate_config"]


def _check_keys(kind: str, given: Iterable[str], valid: Iterable[str]) -> None:
    valid = list(valid)
    for key in given:
        if key not in valid:
            raise ValueError(f"Unknown {kind} key {key!r}.{did_you_mean(key, valid)}")


def init_params(cls: type, skip: Iterable[str] = ()) -> list[str]:
    """Named ``__init__`` arguments of ``cls``, following ``**kwargs`` up the MRO."""
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in klass.__dict__ or klass is object:
            continue
        params = inspect.signature(klass.__dict__["__init__"]).parameters.values()
        names += [p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    skip = set(skip) | {"self"}
    return [n for n in dict.fromkeys(names) if n not in skip]


def _check_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def validate_config(cfg: TrainConfig) -> TrainConfig:
    """Check every field of a config; raise a ``ValueError`` naming the fix on the first problem.

    :param cfg: the config.
    :return: ``cfg``.
    """
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

    _check_keys("eval", cfg.eval, EVAL_DEFAULTS)
    _check_int("eval.episodes", cfg.eval["episodes"], 1)
    _check_int("eval.eval_freq", cfg.eval["eval_freq"], 0)
    _check_int("eval.n_envs", cfg.eval["n_envs"], 1, allow_none=True)
    if cfg.eval["matrix"] not in EVAL_MATRIX:
        raise unknown("eval.matrix", cfg.eval["matrix"], EVAL_MATRIX)
    _check_keys("checkpoint", cfg.checkpoint, CHECKPOINT_DEFAULTS)
    _check_int("checkpoint.freq", cfg.checkpoint["freq"], 0)
    _check_int("checkpoint.keep", cfg.checkpoint["keep"], 1)
    _check_keys("ewc", cfg.ewc, EWC_DEFAULTS)
    _check_int("ewc.fisher_samples", cfg.ewc["fisher_samples"], 1)
    if not isinstance(cfg.ewc["critic"], bool):
        raise ValueError(f"ewc.critic must be true or false, got {cfg.ewc['critic']!r}.")
    ewc_lambda = cfg.ewc["lambda"]
    if isinstance(ewc_lambda, bool) or not isinstance(ewc_lambda, (int, float)) or ewc_lambda < 0:
        raise ValueError(f"ewc.lambda must be a number >= 0 (0 turns EWC off), got {ewc_lambda!r}.")
    if ewc_lambda > 0 and cfg.algo not in ("ppo", "a2c"):
        raise ValueError(
            f"EWC is implemented for ppo and a2c, not {cfg.algo}: set ewc.lambda=0 or algo ppo/a2c."
        )

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

    pk = cfg.policy_kwargs
    if cfg.policy == "psp":
        valid_pk = list(PSP_POLICY_KEYS)
        with contextlib.suppress(ImportError):  # policies not importable: check the PSP keys only
            valid_pk += init_params(
                policy_class(cfg.algo, "psp"), skip=("observation_space", "action_space", "lr_schedule")
            )
        if "context" in pk and pk["context"] not in CONTEXT_KINDS:
            raise unknown("policy_kwargs.context", pk["context"], CONTEXT_KINDS)
        if "mode" in pk and pk["mode"] not in available_modes():
            raise unknown("policy_kwargs.mode", pk["mode"], available_modes())
    else:
        aliases = getattr(algo_cls, "policy_aliases", {})
        if cfg.policy not in aliases:
            raise unknown(f"policy for {cfg.algo}", cfg.policy, ["psp", *aliases])
        valid_pk = init_params(aliases[cfg.policy], skip=("observation_space", "action_space", "lr_schedule"))
    _check_keys(f"policy_kwargs ({cfg.policy})", pk, valid_pk)
    if "activation_fn" in pk and pk["activation_fn"] not in ACTIVATIONS:
        raise unknown("policy_kwargs.activation_fn", pk["activation_fn"], ACTIVATIONS)

    if isinstance(cfg.normalize, dict):
        from stable_baselines3.common.vec_env import VecNormalize

        _check_keys("normalize", cfg.normalize, init_params(VecNormalize, skip=("venv", "norm_obs_keys")))
    elif not isinstance(cfg.normalize, bool):
        raise ValueError(
            f"normalize must be true, false or a mapping of VecNormalize arguments, got {cfg.normalize!r}."
        )
    if cfg.reference is not None and not isinstance(cfg.reference, (str, list)):
        raise ValueError(
            f"reference must be a run folder, a metrics.json path or a list of AUCs, got {cfg.reference!r}."
        )
    if cfg.algo in ("sac", "td3", "dqn") and not isinstance(cfg.checkpoint["save_replay_buffer"], bool):
        raise ValueError("checkpoint.save_replay_buffer must be true or false.")
    return cfg
