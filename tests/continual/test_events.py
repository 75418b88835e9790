"""The dispatcher: one clock for every member, the members in the order of ORDER at each phase event,
its own task switches, and errors that name the fix."""

from __future__ import annotations

from typing import Any

import pytest
from stable_baselines3 import PPO

import psp_rl
from psp_rl.continual import ORDER, PhaseCallback, PhaseEvents, callbacks, check_sections


class Recorder(PhaseCallback):
    """Writes every phase event it gets into a shared log, with its name and the step."""

    def __init__(self, name: str, log: list[tuple[str, str, int, int]]) -> None:
        super().__init__()
        self.name, self.log = name, log

    def on_phase_end(self, phase: int, last: bool) -> None:
        self.log.append((self.name, "end", phase, self.num_timesteps))

    def on_phase_start(self, phase: int) -> None:
        self.log.append((self.name, "start", phase, self.num_timesteps))


def _tiny_ppo(suite: Any) -> PPO:
    env = suite.make_vec_env(n_envs=2, seed=0)
    return PPO(
        psp_rl.PSPActorCriticPolicy,
        env,
        n_steps=16,
        batch_size=32,
        n_epochs=1,
        seed=0,
        policy_kwargs={"net_arch": [8]},
    )


def test_members_act_in_order_once_per_event_and_tasks_follow_the_schedule() -> None:
    suite = psp_rl.load_suite("cartpole-permuted", num_tasks=3, steps_per_task=64)
    schedule = suite.make_schedule()
    log: list[tuple[str, str, int, int]] = []
    # given in reverse order: the dispatcher places them
    names = ["checkpoint", "mine", "optimizer", "evaluation", "keep_best"]
    events = PhaseEvents(schedule, {n: Recorder(n, log) for n in names})
    model = _tiny_ppo(suite)
    model.learn(schedule.total_timesteps, callback=events)

    ends = [(name, phase) for name, kind, phase, _ in log if kind == "end"]
    expected_members = ["keep_best", "evaluation", "optimizer", "mine", "checkpoint"]
    assert ends == [(n, p) for p in range(3) for n in expected_members]
    starts = [(name, phase) for name, kind, phase, _ in log if kind == "start"]
    assert starts == [(n, p) for p in (1, 2) for n in expected_members]
    assert all(step == 64 * (phase + 1) for _, kind, phase, step in log if kind == "end")
    assert list(ORDER).index("evaluation") < list(ORDER).index("checkpoint")
    # the dispatcher drove the sub-envs: the last phase's task runs
    assert set(model.get_env().get_attr("task")) == {2}


def test_a_resumed_dispatcher_gives_no_event_twice() -> None:
    suite = psp_rl.load_suite("cartpole-permuted", num_tasks=2, steps_per_task=64)
    schedule = suite.make_schedule()
    log: list[tuple[str, str, int, int]] = []
    first = PhaseEvents(schedule, {"mine": Recorder("mine", log)})
    model = _tiny_ppo(suite)
    model.learn(64, callback=first)
    state = first.state_dict()
    again = PhaseEvents(schedule, {"mine": Recorder("mine", log)})
    again.load_state_dict(state)
    model.learn(64, callback=again, reset_num_timesteps=False)
    assert [(kind, phase) for _, kind, phase, _ in log] == [("end", 0), ("start", 1), ("end", 1)]


def test_plain_callbacks_are_refused_with_the_fix() -> None:
    from stable_baselines3.common.callbacks import CheckpointCallback

    schedule = psp_rl.load_suite("cartpole-permuted", num_tasks=2).make_schedule()
    with pytest.raises(TypeError, match="CallbackList"):
        PhaseEvents(schedule, {"ckpt": CheckpointCallback(10, "/tmp")})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("sections", "match"),
    [
        ({"rehersal": {"coef": 1}}, "Did you mean 'rehearsal'"),
        ({"rehearsal": {"coef": 1, "ratoi": 1}}, "Unknown rehearsal key 'ratoi'|rehearsal.ratoi"),
        ({"rehearsal": {"coef": 1}}, "not ppo"),
        ({"keep_best": {"freq": -1}}, "keep_best.freq must be an integer >= 0"),
        ({"keep_best": {"start": 1.0}}, "below 1"),
        ({"replay": {"at_switch": "empty"}}, "replay.at_switch"),
        ({"replay": {"at_switch": "keep", "learning_starts": "each_phase"}}, "needs replay.at_switch: reset"),
        ({"optimizer": "reset"}, "optimizer must be a mapping"),
        ({"restart_schedules": ["exploraton"]}, "Did you mean 'exploration'"),
        ({"ewc": {"lambda": -1}}, "ewc.lambda must be a number >= 0"),
    ],
)
def test_bad_sections_name_the_key_and_the_fix(sections: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_sections(sections, "ppo")


def test_keep_best_without_a_suite_says_what_to_pass() -> None:
    schedule = psp_rl.load_suite("cartpole-permuted", num_tasks=2).make_schedule()
    with pytest.raises(ValueError, match="suite="):
        callbacks(schedule, algo="dqn", keep_best={"freq": 100})


def test_the_defaults_match_psp_rl_train() -> None:
    """A DQN user gets what a preset without these sections gets: the buffer emptied at a switch and the
    exploration restarted per phase; PPO gets the schedule restart only."""
    schedule = psp_rl.load_suite("cartpole-permuted", num_tasks=2).make_schedule()
    assert set(callbacks(schedule, algo="dqn").mechanisms) == {"replay", "restart_schedules"}
    assert set(callbacks(schedule, algo="ppo").mechanisms) == {"restart_schedules"}
