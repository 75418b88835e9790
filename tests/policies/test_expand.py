"""expand_tasks: a trained model grows from K to K2 tasks; the old tasks act exactly as before, the new
ones get the keys of the (seed, layer, task) rule, optimiser moments and buffers carry over, training
continues, and a grown model saves and loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv
from test_modes import ALGOS

from psp_rl import expand_tasks
from psp_rl.envs import make_variant_env
from psp_rl.nn.layers import SuperposedLinear
from psp_rl.policies.expand import check_model_fits

K, K2 = 3, 5  # ALGOS: (algorithm, policy, env id, tiny hyper-parameters), shared with test_modes
MODES = ("shared", "onehot", "multihead", "separate", "psp-heads", "psp-inputs", "mask", "mask-lc")


def vec_env(env_id: str, tasks: list[int], num_tasks: int) -> DummyVecEnv:
    return DummyVecEnv(
        [
            lambda t=t: make_variant_env(
                env_id, [{"family": "permute_obs"}], task=t, num_tasks=num_tasks, seed=0
            )
            for t in tasks
        ]
    )


def make_model(algo: str, **policy_kwargs: Any) -> BaseAlgorithm:
    cls, policy, env_id, kwargs = ALGOS[algo]
    kwargs = dict(kwargs)
    if algo == "dqn":
        kwargs["learning_starts"] = 16
    model = cls(
        policy,
        vec_env(env_id, list(range(K)), K),
        policy_kwargs=dict(net_arch=[8, 8], **policy_kwargs),
        seed=0,
        **kwargs,
    )
    model.learn(48)  # optimiser moments (and a replay buffer) exist
    return model


def observations(env_id: str, num_tasks: int) -> dict[str, np.ndarray]:
    space = make_variant_env(env_id, [], task=0, num_tasks=1).observation_space["obs"]
    rng = np.random.default_rng(1)
    obs = rng.uniform(-1, 1, size=(2 * num_tasks, *space.shape)).astype(np.float32)
    return {"obs": obs, "task": np.arange(2 * num_tasks) % num_tasks}


def outputs(model: BaseAlgorithm, obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Every output that decides how the policy acts or learns, for a batch of observations."""
    policy = model.policy
    tensor, _ = policy.obs_to_tensor(obs)
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        if isinstance(model, (PPO, A2C)):
            dist = policy.get_distribution(tensor).distribution
            out["value"] = policy.predict_values(tensor)
            out.update(
                {"mean": dist.mean, "std": dist.stddev}
                if isinstance(dist, torch.distributions.Normal)
                else {"logits": dist.logits}
            )
        elif isinstance(model, DQN):
            out["q"], out["q_target"] = model.q_net(tensor), model.q_net_target(tensor)
        else:
            action = (
                model.actor(tensor, deterministic=True) if isinstance(model, SAC) else model.actor(tensor)
            )
            out["action"] = action
            out["q"] = torch.cat(model.critic(tensor, action), dim=1)
            out["q_target"] = torch.cat(model.critic_target(tensor, action), dim=1)
            if isinstance(model, TD3):
                out["action_target"] = model.actor_target(tensor)
    out["predict"] = torch.as_tensor(model.predict(obs, deterministic=True)[0])
    return out


def grow(model: BaseAlgorithm, algo: str) -> BaseAlgorithm:
    return expand_tasks(model, K2, env=vec_env(ALGOS[algo][2], [3, 4, 0], K2))


def assert_same_outputs(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], exact: bool) -> None:
    for name, value in before.items():
        if exact:
            assert torch.equal(value, after[name]), name
        else:  # a wider input changes the order of a sum: equal up to rounding
            torch.testing.assert_close(after[name], value, rtol=1e-5, atol=1e-6, msg=name)


CASES = [(algo, "psp", context) for algo in ALGOS for context in ("binary", "complex", "rotation")] + [
    (algo, mode, "binary") for algo in ALGOS for mode in MODES
]


