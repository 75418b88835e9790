"""Continual evaluation driven by a stand-in model: the matrix, the logs, AUCs, resume."""

from __future__ import annotations

import doctest
import json
import math

import numpy as np
import pytest
from stable_baselines3.common.logger import HParam, Image

import psp_rl.evaluation.callback as callbacks_module
from psp_rl.training import (
    ContinualEvalCallback,
)
from tests.training.callback_fakes import FakeModel, make_eval_callback, run


def test_docstring_examples() -> None:
    assert doctest.testmod(callbacks_module).failed == 0


def test_eval_fills_matrix_and_logs() -> None:
    model = FakeModel()
    cb = make_eval_callback(model, hparams={"algo": "ppo", "hyperparams": {"n_steps": 8}})
    run(model, [cb], until=300)

    expected = np.array([[1.0, 0.0, 0.0], [0.9, 1.0, 0.0], [0.8, 0.9, 1.0]])
    np.testing.assert_allclose(cb.matrix.R, expected)
    m = cb.metrics()
    assert m["avg_performance"] == pytest.approx(0.9)
    assert m["forgetting"] == pytest.approx((0.2 + 0.1) / 2)
    assert m["forgetting_per_task"][2] is None
    # evaluations at 0 and every 50 steps (phase ends coincide with 100, 200, 300)
    assert [h["step"] for h in m["eval_history"]] == [0, 50, 100, 150, 200, 250, 300]
    # AUC of task 0 during phase 0: points (0, 0), (50, .5), (100, 1) -> 0.5
    assert m["phase_auc"] == pytest.approx([0.5, 0.5, 0.5])
    assert m["forward_transfer"] is None

    writer = model.writer
    for key in (
        "eval/task_0/return",
        "eval/task_2/normalized",
        "continual/avg_performance",
        "continual/forgetting",
        "continual/perf_matrix",
        "hparams",
    ):
        assert key in writer.tags(), key
    assert [s for s, _ in writer.values("continual/perf_matrix")] == [100, 200, 300]
    assert isinstance(writer.values("continual/perf_matrix")[0][1], Image)
    assert isinstance(writer.values("hparams")[0][1], HParam)
    assert "stdout" in writer.excluded["continual/perf_matrix"]
    assert writer.values("eval/task_0/return")[0] == (0, 0.0)
    assert dict(writer.values("continual/forgetting"))[300] == pytest.approx(0.15)


def test_diagonal_matrix_evaluates_the_current_task_and_everything_at_the_end() -> None:
    model = FakeModel()
    calls: list[tuple[int, str]] = []
    cb = make_eval_callback(model, matrix="diagonal")
    inner = cb.evaluate_fn
    assert inner is not None

    def counting(m: FakeModel, env: str, n: int, deterministic: bool) -> float:
        calls.append((m.num_timesteps, env))
        return inner(m, env, n, deterministic)

    cb.evaluate_fn = counting
    run(model, [cb], until=300)
    # step 0 and in-phase evaluations cover the phase's task, a phase end also the next one's, and
    # the last phase end every task
    assert calls == [
        (0, "env0"),
        (50, "env0"),
        (100, "env0"),
        (100, "env1"),
        (150, "env1"),
        (200, "env1"),
        (200, "env2"),
        (250, "env2"),
        (300, "env0"),
        (300, "env1"),
        (300, "env2"),
    ]
    R = cb.matrix.R
    np.testing.assert_allclose(np.diag(R), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(R[-1], [0.8, 0.9, 1.0])
    assert np.isnan(R[0, 2]) and np.isnan(R[1, 0])
    m = cb.metrics()  # the same average performance, forgetting and AUCs as the full matrix
    assert m["avg_performance"] == pytest.approx(0.9)
    assert m["forgetting"] == pytest.approx(0.15)
    assert m["phase_auc"] == pytest.approx([0.5, 0.5, 0.5])
    assert m["perf_matrix"][0][2] is None
    assert m["eval_history"][1]["normalized"] == [0.5, None, None]
    json.dumps(m, allow_nan=False)  # metrics.json stays strict JSON
    logged = {step for step, _ in model.writer.values("continual/avg_performance")}
    assert logged == {300}  # only when every task was evaluated
    assert {s for s, _ in model.writer.values("eval/task_1/return")} == {100, 150, 200, 300}


def test_unknown_matrix_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="Unknown evaluation matrix 'diag'"):
        ContinualEvalCallback(["e"], lambda k, r: r, [10], matrix="diag")  # type: ignore[list-item]


