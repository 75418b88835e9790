"""Schedules restarted per task phase: the maths, SB3 models, save/load, config."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.utils import LinearSchedule

import psp_rl
import psp_rl.continual.schedules as phase_schedules
from psp_rl.continual.schedules import PhaseSchedule, restart_per_phase
from psp_rl.training import resolve_config


def test_docstring_examples() -> None:
    assert doctest.testmod(phase_schedules).failed == 0


def test_local_progress_restarts_at_every_boundary() -> None:
    schedule = PhaseSchedule(LinearSchedule(1.0, 0.0, 1.0), [100, 300, 400])
    total = 400
    values = {step: schedule(1 - step / total) for step in (0, 50, 100, 101, 200, 300, 350, 400)}
    assert values == {0: 1.0, 50: 0.5, 100: 0.0, 101: 0.995, 200: 0.5, 300: 0.0, 350: 0.5, 400: 0.0}
    assert PhaseSchedule(3e-4, [10])(0.3) == 3e-4
    assert PhaseSchedule(schedule, [10]).schedule is schedule.schedule  # never wrapped twice
    with pytest.raises(ValueError, match="increasing"):
        PhaseSchedule(1.0, [100, 100])


def test_dqn_exploration_restarts_each_phase_and_after_load(tmp_path: Path) -> None:
    suite = psp_rl.load_suite("cartpole-permuted", num_tasks=2, steps_per_task=200)
    env = suite.make_vec_env(n_envs=1, seed=0)
    model = DQN(
        psp_rl.PSPDQNPolicy,
        env,
        learning_starts=50,
        exploration_fraction=0.5,
        seed=0,
        policy_kwargs=dict(net_arch=[8]),
    )
    boundaries = suite.make_schedule().phase_boundaries()
    assert restart_per_phase(model, ["exploration", "clip_range"], boundaries) == ["exploration"]
    eps = []

    class Record(psp_rl.TaskScheduleCallback):
        def _on_step(self) -> bool:
            eps.append((self.num_timesteps, self.model.exploration_rate))
            return super()._on_step()

    model.learn(400, callback=Record(suite.make_schedule()))
    rate = dict(eps)
    assert rate[5] == pytest.approx(1.0, abs=0.05) and rate[205] == pytest.approx(1.0, abs=0.05)
    assert rate[150] == pytest.approx(model.exploration_final_eps)  # decayed within phase 0
    model.save(tmp_path / "dqn.zip")
    loaded = DQN.load(tmp_path / "dqn.zip", env=env)
    assert not isinstance(loaded.exploration_schedule, PhaseSchedule)  # SB3 rebuilds it on load
    restart_per_phase(loaded, ["exploration"], boundaries)
    assert loaded.exploration_schedule(1 - 250 / 400) == pytest.approx(
        model.exploration_schedule(1 - 250 / 400)
    )


def test_ppo_learning_rate_restarts_and_again_after_load(tmp_path: Path) -> None:
    suite = psp_rl.load_suite("cartpole-permuted", num_tasks=2, steps_per_task=128)
    model = PPO(
        psp_rl.PSPActorCriticPolicy,
        suite.make_vec_env(n_envs=1),
        n_steps=64,
        batch_size=64,
        learning_rate=LinearSchedule(1e-3, 0.0, 1.0),
        policy_kwargs=dict(net_arch=[8]),
    )
    restart_per_phase(model, ["learning_rate"], [128, 256])
    assert model.lr_schedule(1.0) == pytest.approx(1e-3) and model.lr_schedule(0.5) == pytest.approx(0.0)
    assert model.lr_schedule(0.25) == pytest.approx(5e-4)
    model.save(tmp_path / "ppo.zip")
    loaded = PPO.load(tmp_path / "ppo.zip")
    assert loaded.lr_schedule(0.25) == pytest.approx(2.5e-4)  # SB3 rebuilds it from learning_rate
    restart_per_phase(loaded, ["learning_rate"], [128, 256])
    assert loaded.lr_schedule(0.25) == pytest.approx(5e-4)


def test_config_key_is_checked() -> None:
    assert resolve_config("dqn-psp").continual["restart_schedules"] == ["exploration", "learning_rate"]
    cfg = resolve_config("ppo-psp", sets=["restart_schedules=[learning_rate, clip_range]"])
    assert cfg.continual["restart_schedules"] == ["learning_rate", "clip_range"]
    with pytest.raises(ValueError, match="Did you mean 'exploration'"):
        resolve_config("dqn-psp", sets=["restart_schedules=[exploraton]"])
    with pytest.raises(ValueError, match="must be a list"):
        resolve_config("dqn-psp", sets=["restart_schedules=exploration"])


def test_every_preset_says_which_schedules_restart() -> None:
    from psp_rl.resources import list_yaml
    from psp_rl.training.config import load_preset

    for name in list_yaml("agents"):
        preset = load_preset(name)
        assert "restart_schedules" in preset, f"agents/{name}.yaml must say which schedules restart"
        cfg = resolve_config(name)
        if cfg.algo == "dqn":
            assert (
                "exploration" in cfg.continual["restart_schedules"]
            )  # every variant is explored from epsilon = 1


def test_an_on_policy_entropy_bonus_schedule_restarts_each_phase(tmp_path: Path) -> None:
    from psp_rl.training import train

    seen: list[tuple[int, float]] = []
    original = phase_schedules.RestartSchedules._on_rollout_start

    def record(self: phase_schedules.RestartSchedules) -> None:
        original(self)
        seen.append((self.model.num_timesteps, self.model.ent_coef))

    phase_schedules.RestartSchedules._on_rollout_start = record  # type: ignore[method-assign]
    try:
        cfg = resolve_config(
            "a2c-psp",
            num_tasks=2,
            steps_per_task=80,
            sets=[
                "hyperparams.ent_coef=lin_0.02",
                "restart_schedules=[learning_rate, ent_coef]",
                "eval.episodes=1",
                "policy_kwargs.net_arch=[8]",
                "n_envs=2",
            ],
        )
        cfg.run_dir = str(tmp_path)
        result = train(cfg, progress_bar=False, verbose=0)
    finally:
        phase_schedules.RestartSchedules._on_rollout_start = original  # type: ignore[method-assign]
    # every rollout of 2 envs x 5 steps: the coefficient falls from 0.02 towards 0 in each 80-step phase
    assert seen[0] == (0, pytest.approx(0.02))
    first = [c for t, c in seen if t <= 80]  # step 80 is the first phase's end (coefficient 0)
    second = [c for t, c in seen if t > 80]
    assert first == sorted(first, reverse=True) and first[-1] == pytest.approx(0.0)
    assert second[0] == pytest.approx(0.02 * 70 / 80) and second == sorted(second, reverse=True)
    assert result.metrics["num_tasks"] == 2 and result.model.ent_coef < 0.005
    with pytest.raises(ValueError, match="lin_ entropy coefficient is for PPO and A2C"):
        from psp_rl.training.build import ent_coef_schedule

        ent_coef_schedule({"ent_coef": "lin_0.1"}, "sac")
    with pytest.raises(ValueError, match="ent_coef"):
        resolve_config("a2c-psp", sets=["hyperparams.ent_coef=lin_x"])
