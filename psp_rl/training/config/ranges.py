"""Check that a config's numbers lie in their ranges (types are :mod:`~psp_rl.training.config.validation`'s job).

A value of the right type can still be one that Stable-Baselines3 or torch rejects only later, with an
``AssertionError`` or a message that names no key (``n_steps: -5``, ``batch_size: 0``, ``learning_rate:
-0.1``), or one that trains silently into nonsense (``gamma: 1.5``). Each is refused here, before anything
is built, by a ``ValueError`` that names the key, the value and a fix. Also the bounds that keep the seed
ranges of :mod:`~psp_rl.seeds` apart (``seed``, ``n_envs``, ``eval.n_envs``, ``num_tasks``).

Example::

    >>> from psp_rl.training.config import resolve_config
    >>> resolve_config("ppo-psp", sets=["hyperparams.gamma=1.5"])
    Traceback (most recent call last):
    ValueError: hyperparams.gamma must be a number in [0, 1] (the discount factor), got 1.5. Fix it in the preset or with e.g. --set hyperparams.gamma=0.99.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psp_rl import seeds
from psp_rl.training.config.schema import coerce_number
from psp_rl.training.config.types import is_int, is_number

if TYPE_CHECKING:
    from psp_rl.training.config.schema import TrainConfig

__all__ = ["HYPERPARAM_RANGES", "Range", "check_ranges"]

#: the algorithms that collect whole rollouts of ``n_steps`` per env before each update
ON_POLICY = ("ppo", "a2c")


@dataclass(frozen=True)
class Range:
    """The range of one hyper-parameter.

    :param test: whether a number lies in it.
    :param text: the range in words (``a number in [0, 1]``).
    :param meaning: what the key is, for the message.
    :param example: a valid value, for the fix.
    """

    test: Callable[[float], bool]
    text: str
    meaning: str
    example: Any


def _positive(meaning: str, example: Any) -> Range:
    return Range(lambda v: v > 0, "a number > 0", meaning, example)


def _non_negative(meaning: str, example: Any) -> Range:
    return Range(lambda v: v >= 0, "a number >= 0", meaning, example)


def _fraction(meaning: str, example: Any) -> Range:
    return Range(lambda v: 0 <= v <= 1, "a number in [0, 1]", meaning, example)


def _at_least(low: int, meaning: str, example: Any) -> Range:
    return Range(lambda v: v >= low, f"an integer >= {low}", meaning, example)


#: hyperparams -> their range (the key is checked wherever the algorithm takes it)
HYPERPARAM_RANGES: dict[str, Range] = {
    "learning_rate": _positive("the optimizer's step size", "3e-4"),
    "gamma": _fraction("the discount factor", 0.99),
    "gae_lambda": _fraction("the GAE lambda", 0.95),
    "n_epochs": _at_least(1, "passes over each rollout", 10),
    "clip_range": _positive("PPO's clipping of the policy ratio", 0.2),
    "clip_range_vf": _positive("PPO's clipping of the value function, or null for none", 0.2),
    "vf_coef": _non_negative("the value loss weight", 0.5),
    "max_grad_norm": _positive("the gradient clipping norm", 0.5),
    "target_kl": _positive("PPO's early-stopping KL, or null for none", 0.02),
    "rms_prop_eps": _positive("RMSprop's epsilon", "1e-5"),
    "buffer_size": _at_least(1, "transitions the replay buffer holds", 100000),
    "learning_starts": _at_least(0, "env steps before the first update", 1000),
    "tau": _fraction("the soft update coefficient of the target networks", 0.005),
    "target_update_interval": _at_least(1, "env steps between target network updates", 1000),
    "exploration_fraction": _fraction("the part of the run over which epsilon decays", 0.1),
    "exploration_initial_eps": _fraction("the first epsilon", 1.0),
    "exploration_final_eps": _fraction("the last epsilon", 0.05),
    "policy_delay": _at_least(1, "critic updates per actor update", 2),
    "target_policy_noise": _non_negative("TD3's target smoothing noise", 0.2),
    "target_noise_clip": _non_negative("TD3's clipping of the target noise", 0.5),
    "stats_window_size": _at_least(1, "episodes averaged in the logs", 100),
    "sde_sample_freq": _at_least(-1, "steps between gSDE noise draws (-1: only at rollout starts)", -1),
    "gap_alpha": Range(lambda v: 0 <= v < 1, "a number in [0, 1)", "advantage learning's alpha", 0.9),
    "rescale_eps": _positive("the value rescaling's epsilon", "1e-3"),
}


def _number(value: Any) -> Any:
    """The number a value stands for: itself, the start of a ``lin_<x>`` schedule, an ``auto_<x>`` coefficient's
    start, or ``None`` (another kind of value, e.g. ``auto`` or null)."""
    if isinstance(value, str):
        for prefix in ("lin_", "auto_"):
            if value.startswith(prefix):
                value = coerce_number(value[len(prefix) :])
                break
    return value if is_number(value) else None


def _as_int(value: Any) -> int | None:
    return value if is_int(value) else None


def _fail(key: str, value: Any, text: str, meaning: str, example: Any) -> ValueError:
    return ValueError(
        f"hyperparams.{key} must be {text} ({meaning}), got {value!r}. "
        f"Fix it in the preset or with e.g. --set hyperparams.{key}={example}."
    )


def _check_hyperparams(cfg: TrainConfig, defaults: Mapping[str, Any]) -> None:
    hp = cfg.hyperparams
    for key, value in hp.items():
        bounds = HYPERPARAM_RANGES.get(key)
        number = _number(value)
        if bounds is not None and number is not None and not bounds.test(number):
            raise _fail(key, value, bounds.text, bounds.meaning, bounds.example)
    ent_coef = _number(hp.get("ent_coef"))
    if cfg.algo in ON_POLICY and ent_coef is not None and ent_coef < 0:
        raise _fail("ent_coef", hp["ent_coef"], "a number >= 0", "the entropy bonus weight", 0.0)
    if cfg.algo not in ON_POLICY and ent_coef is not None and ent_coef <= 0:
        raise _fail(
            "ent_coef", hp["ent_coef"], "auto, auto_<x> or a number > 0", "SAC's entropy weight", "auto"
        )
    noise = hp.get("action_noise")
    if isinstance(noise, Mapping) and is_number(noise.get("sigma")) and noise["sigma"] < 0:
        raise ValueError(
            f"hyperparams.action_noise.sigma must be >= 0 (the noise's standard deviation), got {noise['sigma']!r}. "
            "Fix it with e.g. --set 'hyperparams.action_noise={type: normal, sigma: 0.1}'."
        )
    target = hp.get("td_target")
    from psp_rl.training.dqn import TD_TARGETS  # torch and SB3: only where a check needs them

    if target is not None and target not in TD_TARGETS:
        raise _fail(
            "td_target", target, f"one of {', '.join(TD_TARGETS)}", "DQN's TD target", "advantage_learning"
        )
    freq = hp.get("train_freq")
    steps = _as_int(freq[0] if isinstance(freq, list) and freq else freq)
    if steps is not None and steps < 1:
        raise _fail("train_freq", freq, "an integer >= 1 or [n >= 1, step|episode]", "steps per update", 4)
    gradient_steps = _as_int(hp.get("gradient_steps"))
    if gradient_steps is not None and (gradient_steps < -1 or gradient_steps == 0):
        raise _fail(
            "gradient_steps",
            gradient_steps,
            "an integer >= 1, or -1",
            "gradient steps per update; -1: as many as env steps; 0 never trains",
            1,
        )
    n_steps, batch_size = _as_int(hp.get("n_steps", defaults.get("n_steps"))), _as_int(hp.get("batch_size"))
    if cfg.algo in ON_POLICY:
        _check_rollout(cfg, n_steps, batch_size, defaults)
    else:
        if batch_size is not None and batch_size < 1:
            raise _fail("batch_size", batch_size, "an integer >= 1", "transitions per gradient step", 256)
        if n_steps is not None and n_steps != 1 and "replay_buffer_class" not in hp:
            raise _fail(
                "n_steps",
                n_steps,
                "1",
                "n-step returns: Stable-Baselines3 does not support them for the task observation, a Dict "
                "space",
                1,
            )


def _check_rollout(
    cfg: TrainConfig, n_steps: int | None, batch_size: int | None, defaults: Mapping[str, Any]
) -> None:
    """PPO / A2C: a rollout of ``n_steps`` per env; PPO's advantage normalisation needs 2+ samples."""
    if n_steps is not None and n_steps < 1:
        raise _fail("n_steps", n_steps, "an integer >= 1", "env steps per env and rollout", 256)
    if cfg.algo != "ppo":
        return
    if batch_size is not None and batch_size < 1:
        raise _fail("batch_size", batch_size, "an integer >= 1", "samples per minibatch", 64)
    if not cfg.hyperparams.get("normalize_advantage", defaults.get("normalize_advantage", True)):
        return
    if batch_size is not None and batch_size < 2:
        raise _fail(
            "batch_size",
            batch_size,
            "an integer >= 2",
            "samples per minibatch, over which PPO normalises the advantages unless normalize_advantage: false",
            64,
        )
    if n_steps is not None and n_steps * cfg.n_envs < 2:
        raise ValueError(
            f"hyperparams.n_steps x n_envs must be >= 2 (PPO normalises the advantages over a rollout), got "
            f"{n_steps} x {cfg.n_envs}. Fix it with e.g. --set hyperparams.n_steps=256 or --n-envs 4."
        )


