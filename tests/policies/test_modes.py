"""Baseline modes at the policy level: every mode trains with every algorithm and saves/loads;
`separate` has K× the parameters, `multihead` shares its trunk, `onehot` widens the input, `mask` trains
K score tables over a fixed backbone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv

from psp_rl import PSPActorCriticPolicy, PSPDQNPolicy, PSPSACPolicy, PSPTD3Policy
from psp_rl.envs import make_variant_env
from psp_rl.nn.contexts import layer_id
from psp_rl.nn.masks import MaskedLinear, mask_parameter_counts, signed_constant
from psp_rl.nn.networks import MODES, TaskMLP

K = 3
ALGOS = {
    "ppo": (PPO, PSPActorCriticPolicy, "CartPole-v1", dict(n_steps=16, batch_size=16, n_epochs=2)),
    "a2c": (A2C, PSPActorCriticPolicy, "Pendulum-v1", dict(n_steps=8)),
    "dqn": (DQN, PSPDQNPolicy, "CartPole-v1", dict(learning_starts=16, batch_size=16, train_freq=4)),
    "sac": (SAC, PSPSACPolicy, "Pendulum-v1", dict(learning_starts=16, batch_size=16, train_freq=4)),
    "td3": (TD3, PSPTD3Policy, "Pendulum-v1", dict(learning_starts=16, batch_size=16, train_freq=4)),
}


def vec_env(env_id: str) -> DummyVecEnv:
    """Sub-env ``i`` runs task ``i``: every batch mixes the K tasks."""
    return DummyVecEnv(
        [
            lambda i=i: make_variant_env(env_id, [{"family": "permute_obs"}], task=i, num_tasks=K, seed=0)
            for i in range(K)
        ]
    )


def make_model(algo: str, mode: str, width: int = 8, **policy_kwargs: Any) -> BaseAlgorithm:
    cls, policy, env_id, kwargs = ALGOS[algo]
    policy_kwargs = dict(mode=mode, net_arch=[width, width], **policy_kwargs)
    return cls(policy, vec_env(env_id), policy_kwargs=policy_kwargs, seed=0, **kwargs)


def count(module: torch.nn.Module, skip: tuple[str, ...] = ()) -> int:
    return sum(p.numel() for name, p in module.named_parameters() if name not in skip)


def head_params(model: BaseAlgorithm) -> int:
    """Parameters of the output layers (the last layer of every head) of a policy."""
    return sum(count(m.layers[-1]) for m in model.policy.modules() if isinstance(m, TaskMLP) and m.is_head)


def observations(env_id: str) -> dict[str, np.ndarray]:
    space = make_variant_env(env_id, [], task=0, num_tasks=K).observation_space["obs"]
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, size=(2 * K, *space.shape)).astype(np.float32)
    return {"obs": obs, "task": np.arange(2 * K) % K}


@pytest.mark.parametrize("algo", list(ALGOS))
@pytest.mark.parametrize("mode", MODES)
def test_mode_trains_and_round_trips(algo: str, mode: str, tmp_path: Path) -> None:
    model = make_model(algo, mode)
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(64)
    after = list(model.policy.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after)), "no parameter was updated"
    assert model.policy.network_config.mode == mode
    model.save(tmp_path / "model.zip")
    loaded = ALGOS[algo][0].load(tmp_path / "model.zip", env=vec_env(ALGOS[algo][2]))
    assert loaded.policy.network_config.mode == mode
    assert count(loaded.policy) == count(model.policy)
    obs = observations(ALGOS[algo][2])
    expected, _ = model.predict(obs, deterministic=True)
    got, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("algo", list(ALGOS))
def test_parameter_counts(algo: str) -> None:
    models = {
        mode: make_model(algo, mode) for mode in ("shared", "separate", "multihead", "onehot", "psp", "mask")
    }
    # PPO/A2C with Box actions keep one log_std row per task in every mode: not part of the network
    skip = ("log_std",)
    shared = count(models["shared"].policy, skip)
    assert count(models["separate"].policy, skip) == K * shared
    heads = head_params(models["shared"])
    assert heads > 0
    assert count(models["multihead"].policy, skip) == shared + (K - 1) * heads
    assert count(models["onehot"].policy, skip) > shared
    # Without the input lifting PSP adds per-task biases only; lifting widens each first layer's fan-in.
    unlifted = make_model(algo, "psp", features_extractor_kwargs=dict(lift_dim=0))
    assert shared < count(unlifted.policy, skip) < K * shared
    assert count(models["psp"].policy, skip) > count(unlifted.policy, skip)
    # mask: K score tables over the onehot network's weights (no biases); the backbone is not trained
    onehot = models["onehot"].policy
    backbone = sum(p.numel() for name, p in onehot.named_parameters() if name.endswith("weight"))
    assert count(models["mask"].policy, skip) == K * backbone
    assert mask_parameter_counts(models["mask"].policy) == {"scores": K * backbone, "backbone": backbone}


def test_separate_tasks_do_not_share_weights() -> None:
    """Gradient steps on task 0 leave `separate`'s and `mask`'s task-1/2 outputs bit-for-bit unchanged, not
    `shared`'s (while task 0's outputs move: a mask changes only where a score crosses zero, so the steps
    are large enough to flip some)."""
    obs = observations("CartPole-v1")
    other = torch.as_tensor(obs["task"] != 0)
    task0 = {"obs": obs["obs"][obs["task"] == 0], "task": obs["task"][obs["task"] == 0]}
    modes = (("separate", False), ("mask", False), ("shared", True), ("multihead", True), ("psp", True))
    for mode, should_change in modes:
        policy = make_model("ppo", mode).policy
        tensors, _ = policy.obs_to_tensor(obs)

        def outputs(policy=policy, tensors=tensors) -> torch.Tensor:
            with torch.no_grad():
                logits = policy.get_distribution(tensors).distribution.logits
                return torch.cat([logits, policy.predict_values(tensors)], dim=1)

        before = outputs()
        t0, _ = policy.obs_to_tensor(task0)
        for group in policy.optimizer.param_groups:
            group["lr"] = 0.05
        for _ in range(5):
            loss = policy.get_distribution(t0).distribution.logits.sum() + policy.predict_values(t0).sum()
            policy.optimizer.zero_grad()
            loss.backward()
            policy.optimizer.step()
        after = outputs()
        assert not torch.equal(before[~other], after[~other]), mode  # task 0 moved
        assert (not torch.equal(before[other], after[other])) == should_change, mode


@pytest.mark.parametrize("algo", ["ppo", "dqn", "sac"])
def test_mask_backbone_survives_sb3_init_and_is_never_trained(algo: str) -> None:
    """SB3's (orthogonal) init and training leave every backbone the signed constant ``±sqrt(2 / fan_in)``
    of the (seed, layer) rule; the optimisers hold the scores, never the backbone; target networks carry
    the online networks' backbones."""
    model = make_model(algo, "mask", context_seed=2)
    model.learn(64)
    policy = model.policy
    optimizers = [
        m.optimizer
        for m in policy.modules()
        if isinstance(getattr(m, "optimizer", None), torch.optim.Optimizer)
    ]
    trained = {id(p) for optimizer in optimizers for group in optimizer.param_groups for p in group["params"]}
    layers = {n: m for n, m in policy.named_modules() if isinstance(m, MaskedLinear)}
    assert layers
    for name, layer in layers.items():
        assert torch.equal(layer.weight.abs(), torch.full_like(layer.weight, (2 / layer.in_features) ** 0.5))
        assert id(layer.weight) not in trained, name
        if "_target" in name:  # polyak-updated, not optimised
            assert torch.equal(layer.weight, layers[name.replace("_target", "")].weight), name
        else:
            assert id(layer.scores) in trained, name
    if algo == "ppo":
        first = policy.mlp_extractor.policy_net.layers[0]
        assert torch.equal(
            first.weight, signed_constant(first.out_features, first.in_features, 2, layer_id("pi/0"))
        )
