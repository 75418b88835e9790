"""EWC baseline: λ = 0 is exactly `shared`, a huge λ pins the weights, the Fisher is the squared
log-likelihood gradient (the penalty hooks leave it alone), state round-trips, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.distributions import CategoricalDistribution

from psp_rl.continual import TaskScheduleCallback
from psp_rl.continual.ewc import EWC
from psp_rl.envs.suites import load_suite
from psp_rl.policies import PSPActorCriticPolicy, PSPDQNPolicy

N_ENVS, N_STEPS = 2, 64
STEPS = 4 * N_ENVS * N_STEPS  # one phase = four rollouts, so a boundary falls on a rollout end


def make_ppo(seed: int = 0, num_tasks: int = 2) -> tuple[PPO, object]:
    suite = load_suite("cartpole-permuted", num_tasks=num_tasks, steps_per_task=STEPS)
    env = suite.make_vec_env(n_envs=N_ENVS, seed=seed)
    model = PPO(
        PSPActorCriticPolicy,
        env,
        policy_kwargs=dict(mode="shared", net_arch=[16, 16]),
        n_steps=N_STEPS,
        batch_size=64,
        n_epochs=10,
        learning_rate=1e-3,
        seed=seed,
    )
    return model, suite.make_schedule()


def params(model: PPO, names: list[str] | None = None) -> list[torch.Tensor]:
    named = dict(model.policy.named_parameters())
    return [named[n].detach().clone() for n in (names if names is not None else named)]


def run(ewc_lambda: float | None, seed: int = 0, critic: bool = False) -> tuple[PPO, EWC | None]:
    model, schedule = make_ppo(seed)
    callbacks: list = [TaskScheduleCallback(schedule)]
    ewc = None
    if ewc_lambda is not None:
        ewc = EWC(ewc_lambda, fisher_samples=64, schedule=schedule, critic=critic)
        callbacks.append(ewc)
    model.learn(schedule.total_timesteps, callback=callbacks)
    return model, ewc


def test_zero_lambda_equals_shared() -> None:
    shared, _ = run(None)
    ewc_model, ewc = run(0.0)
    assert ewc is not None and ewc.num_consolidated == 1  # the Fisher was estimated and anchored
    assert ewc.fisher is not None and sum(float(f.sum()) for f in ewc.fisher) > 0
    for a, b in zip(params(shared), params(ewc_model)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("critic", [False, True])
def test_huge_lambda_keeps_shared_weights_put(critic: bool) -> None:
    shared, _ = run(None)
    pinned, ewc = run(1e7, critic=critic)
    assert ewc is not None and ewc.last_anchor is not None and ewc.last_fisher is not None
    value_names = [n for n, _ in shared.policy.named_parameters() if "value_net" in n]
    assert value_names and (set(value_names) <= set(ewc.names)) == critic  # the actor only by default
    assert "action_net.layers.0.weight" in ewc.names
    # up to the switch both runs are identical, so the anchor is the shared run's phase-0 weights
    drift_shared, drift_pinned = [], []
    for anchor, fisher, p_shared, p_pinned in zip(
        ewc.last_anchor, ewc.last_fisher, params(shared, ewc.names), params(pinned, ewc.names)
    ):
        mask = fisher > 1e-6 * float(fisher.max()) if fisher.numel() else fisher > 0
        drift_shared.append((p_shared - anchor)[mask].abs())
        drift_pinned.append((p_pinned - anchor)[mask].abs())
    moved_shared = torch.cat(drift_shared).mean()
    moved_pinned = torch.cat(drift_pinned).mean()
    assert moved_shared > 2e-2  # task 1 does move the unregularised weights
    assert moved_pinned < 0.1 * moved_shared
    assert ewc.penalty() >= 0.0


def reference_fisher(
    model: PPO,
    state: dict[str, torch.Tensor],
    observations: dict,
    actions: torch.Tensor,
    names: list[str],
    critic: bool = False,
) -> list[torch.Tensor]:
    """``mean_i (∂ log π(a_i|s_i)/∂θ)²`` (``+ (∂V(s_i)/∂θ)²`` with ``critic``) by plain autograd on a
    fresh, hook-free copy of the policy."""
    policy = type(model.policy)(**model.policy._get_constructor_parameters())
    policy.load_state_dict(state)
    policy.set_training_mode(False)
    named = dict(policy.named_parameters())
    wrt = [named[n] for n in names]
    obs = {k: torch.as_tensor(v) for k, v in observations.items()}
    fisher = [torch.zeros_like(p) for p in wrt]
    for i in range(len(actions)):
        obs_i = {k: v[i : i + 1] for k, v in obs.items()}
        outputs = [policy.get_distribution(obs_i).log_prob(actions[i : i + 1]).sum()]
        if critic:
            outputs.append(policy.predict_values(obs_i).sum())
        for output in outputs:
            for f, g in zip(fisher, torch.autograd.grad(output, wrt, allow_unused=True)):
                if g is not None:
                    f.add_(g**2)
    return [f / len(actions) for f in fisher]


@pytest.mark.parametrize("critic", [False, True])
def test_later_fishers_are_the_squared_log_likelihood_gradient(
    monkeypatch: pytest.MonkeyPatch, critic: bool
) -> None:
    """From the second consolidation on, the penalty's gradient hooks must not leak into the Fisher."""
    model, schedule = make_ppo(num_tasks=3)
    ewc = EWC(100.0, fisher_samples=64, schedule=schedule, critic=critic)
    records: list[tuple] = []
    sampled: list[torch.Tensor] | None = None
    sample = CategoricalDistribution.sample

    def recording_sample(self: CategoricalDistribution) -> torch.Tensor:
        action = sample(self)
        if sampled is not None:
            sampled.append(action.detach().clone().reshape(-1))
        return action

    estimate = ewc.estimate_fisher

    def recording_estimate(observations: dict) -> list[torch.Tensor]:
        nonlocal sampled
        state = {k: v.detach().clone() for k, v in model.policy.state_dict().items()}
        sampled = []
        fisher = estimate(observations)
        records.append((observations, state, torch.cat(sampled), fisher))
        sampled = None
        return fisher

    monkeypatch.setattr(CategoricalDistribution, "sample", recording_sample)
    monkeypatch.setattr(ewc, "estimate_fisher", recording_estimate)
    model.learn(schedule.total_timesteps, callback=[TaskScheduleCallback(schedule), ewc])
    assert ewc.num_consolidated == 2 and len(records) == 2 and ewc.last_fisher is not None
    assert ewc.penalty() > 0.0  # the second phase did move the weights: the hooks were active
    for got, stored in zip(records[-1][3], ewc.last_fisher):
        assert torch.equal(got, stored)
    for observations, state, actions, fisher in records:
        assert len(actions) == 64
        expected = reference_fisher(model, state, observations, actions, ewc.names, critic)
        assert sum(float(f.sum()) for f in expected) > 0
        for got, want in zip(fisher, expected):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-9)
    ewc.remove_hooks()


