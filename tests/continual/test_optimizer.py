"""The optimizers' state at a task switch: cleared at every new phase (``reset``) or carried (``keep``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stable_baselines3 import A2C, SAC
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

import psp_rl
from psp_rl.continual.optimizer import OptimizerReset, model_optimizers
from psp_rl.training import resolve_config, train

STEPS_PER_TASK = 64
N_STEPS = 8  # one A2C update every 8 env steps: 8 updates per phase


class OptimizerSteps(BaseCallback):
    """The RMSprop step count of the first policy parameter, read at the end of every rollout."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: list[tuple[int, int]] = []

    def _on_rollout_end(self) -> None:
        optimizer = self.model.policy.optimizer
        state = optimizer.state.get(optimizer.param_groups[0]["params"][0], {})
        self.counts.append((self.num_timesteps, int(state.get("step", 0))))

    def _on_step(self) -> bool:
        return True


def run_a2c(at_switch: str) -> list[tuple[int, int]]:
    suite = psp_rl.load_suite("cartpole-permuted", num_tasks=2, steps_per_task=STEPS_PER_TASK)
    schedule = suite.make_schedule()
    model = A2C(
        psp_rl.PSPActorCriticPolicy,
        suite.make_vec_env(n_envs=1, seed=0),
        n_steps=N_STEPS,
        seed=0,
        policy_kwargs=dict(net_arch=[8]),
    )
    steps = OptimizerSteps()
    events = psp_rl.continual.callbacks(schedule, algo="a2c", optimizer={"at_switch": at_switch})
    assert ("optimizer" in events) == (at_switch == "reset")
    model.learn(schedule.total_timesteps, callback=CallbackList([events, steps]))
    return steps.counts


def test_reset_restarts_the_optimizer_moments_at_the_switch() -> None:
    counts = dict(run_a2c("reset"))
    # read at a rollout's end, before its update: one step per earlier rollout since the last reset
    last_of_phase_0 = STEPS_PER_TASK - N_STEPS
    assert counts[last_of_phase_0] == last_of_phase_0 // N_STEPS - 1  # no reset in phase 0
    assert counts[STEPS_PER_TASK] == 0  # cleared at the step phase 1 begins
    assert counts[STEPS_PER_TASK + N_STEPS] == 1
    assert counts[2 * STEPS_PER_TASK] == STEPS_PER_TASK // N_STEPS


def test_keep_carries_the_moments_over() -> None:
    counts = dict(run_a2c("keep"))
    assert counts[2 * STEPS_PER_TASK] == 2 * STEPS_PER_TASK // N_STEPS - 1


def test_every_optimizer_of_sac_is_found_and_cleared() -> None:
    env = psp_rl.load_suite("pendulum-permuted", num_tasks=2).make_vec_env(n_envs=1, seed=0)
    model = SAC(psp_rl.PSPSACPolicy, env, learning_starts=10, seed=0, policy_kwargs=dict(net_arch=[8]))
    model.learn(20)
    optimizers = model_optimizers(model)
    assert len(optimizers) == 3  # actor, critic, entropy coefficient
    assert all(len(o.state) > 0 for o in optimizers)
    schedule = psp_rl.make_schedule("sequential", 2, steps_per_task=10)
    callback = OptimizerReset(schedule)
    callback.init_callback(model)
    callback.on_phase_start(1)
    assert all(len(o.state) == 0 for o in optimizers)


def test_bad_choice_names_the_valid_ones() -> None:
    schedule = psp_rl.make_schedule("sequential", 2, steps_per_task=10)
    with pytest.raises(ValueError, match="Unknown optimizer.at_switch 'rest'. Did you mean 'reset'"):
        psp_rl.continual.callbacks(schedule, algo="a2c", optimizer={"at_switch": "rest"})
    with pytest.raises(ValueError, match="optimizer.at_switch"):
        resolve_config("a2c-psp", sets=["optimizer.at_switch=forget"])
    with pytest.raises(ValueError, match="Unknown optimizer key"):
        resolve_config("a2c-psp", sets=["optimizer.lr=3"])
    with pytest.raises(ValueError, match="optimizer must be a mapping"):
        resolve_config("a2c-psp", sets=["optimizer=reset"])


def test_train_checkpoints_the_phase_position_with_the_dispatcher(tmp_path: Path) -> None:
    """The reset has no state of its own: which phase starts were handled is the dispatcher's, in every
    checkpoint, so a resumed run neither clears the moments twice nor skips a switch."""
    cfg = resolve_config(
        "a2c-psp",
        "cartpole-permuted",
        num_tasks=2,
        steps_per_task=400,
        run_dir=str(tmp_path),
        sets=["optimizer.at_switch=reset", "policy_kwargs.net_arch=[8]", "eval.episodes=1", "n_envs=2"],
    )
    result = train(cfg, progress_bar=False, verbose=0)
    first, last = sorted((result.run_path / "checkpoints").glob("step_*"))
    assert json.loads((first / "state.json").read_text())["callbacks"]["schedule"]["phases"] == {
        "ended": 1,
        "started": 2,
    }
    state = json.loads((last / "state.json").read_text())
    assert state["callbacks"]["optimizer"] == {}
    assert state["callbacks"]["schedule"]["phases"] == {"ended": 2, "started": 2}
