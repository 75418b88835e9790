"""Grow a trained agent to more tasks: :func:`expand_tasks` (PPO, A2C, DQN, SAC, TD3).

The number of tasks ``K`` is fixed when a policy is built: the observation space carries
``Discrete(K)``, superposed layers hold ``(K, out)`` biases and ``K`` keys, per-task layers
(``separate``, ``multihead``) ``K`` weight blocks, ``mask`` ``K`` score tables, PPO/A2C a ``(K, A)``
``log_std`` table, ``onehot`` and ``mask`` a ``K``-wide task input. :func:`expand_tasks` rebuilds the
policy for ``K2`` tasks and carries every trained tensor over:

* the old tasks' keys, weights and biases are copied unchanged, so the old tasks act exactly as
  before; the new tasks' keys come from the same ``(seed, layer, task)`` rule, their per-task weights,
  biases, mask scores and ``log_std`` rows are initialised as a fresh ``K2``-task policy would initialise
  them (a new task's mask scores are drawn as at construction: the masks paper's random init, MASK RI);
  fixed backbones (``mask``) are copied, with the grown policy's entries for the new one-hot columns;
* every optimiser keeps its state: the old moments are kept, the new rows start at zero;
* target networks grow with their online networks (they are part of the policy);
* replay and rollout buffers stay usable (they store task ids, not one-hot vectors).

Example::

    from stable_baselines3 import PPO
    import psp_rl

    model = PPO.load("runs/.../model.zip")                           # trained on 5 variants
    suite = psp_rl.load_suite("cartpole-permuted", num_tasks=10)
    model = psp_rl.expand_tasks(model, 10, env=suite.make_vec_env(n_envs=8))
    model.learn(50_000, reset_num_timesteps=False)                    # on variants 5..9
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.type_aliases import GymEnv
from stable_baselines3.common.utils import get_parameters_by_name
from torch import nn

from psp_rl.policies.common import PSPPolicyMixin
from psp_rl.policies.extractor import TaskFeaturesExtractor, num_tasks_of

__all__ = ["check_model_fits", "expand_tasks", "fit_grown", "grow_tensor", "grown_space", "task_input_end"]

# SB3 keeps lists of batch-norm statistics next to its (target) networks: attribute -> network alias
# (DQN's lists belong to its Q-network, SAC's to its critic)
_BATCH_NORM_LISTS = {
    "batch_norm_stats": ("q_net", "critic"),
    "batch_norm_stats_target": ("q_net_target", "critic_target"),
    "actor_batch_norm_stats": ("actor",),
    "actor_batch_norm_stats_target": ("actor_target",),
    "critic_batch_norm_stats": ("critic",),
    "critic_batch_norm_stats_target": ("critic_target",),
}


def grown_space(observation_space: spaces.Space, num_tasks: int) -> spaces.Dict:
    """The PSP observation space of ``observation_space`` with ``Discrete(num_tasks)`` as its task entry.

    :param observation_space: ``Dict({"obs": Box, "task": Discrete(K)})``
    :param num_tasks: the new number of tasks
    """
    num_tasks_of(observation_space)  # checks the layout: a Dict with "obs" and "task" (and maybe "coord")
    entries = OrderedDict(cast(spaces.Dict, observation_space).spaces)  # the same entries, in their order
    entries["task"] = spaces.Discrete(int(num_tasks))
    return spaces.Dict(entries)


def grow_tensor(
    old: torch.Tensor, like: torch.Tensor, old_tasks: int, name: str, task_input_end: int | None = None
) -> torch.Tensor:
    """``like`` (a tensor of the grown policy) with the entries of ``old`` copied into the old tasks' place.

    A tensor whose first axis has one entry per task (keys, per-task biases and weights, ``log_std``)
    keeps its first ``old_tasks`` entries, a task-by-task table (``mask-lc``'s combination weights) its
    old block; the input weights of a layer fed with a task one-hot vector
    (``onehot`` and ``mask`` modes) get the new tasks' columns inserted at ``task_input_end`` (where the old
    one-hot block ended), per task where they are per task (``mask``'s scores). Everything else must have
    the same shape in both.

    :param old: the tensor of the ``K``-task policy (or an optimiser moment of it)
    :param like: the same tensor of the grown policy (its values fill the new entries)
    :param old_tasks: ``K``
    :param name: the tensor's name, for the error message
    :param task_input_end: end of the one-hot block in the input features (``onehot`` and ``mask`` modes)
    :raises RuntimeError: if the shapes differ in any other way
    """
    if old.shape == like.shape:
        return old.detach().clone()
    out = like.detach().clone()
    if old.dim() == like.dim() and old.shape[1:] == like.shape[1:] and old.shape[0] == old_tasks:
        out[:old_tasks] = old
        return out
    if old.dim() == like.dim() > 1 and set(old.shape) == {old_tasks} and set(like.shape) == {like.shape[0]}:
        out[(slice(0, old_tasks),) * old.dim()] = old  # task by task (``mask-lc``'s weights β): the old block
        return out
    if task_input_end is not None and old.dim() == like.dim() and old.shape[1:-1] == like.shape[1:-1]:
        # input weights fed with the one-hot vector: shared (same rows) or per task (``mask``'s scores:
        # the old tasks' rows, each with the new tasks' columns inserted)
        shared = old.shape[0] == like.shape[0]
        if shared or (old.dim() > 1 and old.shape[0] == old_tasks):
            added = like.shape[-1] - old.shape[-1]
            rows = out if shared else out[:old_tasks]  # a view: writing it writes ``out``
            rows[..., :task_input_end] = old[..., :task_input_end]
            rows[..., task_input_end + added :] = old[..., task_input_end:]
            return out
    raise RuntimeError(
        f"expand_tasks cannot carry {name!r} over: shape {tuple(old.shape)} for {old_tasks} tasks against "
        f"{tuple(like.shape)} in the grown policy (not a per-task table)."
    )


def _grow_state_dict(
    old: Mapping[str, torch.Tensor],
    fresh: Mapping[str, torch.Tensor],
    old_tasks: int,
    task_input_end: int | None,
) -> dict[str, torch.Tensor]:
    if set(old) != set(fresh):
        extra = sorted(set(old) ^ set(fresh))[:3]
        raise RuntimeError(f"expand_tasks: the grown policy's tensors differ from the old one's ({extra}).")
    return {n: grow_tensor(old[n], fresh[n], old_tasks, n, task_input_end) for n in fresh}


def _optimizers(policy: torch.nn.Module) -> dict[str, torch.optim.Optimizer]:
    """Every optimiser of a policy by the path of the module that holds it (SAC: actor and critic)."""
    found = {}
    for path, module in policy.named_modules():
        optimizer = getattr(module, "optimizer", None)
        if isinstance(optimizer, torch.optim.Optimizer):
            found[path] = optimizer
    return found


def _grow_optimizer(
    old: torch.optim.Optimizer,
    new: torch.optim.Optimizer,
    old_names: Mapping[int, str],
    new_names: Mapping[int, str],
    old_tasks: int,
    task_input_end: int | None,
) -> None:
    """Carry ``old``'s state into ``new`` (same parameter order): old moments kept, new rows zero."""
    if len(old.param_groups) != len(new.param_groups):
        raise RuntimeError("expand_tasks: the grown policy's optimiser has other parameter groups.")
    for old_group, new_group in zip(old.param_groups, new.param_groups):
        if len(old_group["params"]) != len(new_group["params"]):
            raise RuntimeError("expand_tasks: the grown policy's optimiser holds other parameters.")
        new_group.update({k: v for k, v in old_group.items() if k != "params"})
        for old_p, new_p in zip(old_group["params"], new_group["params"]):
            name = new_names.get(id(new_p), "?")
            if old_names.get(id(old_p)) != name:
                raise RuntimeError(f"expand_tasks: optimiser parameters out of order at {name!r}.")
            state = old.state.get(old_p)
            if not state:
                continue
            new.state[new_p] = {
                key: grow_tensor(value, torch.zeros_like(new_p), old_tasks, f"{name} ({key})", task_input_end)
                if torch.is_tensor(value) and value.shape == old_p.shape
                else (value.clone() if torch.is_tensor(value) else value)
                for key, value in state.items()
            }


def task_input_end(policy: Any) -> int | None:
    """Where the task one-hot block of a policy's input features ends (``onehot``, ``mask``), else ``None``.

    :param policy: an SB3 policy
    """
    if not isinstance(policy, PSPPolicyMixin) or not policy.network_config.spec.onehot_inputs:
        return None
    extractor = next(m for m in cast(nn.Module, policy).modules() if isinstance(m, TaskFeaturesExtractor))
    return int(extractor.features_dim)


def _seed(model: BaseAlgorithm, num_tasks: int) -> int:
    seed = model.seed if isinstance(model.seed, int) and model.seed >= 0 else 0
    return int(np.random.SeedSequence([seed, int(num_tasks)]).generate_state(1)[0])


def expand_tasks(model: BaseAlgorithm, num_tasks: int, env: GymEnv | None = None) -> BaseAlgorithm:
    """Grow a model with a psp_rl policy from ``K`` to ``num_tasks`` tasks, in place; ready to train.

    Works for every algorithm (PPO, A2C, DQN, SAC, TD3), context kind and mode. The old tasks act
    exactly as before (their keys, weights, biases, mask scores and ``log_std`` rows are copied; ``onehot``
    and ``mask`` add input columns that the old tasks' one-hot vectors never reach); the new tasks get keys
    from the same ``(seed, layer, task)`` rule and per-task parameters initialised as a fresh ``num_tasks``-task
    policy would have them (drawn from a generator seeded by the model's seed and ``num_tasks``, so
    the global random state is left alone). Optimiser moments are kept, the new rows start at zero.

    :param model: an SB3 model whose policy is a psp_rl policy
    :param num_tasks: the new number of tasks; must be larger than the model's
    :param env: the env to train on next (with ``Discrete(num_tasks)`` task ids), set with
        ``model.set_env``; ``None`` keeps the model's env
    :return: the same model, grown
    :raises ValueError: for a policy that is not a psp_rl one, or ``num_tasks`` not larger than ``K``
    """
    policy = model.policy
    if not isinstance(policy, PSPPolicyMixin):
        raise ValueError(
            f"expand_tasks needs a model with a psp_rl policy (PSPActorCriticPolicy, PSPDQNPolicy, PSPSACPolicy "
            f"or PSPTD3Policy), got {type(policy).__name__}."
        )
    old_tasks = policy.num_tasks
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, (int, np.integer)) or num_tasks <= old_tasks:
        raise ValueError(
            f"expand_tasks adds tasks: the model holds K={old_tasks} tasks, so num_tasks must be an integer "
            f"larger than {old_tasks}, got {num_tasks!r} (a model cannot drop tasks)."
        )
    num_tasks = int(num_tasks)
    space = grown_space(model.observation_space, num_tasks)
    data: dict[str, Any] = {**policy._get_constructor_parameters(), "observation_space": space}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed(model, num_tasks))
        grown = type(policy)(**data).to(policy.device)
    input_end = task_input_end(policy)
    grown.load_state_dict(_grow_state_dict(policy.state_dict(), grown.state_dict(), old_tasks, input_end))
    old_names = {id(p): n for n, p in policy.named_parameters()}
    new_names = {id(p): n for n, p in grown.named_parameters()}
    new_optimizers = _optimizers(grown)
    for path, optimizer in _optimizers(policy).items():
        _grow_optimizer(optimizer, new_optimizers[path], old_names, new_names, old_tasks, input_end)
    grown.set_training_mode(policy.training)

    model.policy = grown
    model.observation_space = space
    if hasattr(
        model, "_create_aliases"
    ):  # DQN, SAC, TD3: q_net, actor, critic(_target) point into the policy
        model._create_aliases()
    for attribute, aliases in _BATCH_NORM_LISTS.items():
        if hasattr(model, attribute):
            network = next(getattr(model, a) for a in aliases if hasattr(model, a))
            setattr(model, attribute, get_parameters_by_name(network, ["running_"]))
    for name in ("replay_buffer", "rollout_buffer"):  # both store the task id, not its one-hot vector
        buffer = getattr(model, name, None)
        if buffer is not None:
            buffer.observation_space = space
    if env is not None:
        model.set_env(env)
    return model