def test_state_round_trip(tmp_path: Path) -> None:
    model, ewc = run(10.0)
    assert ewc is not None
    path = ewc.save(tmp_path / "ewc.pt")
    fresh = EWC(10.0, fisher_samples=64, phase_boundaries=[STEPS, 2 * STEPS])
    fresh.load(path)
    fresh.init_callback(model)  # attaching applies the pending state
    assert fresh.num_consolidated == 1 and fresh.next_phase == 2
    assert fresh.fisher is not None and ewc.fisher is not None
    for a, b in zip(ewc.fisher, fresh.fisher):
        assert torch.equal(a, b)
    assert fresh.penalty() == pytest.approx(ewc.penalty(), rel=1e-5)
    ewc.remove_hooks()
    fresh.remove_hooks()


def test_the_registry_builds_it_from_its_section_following_the_schedule() -> None:
    import psp_rl

    schedule = load_suite("cartpole-permuted", num_tasks=3, steps_per_task=500).make_schedule()
    events = psp_rl.continual.callbacks(schedule, algo="ppo", ewc={"lambda": 5.0})
    cb = events["ewc"]
    assert isinstance(cb, EWC) and cb.ewc_lambda == 5.0
    assert cb.phase_boundaries == [500, 1000, 1500] and cb.phase_tasks == [0, 1, 2]
    assert "ewc" not in psp_rl.continual.callbacks(schedule, algo="ppo").mechanisms  # lambda 0: off
    with pytest.raises(ValueError, match="ppo and a2c"):
        psp_rl.continual.callbacks(schedule, algo="dqn", ewc={"lambda": 1.0})