def _check_bounds(cfg: TrainConfig) -> None:
    """The bounds that keep the seed ranges of :mod:`~psp_rl.seeds` apart."""
    if is_int(cfg.seed) and cfg.seed > seeds.MAX_SEED:
        raise ValueError(f"seed must be at most {seeds.MAX_SEED} (2**31 - 1), got {cfg.seed}: e.g. --seed 0.")
    for key, value, limit in (
        ("n_envs", cfg.n_envs, seeds.TASK_STRIDE),
        ("eval.n_envs", cfg.eval.get("n_envs"), seeds.TASK_STRIDE),
        ("num_tasks", cfg.num_tasks, seeds.MAX_TASKS),
    ):
        number = _as_int(value)
        if number is not None and number > limit:
            raise ValueError(
                f"{key} must be at most {limit}, got {value}: e.g. --set {key}={min(limit, 10)}."
            )


def check_ranges(cfg: TrainConfig, defaults: Mapping[str, Any]) -> None:
    """Check that every number of a (type-checked) config lies in its range.

    :param cfg: the config.
    :param defaults: the algorithm's default arguments (``n_steps``, ``normalize_advantage``...), for the
        keys the config leaves out.
    :raises ValueError: naming the key, the value and a fix, on the first number out of its range.
    """
    _check_bounds(cfg)
    _check_hyperparams(cfg, defaults)
