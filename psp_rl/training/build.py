"""Turn a validated config into Stable-Baselines3 objects: algorithm and policy classes, their arguments,
the model (new, or loaded from a checkpoint)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from psp_rl.training.config import ACTIVATIONS, ALGOS, coerce_number
from psp_rl.utils import unknown

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

    from psp_rl.training.config import TrainConfig

__all__ = [
    "OPTIMIZERS",
    "algo_class",
    "build_hyperparams",
    "build_model",
    "build_policy_kwargs",
    "policy_class",
    "resolve_device",
]

#: optimizers accepted by name in ``policy_kwargs.optimizer_class`` (``torch.optim`` class names)
OPTIMIZERS: tuple[str, ...] = ("Adam", "AdamW", "RMSprop", "SGD")


def resolve_device(device: str) -> str:
    """The torch device to use.

    :param device: ``auto`` (CUDA when available, else the CPU), ``cpu`` or ``cuda``.
    :return: ``cpu`` or ``cuda``.
    :raises ValueError: for ``cuda`` on a machine without a CUDA device.
    """
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was given but no CUDA device is available: use --device auto or cpu.")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def algo_class(algo: str) -> type[BaseAlgorithm]:
    """The SB3 algorithm class of an algorithm name.

    :param algo: ``ppo``, ``a2c``, ``dqn``, ``sac`` or ``td3``.
    :return: the class, e.g. ``stable_baselines3.PPO``; for ``dqn``, :class:`psp_rl.training.dqn.DQN` (SB3's
        DQN with a choice of TD target; SB3's own with the default ``td_target``).
    """
    if algo not in ALGOS:
        raise unknown("algo", algo, ALGOS)
    if algo == "dqn":
        from psp_rl.training.dqn import DQN

        return DQN
    import stable_baselines3

    return getattr(stable_baselines3, ALGOS[algo][0])


def policy_class(algo: str, policy: str = "psp") -> type | str:
    """The policy to hand to the algorithm.

    :param algo: algorithm name.
    :param policy: ``psp`` for the PSP policy of ``algo``, else an SB3 alias (returned unchanged).
    :return: a policy class, or the SB3 alias string.
    """
    if policy != "psp":
        return policy
    import psp_rl.policies as policies

    return getattr(policies, ALGOS[algo][1])


def build_policy_kwargs(policy_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Turn the YAML-level policy arguments into Python objects (``activation_fn`` name -> class,
    ``optimizer_class`` name -> ``torch.optim`` class, e.g. ``RMSprop``).

    :param policy_kwargs: arguments as in the config.
    :return: arguments for the policy constructor.
    """
    import torch.nn as nn

    out = dict(policy_kwargs)
    if "activation_fn" in out:
        name = out["activation_fn"]
        if name not in ACTIVATIONS:
            raise unknown("policy_kwargs.activation_fn", name, ACTIVATIONS)
        out["activation_fn"] = getattr(nn, ACTIVATIONS[name])
    if isinstance(out.get("optimizer_class"), str):
        import torch.optim

        if out["optimizer_class"] not in OPTIMIZERS:
            raise unknown("policy_kwargs.optimizer_class", out["optimizer_class"], OPTIMIZERS)
        out["optimizer_class"] = getattr(torch.optim, out["optimizer_class"])
    return out


def _schedule(value: Any, key: str) -> Any:
    """``lin_3e-4`` -> a linear schedule from 3e-4 to 0 (zoo convention)."""
    if isinstance(value, str) and value.startswith("lin_"):
        from stable_baselines3.common.utils import LinearSchedule

        start = coerce_number(value[len("lin_") :])
        if not isinstance(start, (int, float)):
            raise ValueError(f"hyperparams.{key}: {value!r} is not lin_<number>, e.g. lin_3e-4.")
        return LinearSchedule(float(start), 0.0, 1.0)
    return value


def ent_coef_schedule(hyperparams: Mapping[str, Any], algo: str) -> Any:
    """The entropy-coefficient schedule of an on-policy ``ent_coef: lin_<x>`` (``None`` for a number).

    :param hyperparams: arguments as in the config.
    :param algo: the algorithm name.
    :raises ValueError: for a ``lin_`` entropy coefficient outside PPO / A2C (SAC's is ``auto`` or a number).
    """
    value = hyperparams.get("ent_coef")
    schedule = _schedule(value, "ent_coef")
    if not callable(schedule):
        return None
    if algo not in ("ppo", "a2c"):
        raise ValueError(
            f"hyperparams.ent_coef: {value!r} -- a lin_ entropy coefficient is for PPO and A2C; {algo.upper()} "
            "takes auto, auto_<number> or a number."
        )
    return schedule


def build_hyperparams(hyperparams: Mapping[str, Any], action_space: Any = None) -> dict[str, Any]:
    """Turn YAML-level algorithm arguments into Python objects.

    ``lin_<x>`` learning rates / clip ranges become linear schedules (an on-policy ``ent_coef: lin_<x>`` starts
    at ``x``; :func:`ent_coef_schedule` gives the schedule), ``train_freq: [1, episode]``
    a tuple, ``action_noise: {type: normal|ornstein-uhlenbeck, sigma: 0.1}`` an SB3 action noise.

    :param hyperparams: arguments as in the config.
    :param action_space: the env's action space (needed for ``action_noise``).
    :return: arguments for the algorithm constructor.
    """
    out = dict(hyperparams)
    for key in ("learning_rate", "clip_range", "clip_range_vf"):
        if key in out:
            out[key] = _schedule(out[key], key)
    ent_coef = _schedule(out.get("ent_coef"), "ent_coef")
    if callable(ent_coef):  # PPO / A2C take a number: its start (ent_coef_schedule gives the schedule)
        out["ent_coef"] = float(ent_coef(1.0))
    if isinstance(out.get("train_freq"), list):
        out["train_freq"] = tuple(out["train_freq"])
    noise = out.get("action_noise")
    if isinstance(noise, dict):
        import numpy as np
        from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

        for key in noise:
            if key not in ("type", "sigma"):
                raise unknown("hyperparams.action_noise key", key, ["type", "sigma"])
        if action_space is None or not hasattr(action_space, "shape"):
            raise ValueError("hyperparams.action_noise needs a continuous (Box) action space.")
        kinds = {"normal": NormalActionNoise, "ornstein-uhlenbeck": OrnsteinUhlenbeckActionNoise}
        kind = noise.get("type", "normal")
        if kind not in kinds:
            raise unknown("hyperparams.action_noise.type", kind, kinds)
        dim = int(np.prod(action_space.shape))
        sigma = float(noise.get("sigma", 0.1))
        out["action_noise"] = kinds[kind](mean=np.zeros(dim), sigma=sigma * np.ones(dim))
    return out


def build_model(
    cfg: TrainConfig,
    env: Any,
    device: str,
    checkpoint: Path | None = None,
    num_tasks: int | None = None,
) -> BaseAlgorithm:
    """The run's SB3 model: a new one from the config, or the one of a checkpoint (with its replay buffer),
    grown to ``num_tasks`` tasks when the run was continued with more.

    :param cfg: the validated config.
    :param env: the training VecEnv.
    :param device: ``cpu`` or ``cuda``.
    :param checkpoint: a checkpoint folder to load from (``None``: a new model).
    :param num_tasks: the suite's task count (a loaded model with fewer tasks grows to it).
    :return: the model, attached to ``env``; an on-policy ``ent_coef: lin_<x>`` is its ``ent_coef_schedule``.
    """
    from psp_rl.policies.expand import check_model_fits, expand_tasks
    from psp_rl.policies.extractor import num_tasks_of

    algo = algo_class(cfg.algo)
    if checkpoint is not None:
        model = algo.load(checkpoint / "model.zip", device=device)
        if (checkpoint / "replay_buffer.pkl").is_file():  # saved by off-policy algorithms only
            cast(Any, model).load_replay_buffer(checkpoint / "replay_buffer.pkl")
        if cfg.grown and num_tasks is not None and num_tasks_of(model.observation_space) < num_tasks:
            expand_tasks(model, num_tasks, env=env)  # a run continued with more tasks
        else:
            check_model_fits(model, env.observation_space, f"the run's suite ({cfg.suite})")
            model.set_env(env)
    else:
        model = algo(
            policy_class(cfg.algo, cfg.policy),
            env,
            policy_kwargs=build_policy_kwargs(cfg.policy_kwargs),
            seed=cfg.seed,
            device=device,
            verbose=0,
            **build_hyperparams(cfg.hyperparams, env.action_space),
        )
    schedule = ent_coef_schedule(cfg.hyperparams, cfg.algo)
    if schedule is not None:  # PPO / A2C: ent_coef: lin_<x> (written into ent_coef before every rollout)
        cast(Any, model).ent_coef_schedule = schedule
    return model