@pytest.mark.parametrize(("algo", "mode", "context"), CASES)
def test_old_tasks_act_identically_and_training_continues(algo: str, mode: str, context: str) -> None:
    model = make_model(algo, mode=mode, context=context)
    env_id = ALGOS[algo][2]
    obs = observations(env_id, K)
    before = outputs(model, obs)
    steps = model.num_timesteps
    grow(model, algo)
    assert model.policy.num_tasks == K2 and model.observation_space["task"].n == K2
    # a wider one-hot input (onehot, mask) changes the order of a sum: equal up to rounding
    assert_same_outputs(before, outputs(model, obs), exact=mode not in ("onehot", "mask", "mask-lc"))
    new_obs = observations(env_id, K2)  # the new tasks act too
    assert model.predict(new_obs, deterministic=True)[0].shape[0] == 2 * K2
    model.learn(32, reset_num_timesteps=False)
    assert model.num_timesteps >= steps + 32


@pytest.mark.parametrize("context", ["binary", "complex", "rotation"])
def test_new_keys_follow_the_seed_layer_task_rule(context: str) -> None:
    model = grow(make_model("sac", context=context, context_seed=3), "sac")
    cls, policy, env_id, kwargs = ALGOS["sac"]
    fresh = cls(
        policy,
        vec_env(env_id, [0, 1, 2], K2),
        policy_kwargs=dict(net_arch=[8, 8], context=context, context_seed=3),
    )
    fresh_layers = dict(fresh.policy.named_modules())
    layers = [(n, m) for n, m in model.policy.named_modules() if isinstance(m, SuperposedLinear)]
    assert layers
    for name, layer in layers:
        assert layer.context.shape[0] == K2
        assert torch.equal(layer.context, fresh_layers[name].context), name  # type: ignore[union-attr]


def test_mask_scores_grow_per_task_with_new_one_hot_columns_and_the_backbone_is_kept() -> None:
    """``mask``: each old task's scores are kept (the new tasks' one-hot columns inserted after the old block),
    the new tasks get fresh random scores, the fixed backbone is copied; the old tasks' masks and the old
    inputs' backbone columns are unchanged."""
    from psp_rl.nn.masks import MaskedLinear

    model = make_model("ppo", mode="mask")
    end = model.policy.features_extractor.features_dim  # the one-hot block ends here (obs 4 + K 3)
    masked = [(n, m) for n, m in model.policy.named_modules() if isinstance(m, MaskedLinear)]
    old = {n: (m.scores.detach().clone(), m.weight.clone()) for n, m in masked}
    grow(model, "ppo")
    layers = {n: m for n, m in model.policy.named_modules() if isinstance(m, MaskedLinear)}
    assert layers.keys() == old.keys()
    for name, layer in layers.items():
        scores, weight = old[name]
        assert layer.scores.shape[0] == K2, name
        if layer.in_features == scores.shape[-1]:  # a hidden or output layer: rows added only
            assert torch.equal(layer.scores[:K], scores) and torch.equal(layer.weight, weight), name
            continue
        assert layer.in_features == scores.shape[-1] + K2 - K, name  # a first layer: the one-hot widened
        kept = torch.cat([layer.scores[:K, :, :end], layer.scores[:K, :, end + K2 - K :]], dim=-1)
        assert torch.equal(kept, scores), name
        assert torch.equal(torch.cat([layer.weight[:, :end], layer.weight[:, end + K2 - K :]], 1), weight)
        assert not torch.equal(layer.scores[K], layer.scores[0]), name  # the new tasks' own random scores
        bound = 1 / layer.in_features**0.5
        assert float(layer.scores[K:].detach().abs().max()) <= bound, name


def test_optimizer_moments_are_kept_and_new_rows_start_at_zero() -> None:
    model = make_model("ppo")
    old_state = {n: dict(model.policy.optimizer.state[p]) for n, p in model.policy.named_parameters()}
    grow(model, "ppo")
    policy = model.policy
    for name, param in policy.named_parameters():
        state = policy.optimizer.state[param]
        old = old_state[name]
        assert state["step"] == old["step"]
        for key in ("exp_avg", "exp_avg_sq"):
            if old[key].shape == state[key].shape:
                assert torch.equal(state[key], old[key]), name
            else:  # a per-task table: the old rows kept, the new ones zero
                assert torch.equal(state[key][:K], old[key]), name
                assert not state[key][K:].any(), name
    assert policy.action_net.layers[-1].bias.shape[0] == K2


