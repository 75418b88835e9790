"""The dynamics method: per-task step models fitted on labelled transitions tell variants apart that
look alike and are rewarded alike; the agent infers with them, detects a switch within a few steps and
reports a never-trained variant as new; models save, load and refuse other models."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gymnasium import spaces
from inference_toy import N_ACTIONS, OBS_DIM, ToyVariants, make_model
from stable_baselines3.common.vec_env import DummyVecEnv

import psp_rl
from psp_rl.inference import TaskDynamics

K = 3


def _venv(tasks: list[int], box: bool = False) -> DummyVecEnv:
    venv = DummyVecEnv([lambda k=k: ToyVariants(K, k, "dynamics", box) for k in tasks])  # type: ignore[misc]
    venv.seed(0)
    return venv


def _labelled(task: int, n: int, seed: int, box: bool = False) -> dict[str, np.ndarray]:
    """``n`` transitions of one variant under random actions."""
    env = ToyVariants(K, task, "dynamics", box)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    x = env.sample_x(task, n)
    a = rng.uniform(-1, 1, (n, 2)).astype(np.float32) if box else rng.integers(0, N_ACTIONS, n)
    nxt = np.stack([env.successor(task, x[i], a[i]) for i in range(n)])
    return {"obs": x, "actions": a, "next_obs": nxt, "dones": np.zeros(n, bool)}


@pytest.fixture(scope="module")
def dynamics() -> TaskDynamics:
    dyn = TaskDynamics(K, (OBS_DIM,), spaces.Discrete(N_ACTIONS))
    for k in range(K):
        data = _labelled(k, 400, seed=k)
        dyn.add(np.full(400, k), data["obs"], data["actions"], data["next_obs"], data["dones"])
    return dyn.fit()


@pytest.fixture(scope="module")
def model() -> Any:
    return make_model("ppo", family="dynamics")  # untrained: inference reads only the step models


@pytest.mark.parametrize("box", [False, True])
def test_one_transition_names_its_variant(box: bool) -> None:
    space = spaces.Box(-1, 1, (2,), np.float32) if box else spaces.Discrete(N_ACTIONS)
    dyn = TaskDynamics(K, (OBS_DIM,), space)
    n = OBS_DIM + (2 if box else N_ACTIONS)  # observation entries + encoded action
    assert dyn.features == "quadratic" and dyn.num_features == 1 + n + n * (n + 1) // 2
    for k in range(K):
        data = _labelled(k, 400, seed=k, box=box)
        dyn.add(np.full(400, k), **{key: data[key] for key in ("obs", "actions", "next_obs", "dones")})
    dyn.fit()
    for k in range(K):
        fresh = _labelled(k, 200, seed=100 + k, box=box)
        scores = dyn.candidate_scores(fresh["obs"], fresh["actions"], fresh["next_obs"], fresh["dones"])
        assert scores.shape == (K, 200) and (scores >= 0).all()
        assert (scores.argmin(axis=0) == k).mean() > 0.97  # a single transition (B = 1)
        np.testing.assert_allclose(
            dyn.scores(fresh["obs"], fresh["actions"], fresh["next_obs"], fresh["dones"], np.full(200, k)),
            scores[k],
        )


def test_episode_ends_are_not_scored_nor_fitted(dynamics: TaskDynamics) -> None:
    data = _labelled(0, 10, seed=7)
    dones = np.zeros(10, bool)
    dones[[2, 5]] = True
    scores = dynamics.candidate_scores(data["obs"], data["actions"], data["next_obs"], dones)
    assert np.isnan(scores[:, [2, 5]]).all() and np.isfinite(np.delete(scores, [2, 5], axis=1)).all()
    before = dynamics.counts.copy()
    fresh = TaskDynamics(K, (OBS_DIM,), spaces.Discrete(N_ACTIONS))
    fresh.add(np.zeros(10), data["obs"], data["actions"], data["next_obs"], dones)
    assert fresh.counts[0] == 8 and (dynamics.counts == before).all()


def test_fitting_and_loading_errors_name_the_fix(dynamics: TaskDynamics, model: Any, tmp_path: Any) -> None:
    sparse = TaskDynamics(K, (OBS_DIM,), spaces.Discrete(N_ACTIONS))
    data = _labelled(0, 50, seed=1)
    sparse.add(np.zeros(50), data["obs"], data["actions"], data["next_obs"], data["dones"])
    with pytest.raises(ValueError, match=r"tasks \[1, 2\] have fewer transitions.*collect more steps"):
        sparse.fit()
    with pytest.raises(ValueError, match="has not been fitted"):
        sparse.candidate_scores(data["obs"], data["actions"], data["next_obs"], data["dones"])
    with pytest.raises(ValueError, match=r"one id in \[0, 3\)"):
        sparse.add(np.full(50, 3), data["obs"], data["actions"], data["next_obs"], data["dones"])
    with pytest.raises(ValueError, match="features must be one of"):
        TaskDynamics(K, (OBS_DIM,), spaces.Discrete(2), features="cubic")
    with pytest.raises(ValueError, match="images"):
        TaskDynamics(K, (3, 64, 64), spaces.Discrete(2))

    path = tmp_path / "dyn.npz"
    dynamics.save(path)
    loaded = TaskDynamics.load(path, model)
    check = _labelled(1, 20, seed=9)
    args = (check["obs"], check["actions"], check["next_obs"], check["dones"])
    np.testing.assert_allclose(loaded.candidate_scores(*args), dynamics.candidate_scores(*args))
    with pytest.raises(ValueError, match="collect them again"):
        TaskDynamics.load(path, make_model("ppo", num_tasks=2, family="dynamics"))
    with pytest.raises(ValueError, match="needs fitted per-task step models"):
        psp_rl.infer_task(model, method="dynamics")
    with pytest.raises(ValueError, match="new_factor must be"):
        psp_rl.infer_task(model, method="dynamics", dynamics=dynamics, new_factor="big")


def test_collect_fits_from_the_agent_on_each_variant(model: Any) -> None:
    dyn = TaskDynamics.collect(model, [_venv([k, k]) for k in range(K)], steps_per_task=300)
    assert dyn.fitted and (dyn.counts >= 300).all()
    for k in range(K):
        fresh = _labelled(k, 100, seed=50 + k)
        scores = dyn.candidate_scores(fresh["obs"], fresh["actions"], fresh["next_obs"], fresh["dones"])
        assert (scores.argmin(axis=0) == k).mean() > 0.95


def test_the_agent_infers_detects_a_switch_and_reports_a_new_variant(
    dynamics: TaskDynamics, model: Any
) -> None:
    tasks = [0, 1, 2, 1]
    agent = psp_rl.infer_task(model, window=8, method="dynamics", dynamics=dynamics)
    venv = _venv(tasks)
    obs = venv.reset()
    inferred = []
    for step in range(120):
        if step == 80:
            alarms_before = agent.alarms.copy()
            for env in venv.envs:
                env.task = (env.task + 1) % K  # type: ignore[attr-defined]
        actions, _ = agent.predict(obs["obs"])
        nxt, rewards, dones, _ = venv.step(actions)
        agent.observe(obs["obs"], actions, rewards, nxt["obs"], dones)
        obs = nxt
        inferred.append(agent.current_tasks.copy())
    inferred_arr = np.array(inferred)
    assert (inferred_arr[3:80] == tasks).all()  # right within a few transitions, and it stays
    assert (alarms_before == 0).all()  # no false alarm in 80 stationary steps
    after = np.array([(k + 1) % K for k in tasks])
    for i in range(len(tasks)):
        assert int(np.flatnonzero(inferred_arr[80:, i] == after[i])[0]) <= 5
    assert (inferred_arr[-1] == after).all() and (agent.alarms >= 1).all()

    for env in venv.envs:
        env.task = K  # a variant no task was trained on
    for _ in range(30):
        actions, _ = agent.predict(obs["obs"])
        nxt, rewards, dones, _ = venv.step(actions)
        agent.observe(obs["obs"], actions, rewards, nxt["obs"], dones)
        obs = nxt
    assert agent.is_new.all() and (agent.current_tasks == -1).all()
