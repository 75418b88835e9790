"""MiniGrid MG10 (``minigrid-mg10``, needs the extra ``minigrid``): the protocol's tasks, fixed layouts, the
reduced action set, both views, and short training runs through the superposed MLP and CNN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("minigrid")

from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.env_checker import check_env  # noqa: E402

import psp_rl  # noqa: E402
from psp_rl.envs.minigrid_env import FirstActions, GridView, make_minigrid_env  # noqa: E402
from psp_rl.nn.conv import SuperposedConv2d  # noqa: E402
from psp_rl.policies.small_cnn import SmallTaskCNN  # noqa: E402
from psp_rl.training import resolve_config, train  # noqa: E402

IMAGE = {"task_env.view": "image"}


def test_the_protocol_tasks_in_order() -> None:
    suite = psp_rl.load_suite("minigrid-mg10")
    envs = [f"MiniGrid-SimpleCrossingS9N{n}-v0" for n in (1, 2, 3)] + [
        f"MiniGrid-LavaCrossingS9N{n}-v0" for n in (1, 2)
    ]
    assert [(t["env_id"], t["seed"]) for t in suite.spec["tasks"]] == [
        (e, s) for e in envs for s in (860, 861)
    ]
    assert suite.num_tasks == 10 and suite.spec["schedule"]["steps_per_task"] == 256_000
    assert suite.normalize(3, 0.95) == pytest.approx(0.95)


@pytest.mark.parametrize("overrides", [{}, IMAGE], ids=["flat", "image"])
def test_check_env_and_the_reduced_action_set(overrides: dict) -> None:
    suite = psp_rl.load_suite("minigrid-mg10", overrides=overrides)
    for task in (0, 9):
        env = suite.make_env(task)
        check_env(env, warn=False)
        assert env.action_space == psp_rl.envs.minigrid_env.spaces.Discrete(3)
        assert env.observation_space["obs"].shape == ((147,) if not overrides else (3, 7, 7))


def test_a_seeded_reset_keeps_the_layout_and_seeds_the_episode() -> None:
    """The protocol's layout comes from the task's seed at every reset; a seed given to reset seeds the
    generator the episode draws from afterwards, so Gymnasium's check_env passes on the registered id."""
    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env as gymnasium_check_env

    psp_rl.envs.register_suites()
    env = gym.make("psp_rl/minigrid-mg10-v0", task=3)
    with pytest.warns(UserWarning):  # "different from the unwrapped version": it is a wrapper stack
        gymnasium_check_env(env, skip_render_check=True)
    layout = env.reset(seed=1)[0]["obs"]
    state = env.unwrapped.np_random.bit_generator.state
    for seed in (2, None, 1):
        np.testing.assert_array_equal(env.reset(seed=seed)[0]["obs"], layout)  # task 3's one layout
    assert env.unwrapped.np_random.bit_generator.state == state  # seed 1 again: the same generator
    env.reset(seed=2)
    assert env.unwrapped.np_random.bit_generator.state != state
    env.close()


def test_fixed_layouts_same_seed_same_start_and_the_two_seeds_differ() -> None:
    env = psp_rl.load_suite("minigrid-mg10").make_env(0)
    starts = {}
    for task in range(4):
        env.set_task(task)
        first = env.reset(seed=123)[0]["obs"]
        for seed in (None, 7):  # every reset of a task starts its one layout, whatever the seed
            obs, _ = env.reset(seed=seed)
            np.testing.assert_array_equal(obs["obs"], first)
        for _ in range(5):  # a few steps do not change the next episode's start
            env.step(2)
        np.testing.assert_array_equal(env.reset()[0]["obs"], first)
        starts[task] = first
    assert not np.array_equal(starts[0], starts[1]), "N1 with seeds 860 and 861: two layouts"
    assert not np.array_equal(starts[2], starts[3]), "N2 with seeds 860 and 861: two layouts"


def test_the_views_hold_the_same_codes_and_actions_are_the_first_three() -> None:
    flat, image = (make_minigrid_env("MiniGrid-LavaCrossingS9N1-v0", view=v) for v in ("flat", "image"))
    a, _ = flat.reset(seed=860)
    b, _ = image.reset(seed=860)
    assert a.shape == (147,) and a.dtype == np.float32 and b.shape == (3, 7, 7) and b.dtype == np.uint8
    codes = np.rint(a * 10).astype(np.int64).reshape(7, 7, 3)  # flat: codes / 10
    np.testing.assert_array_equal(b, codes.transpose(2, 0, 1) * 25)  # image: channel-first codes x 25
    assert codes.max() <= 10 and (codes[..., 0] == 9).any(), "lava (object 9) in view"
    assert isinstance(flat.env, FirstActions) and isinstance(flat, GridView)
    base = flat.unwrapped
    direction = base.agent_dir
    flat.step(1)  # 1 = turn right, as in MiniGrid's own action set
    assert base.agent_dir == (direction + 1) % 4
    with pytest.raises(ValueError, match="view must be 'flat' or 'image'"):
        GridView(flat.env, view="pixels")
    with pytest.raises(ValueError, match="1 <= n <="):
        FirstActions(base, 8)


def test_the_preset_trains_on_the_flat_view_with_rmsprop(tmp_path: Path) -> None:
    cfg = resolve_config(
        "ppo-psp-minigrid",
        num_tasks=2,
        steps_per_task=256,
        n_envs=2,
        device="cpu",
        run_dir=str(tmp_path),
        sets=[
            "policy_kwargs.net_arch={pi: [16], vf: [16]}",
            "hyperparams.n_steps=64",
            "hyperparams.n_epochs=1",
            "eval.episodes=1",
        ],
    )
    assert cfg.hyperparams["learning_rate"] == pytest.approx(1.5e-4)
    result = train(cfg, progress_bar=False, verbose=0)
    metrics = json.loads((result.run_path / "metrics.json").read_text())
    assert np.asarray(metrics["perf_matrix"]).shape == (2, 2)
    assert all(0.0 <= v <= 1.0 for row in metrics["perf_matrix"] for v in row)
    model = PPO.load(result.run_path / "model.zip", device="cpu")
    assert type(model.policy.optimizer).__name__ == "RMSprop"
    assert model.observation_space["obs"].shape == (147,)


def test_the_image_view_trains_through_the_superposed_cnn() -> None:
    suite = psp_rl.load_suite("minigrid-mg10", num_tasks=2, overrides=IMAGE)
    env = suite.make_vec_env(2, seed=0, initial_tasks=[0, 1])
    model = PPO(
        psp_rl.PSPActorCriticPolicy,
        env,
        n_steps=32,
        batch_size=64,
        n_epochs=1,
        seed=0,
        policy_kwargs={"net_arch": [16], "features_extractor_kwargs": {"cnn_output_dim": 16}},
    )
    cnn = model.policy.features_extractor.cnn
    assert isinstance(cnn, SmallTaskCNN)
    convs = [layer for layer in cnn.layers if isinstance(layer, SuperposedConv2d)]
    assert len(convs) == 3
    before = [p.detach().clone() for p in cnn.parameters()]
    model.learn(64)
    assert all(not np.allclose(b.numpy(), p.detach().numpy()) for b, p in zip(before, cnn.parameters()))
