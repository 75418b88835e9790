"""The replay buffer at a task switch: emptied once every sub-env runs the new task, or kept; training
resumes at once or after the emptied buffer has taken ``learning_starts`` new transitions."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

import psp_rl
from psp_rl.continual import PhaseEvents
from psp_rl.continual.replay import ReplayReset, refill_steps
from psp_rl.training import resolve_config, train


class UpdateRecorder(BaseCallback):
    """The env step of every gradient update (SB3 counts them in ``_n_updates``)."""

    def __init__(self) -> None:
        super().__init__()
        self.updates_at: list[int] = []
        self._seen = 0

    def _on_step(self) -> bool:
        n = self.model._n_updates  # type: ignore[attr-defined]
        self.updates_at += [self.num_timesteps] * (n - self._seen)
        self._seen = n
        return True


def run_dqn(
    at_switch: str, n_envs: int = 2, refill: int = 0, recorder: BaseCallback | None = None
) -> tuple[DQN, ReplayReset]:
    # CartPole episodes of an untrained greedy Q-network can last a few hundred steps: 1000 steps per
    # task leave every sub-env time to finish its task-0 episode
    suite = psp_rl.load_suite("cartpole-permuted", num_tasks=2, steps_per_task=1000)
    schedule = suite.make_schedule()
    model = DQN(
        psp_rl.PSPDQNPolicy,
        suite.make_vec_env(n_envs=n_envs, seed=0),
        learning_starts=50,
        buffer_size=5000,
        seed=0,
        policy_kwargs=dict(net_arch=[8]),
    )
    refills = {"learning_starts": "each_phase", "hyperparams": {"learning_starts": refill}} if refill else {}
    replay = ReplayReset(schedule, at_switch, **refills)
    events = PhaseEvents(schedule, {"replay": replay})
    model.learn(schedule.total_timesteps, callback=CallbackList([events, *([recorder] if recorder else [])]))
    return model, replay


def test_reset_keeps_only_the_new_tasks_transitions() -> None:
    model, replay = run_dqn("reset")
    tasks = ReplayReset.buffer_tasks(model)
    assert replay.resets == 1 and replay.pending == []
    assert len(tasks) > 0 and set(tasks.tolist()) == {1}  # no trailing task-0 transition survives


def test_keep_leaves_old_transitions() -> None:
    model, replay = run_dqn("keep")
    tasks = ReplayReset.buffer_tasks(model)
    assert replay.resets == 0 and set(tasks.tolist()) == {0, 1}


def test_learning_starts_each_phase_waits_for_the_emptied_buffer_to_refill() -> None:
    recorder = UpdateRecorder()
    model, replay = run_dqn("reset", n_envs=1, refill=300, recorder=recorder)
    assert replay.resume_at is not None and model.learning_starts == replay.resume_at
    reset_at = replay.resume_at - 300
    assert 1000 <= reset_at < 2000  # the reset waited for the task-0 episode to end
    # first phase: SB3's learning_starts (50); after the reset nothing until 300 new transitions
    assert min(recorder.updates_at) <= 100
    assert not [t for t in recorder.updates_at if reset_at < t <= reset_at + 300]
    assert [t for t in recorder.updates_at if t > reset_at + 300]
    once = UpdateRecorder()  # the default: training resumes right after the reset
    model, replay = run_dqn("reset", n_envs=1, recorder=once)
    assert replay.resume_at is None and model.learning_starts == 50
    assert [t for t in once.updates_at if 1000 < t <= 1300]


def test_learning_starts_resumes_inside_a_refill_and_comes_from_the_preset() -> None:
    schedule = psp_rl.make_schedule("sequential", 3, steps_per_task=1000)
    replay = ReplayReset(schedule, learning_starts="each_phase", hyperparams={"learning_starts": 300})
    replay.load_state_dict({"pending": [], "resets": 1, "resume_at": 1350})
    assert replay.state_dict() == {"pending": [], "resets": 1, "resume_at": 1350}
    replay.model = SimpleNamespace(learning_starts=1000)  # type: ignore[assignment]
    replay._on_training_start()
    assert replay.model.learning_starts == 1350  # type: ignore[attr-defined]
    dqn = DQN.__new__(DQN)  # refill_steps reads only the class's default
    assert refill_steps(dqn, "once", {"learning_starts": 500}) == 0
    assert refill_steps(dqn, "each_phase", {"learning_starts": 500}) == 500
    assert refill_steps(dqn, "each_phase", {}) == 100  # SB3's DQN default
    assert refill_steps(SimpleNamespace(), "once", {}) == 0  # once (the default) never looks at the model
    with pytest.raises(ValueError, match="Unknown replay.learning_starts 'each'. Did you mean 'each_phase'"):
        ReplayReset(schedule, learning_starts="each")
    with pytest.raises(ValueError, match="needs replay.at_switch: reset"):
        resolve_config("dqn-psp", sets=["replay.learning_starts=each_phase", "replay.at_switch=keep"])
    with pytest.raises(ValueError, match="Unknown replay.learning_starts 'each'. Did you mean 'each_phase'"):
        resolve_config("dqn-psp", sets=["replay.learning_starts=each"])


def test_state_round_trip_and_bad_choice() -> None:
    schedule = psp_rl.make_schedule("sequential", 3, steps_per_task=10)
    replay = ReplayReset(schedule)
    replay.load_state_dict({"pending": [2], "resets": 1})
    assert replay.state_dict() == {"pending": [2], "resets": 1}
    with pytest.raises(ValueError, match="Unknown replay.at_switch 'rest'. Did you mean 'reset'"):
        ReplayReset(schedule, "rest")
    with pytest.raises(ValueError, match="replay.at_switch"):
        resolve_config("dqn-psp", sets=["replay.at_switch=forget"])
    with pytest.raises(ValueError, match="Unknown replay key"):
        resolve_config("dqn-psp", sets=["replay.size=3"])


def test_train_saves_the_buffer_and_the_reset_position(tmp_path: Path) -> None:
    cfg = resolve_config(
        "dqn-psp",
        "cartpole-permuted",
        num_tasks=2,
        steps_per_task=1000,
        run_dir=str(tmp_path),
        sets=[
            "hyperparams.learning_starts=50",
            "hyperparams.buffer_size=5000",
            "policy_kwargs.net_arch=[8]",
            "eval.episodes=1",
        ],
    )
    result = train(cfg, progress_bar=False, verbose=0)
    checkpoints = sorted((result.run_path / "checkpoints").glob("step_*"))
    last = checkpoints[-1]
    assert (last / "replay_buffer.pkl").is_file()
    import json

    state = json.loads((last / "state.json").read_text())
    assert state["callbacks"]["replay"] == {"pending": [], "resets": 1}
    assert set(np.unique(ReplayReset.buffer_tasks(result.model)).tolist()) == {1}


def test_nothing_trains_between_a_phase_end_and_the_reset() -> None:
    """The old task's episodes that run on after its phase end get no gradient step: training stops at the
    boundary and resumes at the reset (once every sub-env runs the new task)."""
    recorder = UpdateRecorder()
    model, replay = run_dqn("reset", n_envs=2, recorder=recorder)
    assert replay.resets == 1 and replay.held is None and model.learning_starts == 50  # restored
    before = [t for t in recorder.updates_at if t <= 1000]
    after = [t for t in recorder.updates_at if t > 1000]
    assert before and after
    # the first update after the boundary comes with the first rollout after the reset, whose step the
    # buffer tells: every transition in it is the new task's, taken since the reset
    reset_at = 2000 - model.replay_buffer.size() * model.n_envs  # the buffer holds every step since then
    assert reset_at > 1000 + model.n_envs  # a tail ran: some sub-env's task-0 episode went on past 1000
    assert min(after) > reset_at  # ... and nothing trained in it


def test_a_hold_is_resumed_from_its_checkpoint_state() -> None:
    schedule = psp_rl.make_schedule("sequential", 2, steps_per_task=1000)
    replay = ReplayReset(schedule)
    replay.load_state_dict({"pending": [1], "resets": 0, "held": 50})
    assert replay.state_dict() == {"pending": [1], "resets": 0, "held": 50}
    replay.model = SimpleNamespace(learning_starts=50, replay_buffer=None)  # type: ignore[assignment]
    replay._on_training_start()
    assert replay.model.learning_starts > 10**12  # type: ignore[attr-defined]
    replay._reset(replay.pending.pop(0))
    assert replay.model.learning_starts == 50 and replay.held is None  # type: ignore[attr-defined]