def check_model_fits(model: BaseAlgorithm, observation_space: spaces.Space, where: str = "the env") -> None:
    """Raise a clear error when a model holds fewer tasks than an env (or suite) gives it.

    :param model: an SB3 model with a psp_rl policy
    :param observation_space: the env's observation space
    :param where: how to name the env in the message
    :raises ValueError: when the task counts differ
    """
    held = num_tasks_of(model.observation_space)
    wanted = num_tasks_of(observation_space)
    if held == wanted:
        return
    if wanted > held:
        raise ValueError(
            f"The model holds K={held} tasks but {where} has {wanted}: grow it first with "
            f"psp_rl.expand_tasks(model, {wanted}) (for a run folder: psp-rl train --resume RUN --num-tasks {wanted})."
        )
    raise ValueError(
        f"The model holds K={held} tasks but {where} has only {wanted}: build {where} with num_tasks={held} "
        "(variant k of a suite is the same whatever the number of tasks)."
    )


def fit_grown(
    saved: torch.Tensor, param: torch.Tensor, policy: Any, name: str, *, anchor: bool
) -> torch.Tensor:
    """A tensor saved for a parameter before the policy grew, with entries for the added tasks: no
    information (zeros) for a statistic such as a Fisher sum, the parameter's current values for an anchor.

    :param saved: the saved tensor.
    :param param: the parameter of the grown policy.
    :param policy: the grown policy.
    :param name: the tensor's name, for error messages.
    :param anchor: the tensor holds parameter values (else a statistic that is zero without data).
    :raises ValueError: when the shapes differ other than by added tasks.
    """
    if saved.shape == param.shape:
        return saved
    like = param.detach() if anchor else torch.zeros_like(param)
    old_tasks = saved.shape[0] if saved.dim() == param.dim() and saved.shape[1:] == param.shape[1:] else -1
    end = task_input_end(policy)  # of the grown one-hot block: the old one ended earlier
    end = None if end is None else end - (param.shape[-1] - saved.shape[-1])
    try:
        return grow_tensor(saved, like, old_tasks, name, end)
    except RuntimeError:
        raise ValueError(
            f"saved state {name} has shape {tuple(saved.shape)}, the policy {tuple(param.shape)}: it was "
            "saved from a different network."
        ) from None
