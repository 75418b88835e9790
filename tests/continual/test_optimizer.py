"""The optimizers' state at a task switch: cleared at every new phase (``reset``) or carried (``keep``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from stable_baselines3 import A2C, DQN, SAC
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
    counts = run_a2c("reset")
    # read at a rollout's end, before its update: one more step per rollout, restarted once, in phase 1
    drops = [(t, c) for (_, before), (t, c) in zip(counts, counts[1:]) if c <= before]
    assert len(drops) == 1 and drops[0][0] > STEPS_PER_TASK and drops[0][1] <= 1
    after = [c for t, c in counts if t >= drops[0][0]]
    assert after == list(range(drops[0][1], drops[0][1] + len(after)))


def test_keep_carries_the_moments_over() -> None:
    counts = run_a2c("keep")
    assert [c for _, c in counts] == list(range(len(counts)))
    assert dict(counts)[2 * STEPS_PER_TASK] == 2 * STEPS_PER_TASK // N_STEPS - 1


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
    callback.clear(1)
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
    assert state["callbacks"]["optimizer"] == {"pending": [], "resets": 1}
    assert state["callbacks"]["schedule"]["phases"] == {"ended": 2, "started": 2}


def _separate_dqn_task0_after_phase1(at_switch: str) -> tuple[dict, dict]:
    """Task 0's slices of a ``separate`` DQN's Q-network at the end of its phase and after task 1's phase."""
    suite = psp_rl.load_suite("cartpole-permuted", num_tasks=2, steps_per_task=600)
    schedule = suite.make_schedule()
    model = DQN(
        psp_rl.PSPDQNPolicy,
        suite.make_vec_env(n_envs=1, seed=0),
        learning_starts=100,
        train_freq=4,
        gradient_steps=2,
        seed=0,
        policy_kwargs=dict(net_arch=[8], mode="separate"),
    )
    events = psp_rl.continual.callbacks(
        schedule, algo="dqn", optimizer={"at_switch": at_switch}, replay={"at_switch": "reset"}
    )
    snapshots: dict[str, dict] = {}

    class Snapshot(BaseCallback):
        """Task 0's weights at the end of its phase, where it is evaluated (the sub-env's task-0 episode may
        run on for some steps after it: nothing may train task 0 there either)."""

        def _on_step(self) -> bool:
            if "end" not in snapshots and self.num_timesteps >= schedule.phase_boundaries()[0]:
                assert events["replay"].resets == 0  # the tail of the task-0 episode is still running
                snapshots["end"] = {k: v[0].clone() for k, v in model.q_net.state_dict().items()}
            return True

    model.learn(schedule.total_timesteps, callback=CallbackList([events, Snapshot()]))
    return snapshots["end"], {k: v[0].clone() for k, v in model.q_net.state_dict().items()}


def test_a_separate_network_keeps_a_finished_task_only_with_the_moments_cleared() -> None:
    """Per-task parameters get exactly zero gradient from another task, but Adam's moments from the finished
    phase keep moving them; cleared at the switch, and with no training between the phase's end and the
    switch, the finished task's weights stay bit-identical from the phase end on."""
    before, after = _separate_dqn_task0_after_phase1("reset")
    assert all(torch.equal(before[k], after[k]) for k in before)
    before, after = _separate_dqn_task0_after_phase1("keep")
    assert not all(torch.equal(before[k], after[k]) for k in before)
