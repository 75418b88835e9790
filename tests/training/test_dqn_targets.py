"""psp_rl.training.dqn: the TD targets (SB3's, advantage learning, value rescaling) and the runs that use them."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
import stable_baselines3
import torch

import psp_rl
from psp_rl.training import resolve_config, train
from psp_rl.training.build import algo_class
from psp_rl.training.dqn import DQN, rescale, rescale_inverse
from psp_rl.training.saved_runs import load_run_model

TINY = {"learning_starts": 50, "train_freq": 25, "gradient_steps": 5, "batch_size": 16, "buffer_size": 500}


def _model(cls: type, seed: int = 0, **kwargs: object) -> object:
    suite = psp_rl.load_suite("cartpole-permuted", num_tasks=2)
    return cls(
        psp_rl.PSPDQNPolicy,
        suite.make_vec_env(1, seed=seed),
        seed=seed,
        device="cpu",
        policy_kwargs={"net_arch": [16]},
        **TINY,
        **kwargs,
    )


def test_the_standard_target_is_sb3s_dqn_bit_for_bit() -> None:
    ours = _model(DQN)
    ours.learn(300)
    sb3 = _model(stable_baselines3.DQN)  # seeded at construction: after the first run, as the first was
    sb3.learn(300)
    for a, b in zip(ours.policy.parameters(), sb3.policy.parameters()):
        assert torch.equal(a, b)
    assert algo_class("dqn") is DQN


def _batch(model: DQN) -> types.SimpleNamespace:
    obs = {"obs": torch.randn(4, 4), "task": torch.tensor([0, 1, 0, 1])}
    nxt = {"obs": torch.randn(4, 4), "task": torch.tensor([0, 1, 0, 1])}
    return types.SimpleNamespace(
        observations=obs,
        next_observations=nxt,
        actions=torch.tensor([[0], [1], [1], [0]]),
        rewards=torch.ones(4, 1),
        dones=torch.tensor([[0.0], [0.0], [1.0], [0.0]]),
    )


def test_advantage_learning_subtracts_alpha_times_the_taken_actions_gap() -> None:
    model = _model(DQN, td_target="advantage_learning", gap_alpha=0.5)
    batch = _batch(model)
    with torch.no_grad():
        q_next = model.q_net_target(batch.next_observations).max(dim=1).values.reshape(-1, 1)
        q_here = model.q_net_target(batch.observations)
    standard = batch.rewards + (1 - batch.dones) * 0.99 * q_next
    gap = q_here.max(dim=1, keepdim=True).values - q_here.gather(1, batch.actions)
    assert (gap >= 0).all() and (gap > 0).any()
    target = model.target_values(batch, 0.99)
    assert torch.allclose(target, standard - 0.5 * gap)
    model.td_target = "standard"
    assert torch.allclose(model.target_values(batch, 0.99), standard)


def test_value_rescaling_targets_h_of_the_unscaled_target() -> None:
    x = torch.linspace(-300, 300, 61)
    assert torch.allclose(rescale_inverse(rescale(x, 1e-3), 1e-3), x, atol=1e-3)
    model = _model(DQN, td_target="rescaled", rescale_eps=1e-3)
    batch = _batch(model)
    with torch.no_grad():
        q_next = model.q_net_target(batch.next_observations).max(dim=1).values.reshape(-1, 1)
    unscaled = batch.rewards + (1 - batch.dones) * 0.99 * rescale_inverse(q_next, 1e-3)
    assert torch.allclose(model.target_values(batch, 0.99), rescale(unscaled, 1e-3))


def test_a_run_with_another_target_trains_saves_and_loads_it(tmp_path: Path) -> None:
    sets = [f"hyperparams.{k}={v}" for k, v in TINY.items()]
    sets += ["hyperparams.td_target=advantage_learning", "hyperparams.gap_alpha=0.8", "keep_best.freq=0"]
    sets += ["policy_kwargs.net_arch=[16]", "policy_kwargs.base_width=16", "eval.episodes=1"]
    cfg = resolve_config("dqn-psp", num_tasks=2, steps_per_task=200, run_dir=str(tmp_path), sets=sets)
    result = train(cfg, progress_bar=False, verbose=0)
    assert (result.model.td_target, result.model.gap_alpha) == ("advantage_learning", 0.8)
    _, loaded, _ = load_run_model(result.run_path, device="cpu")
    assert isinstance(loaded, DQN) and (loaded.td_target, loaded.gap_alpha) == ("advantage_learning", 0.8)
    obs = {"obs": np.zeros((1, 4), dtype=np.float32), "task": np.array([1])}
    assert np.array_equal(
        loaded.predict(obs, deterministic=True)[0], result.model.predict(obs, deterministic=True)[0]
    )


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("hyperparams.td_target=double", "td_target must be one of standard, advantage_learning, rescaled"),
        ("hyperparams.gap_alpha=1", r"gap_alpha must be a number in \[0, 1\)"),
        ("hyperparams.rescale_eps=-1", "rescale_eps must be a number > 0"),
    ],
)
def test_a_bad_target_setting_is_named_before_anything_is_built(item: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_config("dqn-psp", sets=[item])
