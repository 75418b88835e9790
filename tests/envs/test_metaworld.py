"""Continual World CW10 / CW20 (``cw10``, ``cw20``, need the extra ``metaworld``): the task order, 200-step
episodes with random goals, the success metric, and a short SAC run. MuJoCo envs are slow to build: these
tests build few of them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("metaworld")

from stable_baselines3 import SAC  # noqa: E402
from stable_baselines3.common.env_checker import check_env  # noqa: E402

import psp_rl  # noqa: E402
from psp_rl.envs.metaworld_env import MetaWorldTask, make_metaworld_env  # noqa: E402
from psp_rl.training import resolve_config, train  # noqa: E402

CW10 = [
    "hammer",
    "push-wall",
    "faucet-close",
    "push-back",
    "stick-pull",
    "handle-press-side",
    "push",
    "shelf-place",
    "window-close",
    "peg-unplug-side",
]


def test_cw10_and_cw20_list_the_tasks_in_order() -> None:
    cw10 = psp_rl.load_suite("cw10")
    assert [t["env_id"] for t in cw10.spec["tasks"]] == [f"{name}-v3" for name in CW10]
    assert cw10.metric == "success" and cw10.spec["task_env"] == {
        "kind": "metaworld",
        "max_episode_steps": 200,
    }
    assert cw10.spec["schedule"]["steps_per_task"] == 1_000_000
    cw20 = psp_rl.load_suite("cw20")
    assert cw20.num_tasks == 20 and [t["env_id"] for t in cw20.spec["tasks"]] == [f"{n}-v3" for n in CW10] * 2
    with pytest.raises(ValueError, match="not a Meta-World v3 task. Did you mean 'hammer-v3'"):
        psp_rl.load_suite("cw10", overrides={"tasks": ["hammer-v2"]})


def test_check_env_200_step_episodes_and_the_success_flag() -> None:
    suite = psp_rl.load_suite("cw10")
    env = suite.make_env(9)
    check_env(env, warn=False)
    assert env.observation_space["obs"].shape == (39,) and env.observation_space["task"].n == 10
    env.reset(seed=0)
    steps, truncated = 0, False
    while not truncated:
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        steps += 1
        assert not terminated and isinstance(info["is_success"], bool) and obs["obs"].dtype == np.float32
    assert steps == 200 and info["task_id"] == 9


def test_seeded_resets_repeat_and_goals_change_between_episodes() -> None:
    env = make_metaworld_env("push-v3")
    assert isinstance(env.env, MetaWorldTask) and env.unwrapped is env.env  # no goal-env interface for SB3
    first, _ = env.reset(seed=3)
    again, _ = env.reset(seed=3)
    np.testing.assert_array_equal(first, again)
    later = [env.reset()[0] for _ in range(2)]
    assert not np.allclose(first, later[0]) and not np.allclose(later[0], later[1])  # random_init_all


@pytest.mark.parametrize("suite", ["cw10", "cw20"])
def test_the_registered_ids_make_and_pass_gymnasiums_checker(suite: str) -> None:
    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env as gymnasium_check_env

    psp_rl.envs.register_suites()
    env = gym.make(f"psp_rl/{suite}-v0", task=1)
    assert env.spec is not None and env.spec.id == f"psp_rl/{suite}-v0"
    assert isinstance(env.unwrapped, MetaWorldTask) and env.unwrapped.spec.id == env.spec.id
    obs, _ = env.reset(seed=0)
    assert obs["task"] == 1 and obs["obs"].shape == (39,)
    if suite == "cw10":  # the same tasks in cw20: one check is enough
        with pytest.warns(UserWarning):  # the unbounded Box and the wrapped env: warnings, not failures
            gymnasium_check_env(env, skip_render_check=True)
    env.close()


def test_the_preset_trains_and_reports_success_rates(tmp_path: Path) -> None:
    cfg = resolve_config(
        "sac-psp-cw",
        num_tasks=2,
        steps_per_task=250,
        device="cpu",
        run_dir=str(tmp_path),
        sets=[
            "policy_kwargs.net_arch=[16, 16]",
            "hyperparams.learning_starts=100",
            "hyperparams.batch_size=16",
            "hyperparams.buffer_size=1000",
            "hyperparams.train_freq=25",
            "hyperparams.gradient_steps=5",
            "eval.episodes=1",
        ],
    )
    assert cfg.eval["deterministic"] is False and cfg.continual["replay"]["at_switch"] == "reset"
    result = train(cfg, progress_bar=False, verbose=0)
    metrics = json.loads((result.run_path / "metrics.json").read_text())
    assert metrics["metric"] == "success"
    matrix = np.asarray(metrics["perf_matrix"])
    assert matrix.shape == (2, 2) and set(matrix.ravel()) <= {0.0, 1.0}  # one episode: success or not
    assert all(r > 0 for r in metrics["final_returns"]), "the raw returns are kept next to the success rates"
    model = SAC.load(result.run_path / "model.zip", device="cpu")
    assert model.observation_space["task"].n == 2