def test_forward_transfer_with_reference() -> None:
    model = FakeModel()
    cb = make_eval_callback(model, reference_auc=[0.0, 0.5, 0.75])
    run(model, [cb], until=300)
    m = cb.metrics()
    # (0.5 - ref) / (1 - ref)
    assert m["forward_transfer_per_task"] == pytest.approx([0.5, 0.0, -1.0])
    assert m["forward_transfer"] == pytest.approx(-0.5 / 3)


def test_eval_state_round_trip_continues_identically() -> None:
    straight = FakeModel()
    cb = make_eval_callback(straight)
    run(straight, [cb], until=300)

    first = FakeModel()
    cb1 = make_eval_callback(first)
    run(first, [cb1], until=160)
    state = json.loads(json.dumps(cb1.state_dict()))  # through JSON, like a checkpoint

    second = FakeModel()
    second.num_timesteps = 160
    cb2 = make_eval_callback(second)
    cb2.load_state_dict(state)
    run(second, [cb2], until=300)
    assert cb2.metrics()["eval_history"] == cb.metrics()["eval_history"]
    np.testing.assert_allclose(cb2.matrix.R, cb.matrix.R)
    # the resumed run logs no second step-0 evaluation
    assert min(s for s, _ in second.writer.values("eval/task_0/return")) == 200


def test_large_steps_cross_several_boundaries() -> None:
    model = FakeModel()
    cb = make_eval_callback(model, eval_freq=0)
    run(model, [cb], until=300, step=250)
    assert len(cb.matrix) == 3  # steps 250 (crosses 100 and 200) and 500 (crosses 300)
    assert [h["phase"] for h in cb.history] == [-1, 0, 1, 2]


def test_eval_callback_argument_errors() -> None:
    with pytest.raises(ValueError, match="one eval env per task"):
        ContinualEvalCallback([], lambda k, r: r, [10])
    with pytest.raises(ValueError, match="phase_tasks"):
        ContinualEvalCallback(["e"], lambda k, r: r, [10, 20], phase_tasks=[0])  # type: ignore[list-item]
    assert math.isinf(ContinualEvalCallback(["e"], lambda k, r: r, [10]).next_eval_step)  # type: ignore[list-item]


@pytest.mark.parametrize("eval_seed", [123, None])
def test_every_evaluation_of_a_task_starts_from_the_same_states(eval_seed: int | None) -> None:
    """With ``eval_seed`` two evaluations of one frozen policy agree exactly; without, the start states differ."""
    from stable_baselines3 import SAC

    import psp_rl
    from psp_rl.evaluation.episodes import eval_envs_per_task
    from psp_rl.training import ContinualEvalCallback

    suite = psp_rl.load_suite("pendulum-permuted", num_tasks=2, steps_per_task=100)
    model = SAC(
        psp_rl.PSPSACPolicy, suite.make_vec_env(n_envs=1, seed=0), seed=0, policy_kwargs=dict(net_arch=[8])
    )
    envs = eval_envs_per_task(suite, episodes=3, seed=7)
    callback = ContinualEvalCallback(
        envs, suite.normalize, [100, 200], [0, 1], n_eval_episodes=3, eval_seed=eval_seed
    )
    callback.init_callback(model)
    first, second = callback.evaluate()[0], callback.evaluate()[0]
    assert (first == second) is (eval_seed is not None)