def test_per_task_log_std_grows_with_the_initial_value() -> None:
    model = make_model("a2c")
    with torch.no_grad():
        model.policy.log_std.add_(0.25)  # trained rows differ from log_std_init
    old = model.policy.log_std.detach().clone()
    grow(model, "a2c")
    assert torch.equal(model.policy.log_std[:K], old)
    assert torch.equal(
        model.policy.log_std[K:], torch.full((K2 - K, old.shape[1]), model.policy.log_std_init)
    )


@pytest.mark.parametrize("algo", ["dqn", "sac"])
def test_replay_buffer_with_old_transitions_stays_usable(algo: str) -> None:
    model = make_model(algo)
    buffer = model.replay_buffer
    size = buffer.size()
    grow(model, algo)
    assert model.replay_buffer is buffer and buffer.size() == size
    batch = buffer.sample(16)
    assert int(batch.observations["task"].max()) < K  # old tasks' transitions
    model.train(gradient_steps=2, batch_size=16)  # the grown networks learn from them


@pytest.mark.parametrize("algo", ["ppo", "td3"])
def test_grown_model_saves_and_loads(algo: str, tmp_path: Path) -> None:
    model = grow(make_model(algo), algo)
    obs = observations(ALGOS[algo][2], K2)
    before = outputs(model, obs)
    model.save(tmp_path / "model.zip")
    loaded = ALGOS[algo][0].load(tmp_path / "model.zip", env=vec_env(ALGOS[algo][2], [0, 1, 4], K2))
    assert loaded.policy.num_tasks == K2
    assert_same_outputs(before, outputs(loaded, obs), exact=True)


def test_same_seed_same_new_tasks() -> None:
    a, b = grow(make_model("td3", mode="separate"), "td3"), grow(make_model("td3", mode="separate"), "td3")
    for (name, p), q in zip(a.policy.named_parameters(), b.policy.parameters()):
        assert torch.equal(p, q), name


def test_expansion_leaves_the_global_random_state_alone() -> None:
    model = make_model("ppo")
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    grow(model, "ppo")
    assert torch.equal(torch.rand(3), expected)


def test_not_larger_is_an_error() -> None:
    model = make_model("dqn")
    for bad in (K, K - 1, 2.5):
        with pytest.raises(ValueError, match="must be an integer larger than 3"):
            expand_tasks(model, bad)  # type: ignore[arg-type]


def test_a_plain_sb3_policy_is_an_error() -> None:
    model = PPO("MultiInputPolicy", vec_env("CartPole-v1", [0], K), n_steps=16, batch_size=16)
    with pytest.raises(ValueError, match="psp_rl policy"):
        expand_tasks(model, K2)


def test_loading_into_a_larger_suite_names_expand_tasks() -> None:
    model = make_model("ppo")
    larger = vec_env("CartPole-v1", [0, 1, 2], K2)
    with pytest.raises(ValueError, match=r"psp_rl.expand_tasks\(model, 5\)"):
        check_model_fits(model, larger.observation_space)
    with pytest.raises(ValueError, match="num_tasks=3"):
        check_model_fits(model, vec_env("CartPole-v1", [0, 1, 1], 2).observation_space)
    check_model_fits(model, model.observation_space)  # same K: fine


def test_grown_space_keeps_every_entry_in_order() -> None:
    from collections import OrderedDict

    from gymnasium import spaces

    from psp_rl.policies.expand import grown_space

    space = spaces.Dict(
        OrderedDict(
            obs=spaces.Box(-1.0, 1.0, (3,)), task=spaces.Discrete(2), coord=spaces.Box(0.0, 1.0, (1,))
        )
    )
    grown = grown_space(space, 4)
    assert list(grown.spaces) == ["obs", "task", "coord"] and grown["task"].n == 4
    with pytest.raises(ValueError, match="task id inside the observation"):
        grown_space(spaces.Box(-1.0, 1.0, (3,)), 4)
