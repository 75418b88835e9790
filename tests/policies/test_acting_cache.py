"""Acting with folded weights: in evaluation mode the acting networks keep each task's weight with its
key folded in (one plain product per layer), rebuilt whenever the parameters change; target networks
never keep any."""

from __future__ import annotations

import copy

import numpy as np
import torch
from stable_baselines3 import DQN, PPO, SAC

import psp_rl
from psp_rl import PSPActorCriticPolicy, PSPDQNPolicy, PSPSACPolicy
from psp_rl.nn.layers import SuperposedLinear


def _layers(module: torch.nn.Module) -> list[SuperposedLinear]:
    return [m for m in module.modules() if isinstance(m, SuperposedLinear)]


def _ppo(context: str = "binary") -> PPO:
    env = psp_rl.load_suite("cartpole-permuted", num_tasks=3).make_vec_env(n_envs=2, seed=0)
    kwargs = dict(net_arch=dict(pi=[16, 16], vf=[16, 16]), context=context)
    return PPO(PSPActorCriticPolicy, env, n_steps=32, batch_size=32, n_epochs=1, policy_kwargs=kwargs, seed=0)


def _obs(task: int, n: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(task)
    return {"obs": rng.normal(size=(n, 4)).astype(np.float32), "task": np.full(n, task)}


def _forward(
    policy: torch.nn.Module, obs: dict[str, np.ndarray], kept: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Action logits and values without gradients: in evaluation mode (``kept``: with the kept weights) or in
    training mode (computed as usual); the policy is left in evaluation mode."""
    policy.set_training_mode(not kept)
    with torch.no_grad():
        tensor, _ = policy.obs_to_tensor(obs)
        latent_pi, latent_vf = policy.mlp_extractor(policy.extract_features(tensor))
        out = policy.action_net(latent_pi), policy.value_net(latent_vf)
    policy.set_training_mode(False)
    return out


def _uncached(policy: torch.nn.Module, obs: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    return _forward(policy, obs, kept=False)


def _cached(policy: torch.nn.Module, obs: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    return _forward(policy, obs, kept=True)


def test_acting_keeps_folded_weights_from_the_second_call_and_computes_the_same_bits() -> None:
    """Every context kind, batches with more and fewer rows than the heads have outputs: acting with the
    kept weights gives exactly (bit for bit) what computing without them gives."""
    for context in ("binary", "complex", "rotation"):
        policy = _ppo(context).policy
        for rows in (1, 4):
            expected = {task: _uncached(policy, _obs(task, rows)) for task in (0, 2)}
            first = _cached(policy, _obs(0, rows))
            assert all(layer._acting is not None for layer in _layers(policy))
            for _ in range(2):
                for task in (0, 2):
                    got = _cached(policy, _obs(task, rows))
                    assert all(torch.equal(a, b) for a, b in zip(got, expected[task])), (context, rows, task)
            assert all(torch.equal(a, b) for a, b in zip(first, expected[0]))
            kept = set().union(*(layer._acting.tasks() for layer in _layers(policy)))
            # complex and rotation keys are kept only where the layer folds them anyway: heads (2 and 1
            # outputs) acting on more rows than that
            assert kept == ({0, 2} if context == "binary" or rows > 2 else set()), (context, rows)
        # binary keys are kept for every layer; complex and rotation only where the key is folded anyway
        counts = [len(layer._acting.tasks()) for layer in _layers(policy)]
        assert all(counts) if context == "binary" else 0 in counts and any(counts), (context, counts)


def test_kept_weights_follow_every_change_of_the_parameters() -> None:
    """An optimiser step, a load_state_dict and a device/dtype round trip all rebuild the folded weights."""
    model = _ppo()
    policy = model.policy
    obs = _obs(1)
    for _ in range(2):
        before = _cached(policy, obs)[0]
    model.learn(64)  # optimiser steps
    for _ in range(2):
        after = _cached(policy, obs)[0]
    assert not torch.allclose(before, after)
    assert torch.equal(after, _uncached(policy, obs)[0])
    other = _ppo().policy
    other.load_state_dict(
        {k: v + 0.1 if v.is_floating_point() else v for k, v in policy.state_dict().items()}
    )
    for _ in range(2):
        _cached(other, obs)
    other.load_state_dict(policy.state_dict())
    assert torch.equal(_cached(other, obs)[0], _uncached(policy, obs)[0])
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(0.5)  # an in-place write seen by the parameters' versions
    assert torch.equal(_cached(other, obs)[0], _uncached(other, obs)[0])


def test_training_mode_and_gradients_never_use_kept_weights() -> None:
    policy = _ppo().policy
    obs = _obs(0)
    for _ in range(2):
        _cached(policy, obs)
    policy.set_training_mode(True)
    assert all(layer._acting is None for layer in _layers(policy))
    policy.set_training_mode(False)
    tensor, _ = policy.obs_to_tensor(obs)
    values, log_prob, _ = policy.evaluate_actions(tensor, torch.zeros(4, dtype=torch.long))  # with gradients
    (values.sum() + log_prob.sum()).backward()
    assert all(p.grad is not None for p in policy.action_net.parameters())
    assert all(p.grad is not None for p in policy.mlp_extractor.parameters())


def test_target_networks_and_copies_keep_no_folded_weights() -> None:
    sac_env = psp_rl.load_suite("pendulum-permuted", num_tasks=2).make_vec_env(n_envs=1, seed=0)
    sac = SAC(PSPSACPolicy, sac_env, policy_kwargs=dict(net_arch=[16, 16]), learning_starts=0, seed=0)
    dqn_env = psp_rl.load_suite("cartpole-permuted", num_tasks=2).make_vec_env(n_envs=1, seed=0)
    dqn = DQN(PSPDQNPolicy, dqn_env, policy_kwargs=dict(net_arch=[16, 16]), learning_starts=0, seed=0)
    for model, acting, others in (
        (sac, "actor", ("critic", "critic_target")),
        (dqn, "q_net", ("q_net_target",)),
    ):
        model.learn(20)
        model.policy.set_training_mode(False)
        assert all(layer._acting is not None for layer in _layers(getattr(model.policy, acting)))
        for name in others:
            assert all(layer._acting is None for layer in _layers(getattr(model.policy, name))), name
        copied = copy.deepcopy(getattr(model.policy, acting))
        assert all(layer._acting is None for layer in _layers(copied))