def test_a2c_consolidates_mid_rollout() -> None:
    """A phase end inside a rollout (84 is not a multiple of 2 envs x 8 steps) anchors right there."""
    suite = load_suite("cartpole-permuted", num_tasks=2, steps_per_task=84)
    schedule = suite.make_schedule()
    model = A2C(
        PSPActorCriticPolicy,
        suite.make_vec_env(n_envs=2),
        n_steps=8,
        seed=0,
        policy_kwargs=dict(mode="shared", net_arch=[8]),
    )
    ewc = EWC(1.0, fisher_samples=16, schedule=schedule)
    anchors: dict[int, list[torch.Tensor]] = {}

    class Spy(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps in (84, 86):  # the boundary step, and the step after
                named = dict(self.model.policy.named_parameters())
                anchors[self.num_timesteps] = [named[n].detach().clone() for n in ewc.names]
            return True

    model.learn(schedule.total_timesteps, callback=[TaskScheduleCallback(schedule), ewc, Spy()])
    assert ewc.num_consolidated == 1 and ewc.last_anchor is not None
    for a, p in zip(ewc.last_anchor, anchors[86]):
        assert torch.equal(a, p)


def test_errors() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        EWC(-1.0, phase_boundaries=[10])
    with pytest.raises(ValueError, match="exactly one"):
        EWC(1.0)
    suite = load_suite("cartpole-permuted", num_tasks=2, steps_per_task=100)
    model = DQN(PSPDQNPolicy, suite.make_vec_env(n_envs=1), learning_starts=10)
    with pytest.raises(ValueError, match="PPO and A2C"):
        EWC(1.0, phase_boundaries=[100]).init_callback(model)


def test_two_anchors_penalty_and_gradient_match_the_explicit_sum() -> None:
    """The merged (F, θ̄, residual) form equals λ/2 Σ_t F_t (θ − θ*_t)² and its gradient."""
    model, schedule = make_ppo()
    lam = 3.0
    ewc = EWC(lam, phase_boundaries=[1, 2])
    ewc.init_callback(model)
    ewc._stash = np.zeros((4, 1), dtype=np.float32)  # not read: the Fisher is given below
    gen = torch.Generator().manual_seed(0)
    anchors, fishers = [], []
    for _ in range(2):
        with torch.no_grad():
            for p in ewc.params:
                p.add_(torch.randn(p.shape, generator=gen))
        fisher = [torch.rand(p.shape, generator=gen) for p in ewc.params]
        ewc.estimate_fisher = lambda obs, fisher=fisher: fisher  # type: ignore[method-assign]
        ewc.consolidate(None)
        anchors.append([p.detach().clone() for p in ewc.params])
        fishers.append(fisher)
    with torch.no_grad():
        for p in ewc.params:
            p.add_(torch.randn(p.shape, generator=gen))
    explicit = (
        0.5
        * lam
        * sum(
            float((f * (p.detach() - a) ** 2).sum())
            for anchor, fisher in zip(anchors, fishers)
            for p, a, f in zip(ewc.params, anchor, fisher)
        )
    )
    assert ewc.penalty() == pytest.approx(explicit, rel=1e-5)
    model.policy.zero_grad()
    sum((p * 0.0).sum() for p in ewc.params).backward()
    for i, p in enumerate(ewc.params):
        expected = lam * sum(f[i] * (p.detach() - a[i]) for a, f in zip(anchors, fishers))
        torch.testing.assert_close(p.grad, expected, rtol=1e-4, atol=1e-4)
    ewc.remove_hooks()
