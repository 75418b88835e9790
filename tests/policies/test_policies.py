"""PSP policies inside Stable-Baselines3: per-sample tasks, save/load, seeding, learning, errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from psp_rl import PSPActorCriticPolicy, PSPDQNPolicy, PSPSACPolicy, PSPTD3Policy
from psp_rl.envs import PermuteObservation, make_variant_env
from psp_rl.nn.contexts import CONTEXT_KINDS

K = 3
ALGOS = {
    "ppo": (PPO, PSPActorCriticPolicy, "CartPole-v1", dict(n_steps=32, batch_size=32)),
    "a2c": (A2C, PSPActorCriticPolicy, "Pendulum-v1", dict(n_steps=8)),
    "dqn": (DQN, PSPDQNPolicy, "CartPole-v1", dict(learning_starts=16, batch_size=16, train_freq=4)),
    "sac": (SAC, PSPSACPolicy, "Pendulum-v1", dict(learning_starts=16, batch_size=16, train_freq=4)),
    "td3": (TD3, PSPTD3Policy, "Pendulum-v1", dict(learning_starts=16, batch_size=16, train_freq=4)),
}


def variant_env(env_id: str, task: int, num_tasks: int = K) -> gym.Env:
    return Monitor(
        make_variant_env(env_id, [{"family": "permute_obs"}], task=task, num_tasks=num_tasks, seed=0)
    )


def vec_env(env_id: str, num_tasks: int = K, n_envs: int = K) -> DummyVecEnv:
    """Sub-env ``i`` runs task ``i mod K``: every batch mixes tasks."""
    return DummyVecEnv([lambda i=i: variant_env(env_id, i % num_tasks, num_tasks) for i in range(n_envs)])


def make_model(
    name: str, context: str = "binary", seed: int = 0, width: int = 16, **overrides
) -> BaseAlgorithm:
    algo, policy, env_id, kwargs = ALGOS[name]
    policy_kwargs = dict(context=context, net_arch=[width, width])
    return algo(policy, vec_env(env_id), policy_kwargs=policy_kwargs, seed=seed, **{**kwargs, **overrides})


def mixed_observations(env_id: str, n: int = 12) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    space = variant_env(env_id, 0).observation_space["obs"]
    obs = rng.uniform(-1, 1, size=(n, *space.shape)).astype(np.float32)
    return {"obs": obs, "task": np.arange(n) % K}


def policy_outputs(model: BaseAlgorithm, obs: dict[str, np.ndarray]) -> list[torch.Tensor]:
    policy = model.policy
    tensors, _ = policy.obs_to_tensor(obs)
    with torch.no_grad():
        if isinstance(policy, PSPActorCriticPolicy):
            actions = torch.zeros((len(obs["task"]), *(model.action_space.shape or ())))
            return list(policy.evaluate_actions(tensors, actions))
        if isinstance(policy, PSPDQNPolicy):
            return [policy.q_net(tensors)]
        actions = torch.zeros(len(obs["task"]), model.action_space.shape[0])
        outs = list(policy.critic(tensors, actions))
        if isinstance(policy, PSPSACPolicy):
            return outs + list(policy.actor.get_action_dist_params(tensors)[:2])
        return outs + [policy.actor(tensors)]


@pytest.mark.parametrize("name", list(ALGOS))
@pytest.mark.parametrize("context", CONTEXT_KINDS)
def test_mixed_task_batch_equals_per_task_batches(name: str, context: str) -> None:
    model = make_model(name, context)
    env_id = ALGOS[name][2]
    obs = mixed_observations(env_id)
    mixed = policy_outputs(model, obs)
    for k in range(K):
        idx = np.flatnonzero(obs["task"] == k)
        alone = policy_outputs(model, {"obs": obs["obs"][idx], "task": obs["task"][idx]})
        for m, a in zip(mixed, alone):
            torch.testing.assert_close(m[idx], a)
    other = policy_outputs(model, {"obs": obs["obs"], "task": (obs["task"] + 1) % K})
    assert not torch.allclose(mixed[0], other[0])  # the task id really changes the output


@pytest.mark.parametrize("name", list(ALGOS))
@pytest.mark.parametrize("context", CONTEXT_KINDS)
def test_save_load_acts_identically(name: str, context: str, tmp_path: Path) -> None:
    algo = ALGOS[name][0]
    model = make_model(name, context)
    model.learn(64)
    obs = mixed_observations(ALGOS[name][2])
    actions, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "model.zip")
    loaded = algo.load(tmp_path / "model.zip", device="cpu")
    assert type(loaded.policy) is type(model.policy)
    assert loaded.policy.network_config == model.policy.network_config
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)
    for key, value in model.policy.state_dict().items():
        assert torch.equal(loaded.policy.state_dict()[key], value), key


@pytest.mark.parametrize("name", ["dqn", "sac", "td3"])
def test_target_networks_hold_exactly_the_online_keys(name: str) -> None:
    model = make_model(name)
    model.learn(64)
    pairs = {"dqn": [("q_net", "q_net_target")], "sac": [("critic", "critic_target")]}
    pairs["td3"] = [("critic", "critic_target"), ("actor", "actor_target")]
    for online_name, target_name in pairs[name]:
        online = getattr(model.policy, online_name).state_dict()
        target = getattr(model.policy, target_name).state_dict()
        keys = [k for k in online if k.endswith("context")]
        assert keys and set(keys) == {k for k in target if k.endswith("context")}
        for key in keys:
            assert torch.equal(online[key], target[key]), key
        # polyak updates touch parameters only: the target keys never drift
        weights = [k for k in online if k.endswith("weight")]
        assert any(not torch.equal(online[k], target[k]) for k in weights)


@pytest.mark.parametrize("name", ["ppo", "sac"])
def test_same_seed_gives_the_same_first_1000_steps(name: str) -> None:
    runs = []
    for _ in range(2):
        model = make_model(name, seed=7)
        model.learn(1000)
        runs.append(torch.cat([p.detach().flatten() for p in model.policy.parameters()]))
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)
    other = make_model(name, seed=8)
    other.learn(1000)
    assert not torch.equal(runs[0], torch.cat([p.detach().flatten() for p in other.policy.parameters()]))


def test_per_task_log_std_for_box_actions() -> None:
    model = make_model("a2c")
    assert model.policy.log_std.shape == (K, 1)
    raw = mixed_observations("Pendulum-v1", 6)
    obs, _ = model.policy.obs_to_tensor(raw)
    with torch.no_grad():
        model.policy.log_std[1] = 1.5
        std = model.policy.get_distribution(obs).distribution.stddev
    task = torch.as_tensor(raw["task"])
    torch.testing.assert_close(std[task == 1], torch.full((2, 1), np.exp(1.5), dtype=torch.float32))
    assert torch.allclose(std[task == 0], torch.ones(2, 1))


def _isolation_ratio(context: str, seed: int = 0, lift_dim: int | None = None) -> float:
    """How much one optimiser step on task 0 moves task 1's outputs, relative to task 0's."""
    torch.manual_seed(seed)
    policy_kwargs = dict(
        context=context, net_arch=[64, 64], features_extractor_kwargs=dict(lift_dim=lift_dim)
    )
    model = PPO(
        PSPActorCriticPolicy,
        vec_env("CartPole-v1"),
        n_steps=32,
        batch_size=32,
        seed=seed,
        policy_kwargs=policy_kwargs,
    )
    policy = model.policy
    n = 128
    obs = mixed_observations("CartPole-v1", 3 * n)
    obs_j = {"obs": obs["obs"][:n], "task": np.zeros(n, dtype=np.int64)}
    obs_k = {"obs": obs["obs"][:n], "task": np.ones(n, dtype=np.int64)}
    t_j, _ = policy.obs_to_tensor(obs_j)
    t_k, _ = policy.obs_to_tensor(obs_k)
    actions = torch.ones(n)

    def outputs(t: dict) -> torch.Tensor:
        with torch.no_grad():
            values, log_prob, _ = policy.evaluate_actions(t, actions)
        return torch.cat([values.flatten(), log_prob])

    before_j, before_k = outputs(t_j), outputs(t_k)
    values, log_prob, _ = policy.evaluate_actions(t_j, actions)
    loss = ((values - 1.0) ** 2).mean() - log_prob.mean()
    policy.optimizer.zero_grad()
    loss.backward()
    policy.optimizer.step()
    moved_j = (outputs(t_j) - before_j).abs().mean()
    moved_k = (outputs(t_k) - before_k).abs().mean()
    assert moved_j > 1e-4
    return float(moved_k / moved_j)


@pytest.mark.parametrize("context", CONTEXT_KINDS)
def test_policy_isolation_one_step_on_task_j(context: str) -> None:
    ratio = _isolation_ratio(context)
    assert ratio < 0.15, (context, ratio)


def _drift_of_other_task(mode: str, context: str = "binary") -> tuple[float, float]:
    """PPO trains 2048 steps on task 1 only; how far do task 0's and task 1's action logits move?"""
    env = DummyVecEnv([lambda: variant_env("CartPole-v1", 1)] * 2)
    model = PPO(
        PSPActorCriticPolicy,
        env,
        n_steps=256,
        batch_size=64,
        n_epochs=4,
        seed=0,
        policy_kwargs=dict(mode=mode, context=context, net_arch=[64, 64]),
    )
    obs = mixed_observations("CartPole-v1", 256)["obs"]

    def logits(task: int) -> torch.Tensor:
        tensors, _ = model.policy.obs_to_tensor({"obs": obs, "task": np.full(len(obs), task)})
        with torch.no_grad():
            return model.policy.get_distribution(tensors).distribution.logits

    before = [logits(0), logits(1)]
    model.learn(2048)
    moved = [float((logits(k) - before[k]).abs().mean()) for k in (0, 1)]
    return moved[0], moved[1]


@functools.cache
def _shared_drift() -> tuple[float, float]:
    return _drift_of_other_task("shared")


@pytest.mark.parametrize("context", CONTEXT_KINDS)
def test_training_one_task_for_many_updates_barely_moves_another(context: str) -> None:
    # 64 Adam updates on task 1. Under PSP task 0's outputs move a fraction of task 1's (in `shared`, one
    # model for both, they move alike by construction); and less than task 0's outputs move in the same
    # network without keys trained the same way, although PSP moves its trained task 2-3 times as far.
    # Measured (seed 0): task 0 moved 0.043 / 0.058 / 0.076 (binary / complex / rotation), task 1 0.36-0.46,
    # and task 0 in `shared` 0.16. With every task given the same key, task 0 moves 0.34-0.44: both fail.
    other, trained = _drift_of_other_task("psp", context)
    shared_other, _ = _shared_drift()
    assert trained > 0.05 and shared_other > 0.05, (trained, shared_other)
    assert other < 0.35 * trained, (context, other, trained)
    assert other < 0.6 * shared_other, (context, other, shared_other)


def test_lifting_low_dimensional_observations_improves_isolation() -> None:
    # CartPole observations have 4 dimensions: without lifting the first layer's keys are 4 signs.
    lifted = np.mean([_isolation_ratio("binary", seed) for seed in range(3)])
    plain = np.mean([_isolation_ratio("binary", seed, lift_dim=0) for seed in range(3)])
    assert lifted < 0.8 * plain, (lifted, plain)


def test_lifting_defaults() -> None:
    psp = make_model("ppo").policy.features_extractor
    assert psp.lift_dim == 64 and psp.features_dim == 64 and "lift" in dict(psp.named_buffers())
    assert not psp.lift.requires_grad
    shared = PPO(PSPActorCriticPolicy, vec_env("CartPole-v1"), policy_kwargs=dict(mode="shared")).policy
    assert shared.features_extractor.lift_dim == 0 and shared.features_extractor.features_dim == 4
    off = PPO(
        PSPActorCriticPolicy,
        vec_env("CartPole-v1"),
        policy_kwargs=dict(features_extractor_kwargs=dict(lift_dim=0)),
    )
    assert off.policy.features_extractor.features_dim == 4


class _RandomTaskEnv(gym.Env):
    """Random observations with the task id inside; any action space."""

    def __init__(self, action_space: spaces.Space) -> None:
        self.action_space = action_space
        self.observation_space = spaces.Dict({"obs": spaces.Box(-1, 1, (3,)), "task": spaces.Discrete(2)})

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, True, {}


@pytest.mark.parametrize(
    "action_space",
    [spaces.MultiDiscrete([3, 4]), spaces.MultiBinary(3)],
    ids=["multidiscrete", "multibinary"],
)
def test_actor_critic_supports_multi_action_spaces(action_space: spaces.Space) -> None:
    model = PPO(
        PSPActorCriticPolicy, DummyVecEnv([lambda: _RandomTaskEnv(action_space)]), n_steps=16, batch_size=16
    )
    model.learn(32)
    obs = {"obs": np.zeros((2, 3), np.float32), "task": np.array([0, 1])}
    actions = model.predict(obs, deterministic=True)[0]
    assert actions.shape == (2, *action_space.shape)
    assert all(action_space.contains(a.astype(action_space.dtype)) for a in actions)


def test_image_observations_use_a_superposed_cnn() -> None:
    class TinyImages(gym.Env):
        observation_space = spaces.Dict(
            {"obs": spaces.Box(0, 255, (36, 36, 1), np.uint8), "task": spaces.Discrete(2)}
        )
        action_space = spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return self.observation_space.sample(), {}

        def step(self, action):
            return self.observation_space.sample(), 0.0, False, True, {}

    model = PPO(
        PSPActorCriticPolicy,
        DummyVecEnv([TinyImages]),
        n_steps=8,
        batch_size=8,
        policy_kwargs=dict(features_extractor_kwargs=dict(cnn_output_dim=16)),
    )
    model.learn(16)
    from psp_rl.nn.conv import SuperposedConv2d

    assert any(isinstance(m, SuperposedConv2d) for m in model.policy.features_extractor.modules())


def test_bad_inputs_raise_clear_errors() -> None:
    plain = DummyVecEnv([lambda: gym.make("CartPole-v1")])
    with pytest.raises(ValueError, match="TaskObservation"):
        PPO(PSPActorCriticPolicy, plain)
    with pytest.raises(ValueError, match="gSDE"):
        PPO(PSPActorCriticPolicy, vec_env("Pendulum-v1"), use_sde=True)
    with pytest.raises(ValueError, match="features_extractor_class"):
        PPO(
            PSPActorCriticPolicy,
            vec_env("CartPole-v1"),
            policy_kwargs=dict(features_extractor_class=torch.nn.Module),
        )
    with pytest.raises(ValueError, match="rotation"):
        PPO(PSPActorCriticPolicy, vec_env("CartPole-v1"), policy_kwargs=dict(context="quaternion"))
    model = make_model("ppo")
    obs = mixed_observations("CartPole-v1", 3)
    obs["task"] = np.array([0, 1, 3])
    with pytest.raises(ValueError, match="K=3"):
        model.predict(obs)


def _learn_cartpole(policy: str | type, env: DummyVecEnv, steps: int) -> float:
    model = PPO(policy, env, seed=0, n_steps=256, batch_size=64, learning_rate=1e-3, ent_coef=0.0)
    model.learn(steps)
    return evaluate_policy(model, model.get_env(), n_eval_episodes=10)[0]


@pytest.mark.expensive
def test_single_task_psp_learns_cartpole_like_mlp_policy() -> None:
    steps = 30_000
    psp = _learn_cartpole(
        PSPActorCriticPolicy, DummyVecEnv([lambda: variant_env("CartPole-v1", 0, 1)] * 4), steps
    )
    mlp = _learn_cartpole("MlpPolicy", DummyVecEnv([lambda: Monitor(gym.make("CartPole-v1"))] * 4), steps)
    assert mlp >= 400, f"reference MlpPolicy did not learn ({mlp})"
    assert psp >= 450 and psp >= mlp - 50, (psp, mlp)


@pytest.mark.expensive
def test_sequential_permuted_cartpole_psp_keeps_every_task_shared_forgets() -> None:
    """3 permuted CartPole variants trained one after another, 30k steps each (about a minute).

    Forgetting is measured per variant, as its return right after its own phase minus its return at the
    end, so a variant that was never learnt cannot pass as kept. One seeded run of RL amplifies
    floating-point noise (with the same seed, the outcome changed with the tests run before it in the
    process), so the bounds leave room: at the preset learning rate, over seeds 0-2 PSP's largest
    forgetting was 67 and ``shared`` lost at least 436 on the first variant.
    """
    steps = 30_000
    hyper = dict(n_steps=256, batch_size=64, learning_rate=3e-4, ent_coef=0.0, seed=0)

    def psp_env(k: int) -> gym.Env:
        return variant_env("CartPole-v1", k)

    def plain_env(k: int) -> gym.Env:  # the same variants without the task id
        return Monitor(PermuteObservation(gym.make("CartPole-v1"), num_tasks=K, seed=0, task=k))

    def evaluate(model: PPO, make: Callable[[int], gym.Env], task: int) -> float:
        eval_env = DummyVecEnv([lambda: make(task)])
        eval_env.seed(123)
        return float(evaluate_policy(model, eval_env, n_eval_episodes=10)[0])

    after: dict[str, list[float]] = {}
    finals: dict[str, list[float]] = {}
    for name, make in (("psp", psp_env), ("shared", plain_env)):
        model = None
        after[name] = []
        for k in range(K):
            env = DummyVecEnv([lambda k=k, make=make: make(k)] * 4)
            if model is None:
                model = PPO(PSPActorCriticPolicy if name == "psp" else "MlpPolicy", env, **hyper)
            else:
                model.set_env(env)
            model.learn(steps, reset_num_timesteps=False)
            after[name].append(evaluate(model, make, k))
        finals[name] = [evaluate(model, make, j) for j in range(K)]
    print("return after each variant's phase:", after, "at the end:", finals)
    # Every PSP variant, and the first variant of ``shared`` (the one whose loss is measured), was learnt.
    assert min(after["psp"]) >= 450 and after["shared"][0] >= 450, ("a variant was not learnt", after)
    forgetting = {name: [a - f for a, f in zip(after[name], finals[name])] for name in after}
    assert max(forgetting["psp"]) <= 150, forgetting
    assert forgetting["shared"][0] >= 300, forgetting


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(ALGOS))
def test_cuda_round_trip(name: str, tmp_path: Path) -> None:
    algo = ALGOS[name][0]
    model = make_model(name, "binary", device="cuda")
    model.learn(64)
    obs = mixed_observations(ALGOS[name][2])
    actions = model.predict(obs, deterministic=True)[0]
    model.save(tmp_path / "model.zip")
    on_cpu = algo.load(tmp_path / "model.zip", device="cpu")
    np.testing.assert_allclose(on_cpu.predict(obs, deterministic=True)[0], actions, atol=1e-4)
    assert all(t.device.type == "cuda" for t in model.policy.state_dict().values())


@pytest.mark.parametrize("name", ["sac", "td3"])
def test_critics_fold_the_lifting_with_the_actions_as_lifting_first_does(name: str) -> None:
    """A one-task batch with more rows than outputs folds the pending lifting, diag(R, I) with the actions,
    into the critic's first layer: the same Q-values as lifting the observations first."""
    model = make_model(name, "binary")
    critic = model.policy.critic
    rng = np.random.default_rng(0)
    obs = mixed_observations(ALGOS[name][2])
    rows = 80
    one = {
        "obs": np.repeat(obs["obs"][:1], rows, 0)
        + rng.normal(size=(rows, obs["obs"].shape[1])).astype(np.float32) * 0.1,
        "task": np.full(rows, 1),
    }
    tensors, _ = model.policy.obs_to_tensor(one)
    actions = torch.as_tensor(
        rng.uniform(-1, 1, size=(rows, model.action_space.shape[0])), dtype=torch.float32
    )
    with torch.no_grad():
        assert critic.extract_features(tensors, critic.features_extractor).lift is not None  # pending
        folded = critic(tensors, actions)
        extractor = critic.features_extractor
        original = extractor.forward
        extractor.forward = lambda o: original(o).lifted()  # type: ignore[method-assign]
        lifted_first = critic(tensors, actions)
    for a, b in zip(folded, lifted_first):
        torch.testing.assert_close(a, b)
