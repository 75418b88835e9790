"""Baseline modes at the policy level: every mode trains with every algorithm and saves/loads;
`separate` has K× the parameters, `multihead` shares its trunk, `onehot` widens the input."""

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
    models = {mode: make_model(algo, mode) for mode in ("shared", "separate", "multihead", "onehot", "psp")}
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


def test_separate_tasks_do_not_share_weights() -> None:
    """A gradient step on task 0 leaves `separate`'s task-1/2 outputs bit-for-bit unchanged, not `shared`'s."""
    obs = observations("CartPole-v1")
    other = torch.as_tensor(obs["task"] != 0)
    task0 = {"obs": obs["obs"][obs["task"] == 0], "task": obs["task"][obs["task"] == 0]}
    for mode, should_change in (("separate", False), ("shared", True), ("multihead", True), ("psp", True)):
        policy = make_model("ppo", mode).policy
        tensors, _ = policy.obs_to_tensor(obs)

        def outputs(policy=policy, tensors=tensors) -> torch.Tensor:
            with torch.no_grad():
                logits = policy.get_distribution(tensors).distribution.logits
                return torch.cat([logits, policy.predict_values(tensors)], dim=1)[other]

        before = outputs()
        t0, _ = policy.obs_to_tensor(task0)
        loss = policy.get_distribution(t0).distribution.logits.sum() + policy.predict_values(t0).sum()
        policy.optimizer.zero_grad()
        loss.backward()
        policy.optimizer.step()
        assert (not torch.equal(before, outputs())) == should_change, mode
