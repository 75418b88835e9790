"""The drop-in agent: predict on VecEnv batches of base observations, per-env inference state, switches
detected without a signal, new variants reported as -1, and the documented episode-start choice."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from inference_toy import ToyVariants, fit, make_model, transitions
from stable_baselines3.common.vec_env import DummyVecEnv

import psp_rl
from psp_rl.inference import InferenceAgent

TASKS = [0, 1, 2, 1]


@pytest.fixture(scope="module")
def looks_model() -> Any:
    return fit(make_model("ppo", family="looks"), fit_policy=True, fit_critic=True, steps=300)


@pytest.fixture(scope="module")
def rewards_model() -> Any:
    return fit(make_model("dqn", family="rewards"), fit_policy=False, fit_critic=True, steps=300)


def _run(
    agent: InferenceAgent, family: str, steps: int, switch_at: int | None = None, tasks: list[int] = TASKS
) -> tuple[np.ndarray, np.ndarray, DummyVecEnv]:
    """Roll the agent out on base observations; every sub-env moves to the next task at ``switch_at``."""
    venv = DummyVecEnv([lambda k=k: ToyVariants(3, k, family) for k in tasks])  # type: ignore[misc]
    venv.seed(0)
    obs = venv.reset()
    inferred, alarms_before = [], np.zeros(len(tasks), int)
    for step in range(steps):
        if step == switch_at:
            alarms_before = agent.alarms.copy()
            for env in venv.envs:
                env.task = (env.task + 1) % 3  # type: ignore[attr-defined]
        actions, _ = agent.predict(obs["obs"], deterministic=True)  # base observations only
        next_obs, rewards, dones, _ = venv.step(actions)
        agent.observe(obs["obs"], actions, rewards, next_obs["obs"], dones)
        obs = next_obs
        inferred.append(agent.current_tasks.copy())
    return np.array(inferred), alarms_before, venv


@pytest.mark.parametrize("method", ["entropy", "score"])
def test_predict_on_a_vec_env_batch_infers_each_sub_envs_task(method: str, looks_model: Any) -> None:
    agent = psp_rl.infer_task(looks_model, window=8, method=method)
    inferred, _, _ = _run(agent, "looks", 40)
    assert agent.num_envs == 4
    np.testing.assert_array_equal(inferred[-1], TASKS)
    assert (inferred[10:] == TASKS).all()  # and it stays
    np.testing.assert_array_equal(agent.acting_tasks, TASKS)
    assert not agent.is_new.any() and (agent.alarms == 0).all()


@pytest.mark.parametrize(
    "method,model", [("entropy", "looks_model"), ("score", "looks_model"), ("score", "rewards_model")]
)
def test_an_unsignalled_switch_is_detected_and_reinferred(method: str, model: str, request: Any) -> None:
    family = "rewards" if model == "rewards_model" else "looks"
    agent = psp_rl.infer_task(request.getfixturevalue(model), window=8, method=method)
    inferred, alarms_before, _ = _run(agent, family, 140, switch_at=100)
    assert (alarms_before == 0).all()  # no false alarm in 100 stationary steps
    new_tasks = np.array([(k + 1) % 3 for k in TASKS])
    for i in range(len(TASKS)):
        delay = int(np.flatnonzero(inferred[100:, i] == new_tasks[i])[0])
        assert delay <= 15, (i, delay)
    np.testing.assert_array_equal(inferred[-1], new_tasks)
    assert (agent.alarms >= 1).all()


def test_a_variant_no_key_fits_is_reported_new(rewards_model: Any) -> None:
    agent = psp_rl.infer_task(rewards_model, window=8, method="score", auto_calibrate=False)
    env, rng = rewards_model.get_env().envs[0], np.random.default_rng(0)
    for k in range(3):  # each task's TD errors on its own data
        agent.calibrate(k, **transitions(env, k, 64, rng))
    assert agent.reference.calibrated
    inferred, _, _ = _run(agent, "rewards", 60, switch_at=30, tasks=[0, 1, 2, 3])  # variant 3: never trained
    np.testing.assert_array_equal(inferred[29], [0, 1, 2, -1])
    assert (inferred[10:30, 3] == -1).all()
    # then every sub-env moves on (0->1, 1->2, 2->0, and the new variant to the known task 1)
    np.testing.assert_array_equal(inferred[-1], [1, 2, 0, 1])
    assert not agent.is_new.any()


def test_a_new_variant_still_acts_with_the_best_fitting_key(rewards_model: Any) -> None:
    agent = psp_rl.infer_task(rewards_model, window=8, method="score", auto_calibrate=False)
    env, rng = rewards_model.get_env().envs[0], np.random.default_rng(0)
    for k in range(3):
        agent.calibrate(k, **transitions(env, k, 64, rng))
    _run(agent, "rewards", 20, tasks=[3])
    assert agent.is_new.tolist() == [True] and agent.current_tasks.tolist() == [-1]
    assert 0 <= agent.acting_tasks[0] < 3


def test_without_calibration_nothing_is_called_new(rewards_model: Any) -> None:
    agent = psp_rl.infer_task(rewards_model, window=8, method="score", auto_calibrate=False)
    inferred, _, _ = _run(agent, "rewards", 20, tasks=[3])
    assert inferred[-1, 0] in (0, 1, 2)


def test_input_forms_and_single_observations(looks_model: Any) -> None:
    agent = psp_rl.infer_task(looks_model, window=4)
    env = ToyVariants(3, 2, "looks")
    obs, _ = env.reset(seed=0)
    action, state = agent.predict(obs["obs"])  # one unbatched base observation
    assert np.ndim(action) == 0 and state is None and agent.num_envs == 1
    for _ in range(4):
        obs, *_ = env.step(action)
        action, _ = agent.predict(
            {"obs": obs["obs"], "task": np.int64(0)}, deterministic=True
        )  # task ignored
    assert agent.current_tasks.tolist() == [2]
    batch = np.stack([env.sample_x(0), env.sample_x(1)])
    actions, _ = agent.predict(batch)  # a new batch size: new sub-envs
    assert actions.shape == (2,) and agent.num_envs == 2
    with pytest.raises(ValueError, match=r"shape \(4,\) or \(n_envs, 4\)"):
        agent.predict(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="'obs' entry"):
        agent.predict({"x": batch})


def test_episode_starts_reset_only_when_asked(looks_model: Any) -> None:
    x = ToyVariants(3, 1, "looks")
    x.reset(seed=0)
    for reset in (False, True):
        agent = psp_rl.infer_task(looks_model, window=4, reset_on_episode_start=reset)
        for _ in range(5):
            agent.predict(x.sample_x(1)[None])
        agent.predict(x.sample_x(1)[None], episode_start=np.array([True]))
        assert len(agent._envs[0].obs) == (1 if reset else 4)
        assert agent.current_tasks.tolist() == [1]


def test_the_score_method_waits_for_transitions_and_options_are_checked(rewards_model: Any) -> None:
    agent = psp_rl.infer_task(rewards_model, window=4, method="score")
    actions, _ = agent.predict(np.zeros((3, 4), np.float32))
    assert actions.shape == (3,)
    assert agent.current_tasks.tolist() == [-1, -1, -1] and agent.acting_tasks.tolist() == [0, 0, 0]
    for bad, match in (
        ({"method": "oracle"}, "method must be"),
        ({"window": 0}, "window must be"),
        ({"switches": "often"}, "switches must be"),
    ):
        with pytest.raises(ValueError, match=match):
            psp_rl.infer_task(rewards_model, **bad)


def test_sliding_and_frozen_switch_modes(looks_model: Any) -> None:
    sliding = psp_rl.infer_task(looks_model, window=4, switches="sliding")
    inferred, _, _ = _run(sliding, "looks", 30, switch_at=20)
    assert (inferred[-1] == [(k + 1) % 3 for k in TASKS]).all() and (sliding.alarms == 0).all()
    frozen = psp_rl.infer_task(looks_model, window=4, switches="none")
    inferred, _, _ = _run(frozen, "looks", 30, switch_at=20)
    assert (inferred[-1] == TASKS).all()  # it keeps the task until a reset
