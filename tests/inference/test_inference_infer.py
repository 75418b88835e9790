"""Which task fits: one-shot / iterative entropy-gradient inference and score-based inference recover
the right task on toys where the right answer is known by construction; the TD errors are the
algorithms' own; unsupported combinations raise errors naming the fix."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from inference_toy import fit, make_model, transitions

import psp_rl
from psp_rl.inference import TaskHeads, entropy_gradient, infer_entropy, infer_score

K = 3


def _windows(model: Any, n: int = 16, reps: int = 3, seed: int = 0) -> list[tuple[int, np.ndarray]]:
    env = model.get_env().envs[0]
    env.reset(seed=seed)
    return [(k, env.sample_x(k, n)) for k in range(model.policy.num_tasks) for _ in range(reps)]


@pytest.mark.parametrize("context", ["binary", "complex", "rotation"])
def test_entropy_inference_recovers_the_task_of_an_actor_critic(context: str) -> None:
    # Each task's policy is fitted to be confident on its own variant only (realistic: it never saw
    # the other variants); the id path separates them, the entropy gradient must find them.
    model = fit(make_model("ppo", context=context), fit_policy=True, fit_critic=False, steps=300)
    heads = TaskHeads(model)
    windows = _windows(model)
    for k, x in windows:  # the iterative (halving) variant: exact on every window
        assert np.argmin(heads.candidate_entropies(x).mean(axis=1)) == k
        assert infer_entropy(heads, x, iterative=True).task == k
    one_shot = np.mean([infer_entropy(heads, x, iterative=False).task == k for k, x in windows])
    assert one_shot >= 0.85  # chance is 1/3


@pytest.mark.parametrize("algo", ["dqn", "sac"])
def test_entropy_inference_for_dqn_and_sac_beats_chance(algo: str) -> None:
    model = fit(
        make_model(algo, context="rotation"), fit_policy=True, fit_critic=False, steps=300, foreign=True
    )
    heads = TaskHeads(model)
    windows = _windows(model)
    assert all(np.argmin(heads.candidate_entropies(x).mean(axis=1)) == k for k, x in windows)
    accuracy = np.mean([infer_entropy(heads, x, iterative=True).task == k for k, x in windows])
    assert accuracy >= 2 / 3


def test_gradient_is_that_of_the_mean_entropy_in_alpha() -> None:
    model = fit(make_model("ppo"), fit_policy=True, fit_critic=False, steps=50)
    heads = TaskHeads(model)
    x = _windows(model, n=8, reps=1)[1][1]
    grads = entropy_gradient(heads, x, [0, 1, 2])
    eps = 1e-3
    for k in range(K):  # central finite differences of H(α) at α = 1/K
        alpha = torch.full((K,), 1.0 / K, dtype=torch.float32)
        plus, minus = alpha.clone(), alpha.clone()
        plus[k] += eps
        minus[k] -= eps
        with torch.no_grad():
            fd = (heads.mixed_entropy(x, plus).mean() - heads.mixed_entropy(x, minus).mean()) / (2 * eps)
        assert grads[k] == pytest.approx(float(fd), rel=0.05, abs=2e-3)


def test_iterative_inference_halves_the_candidates() -> None:
    model = fit(make_model("ppo", num_tasks=5), fit_policy=True, fit_critic=False, steps=200)
    heads = TaskHeads(model)
    result = infer_entropy(heads, _windows(model, reps=1)[3][1], iterative=True)
    assert result.passes == 3  # 5 -> 3 -> 2 -> 1
    assert result.scores.shape == (5,) and not np.isnan(result.scores).any()
    restricted = infer_entropy(heads, _windows(model, reps=1)[3][1], candidates=[1, 4])
    assert restricted.task in (1, 4) and np.isnan(restricted.scores[[0, 2, 3]]).all()


@pytest.mark.parametrize("algo", ["ppo", "a2c", "dqn", "sac", "td3"])
def test_score_inference_recovers_variants_that_look_alike(algo: str) -> None:
    # Every variant's observations have one distribution; only the rewards differ.
    model = fit(make_model(algo, family="rewards"), fit_policy=False, fit_critic=True, steps=300)
    heads = TaskHeads(model)
    env, rng = model.get_env().envs[0], np.random.default_rng(0)
    for k in range(K):
        for _ in range(2):
            d = transitions(env, k, 8, rng)
            result = infer_score(heads, d["obs"], d["actions"], d["rewards"], d["next_obs"], d["dones"])
            assert result.task == k, (k, result.scores)
            assert result.scores[k] < 0.5 * np.delete(result.scores, k).min()


@pytest.mark.parametrize("algo", ["ppo", "dqn", "td3"])
def test_td_errors_are_the_algorithms_own(algo: str) -> None:
    model = make_model(algo, family="rewards")
    model.gamma = 0.9
    heads = TaskHeads(model)
    env, rng = model.get_env().envs[0], np.random.default_rng(0)
    d = transitions(env, 1, 5, rng)
    d["dones"] = np.array([0, 1, 0, 0, 1], dtype=np.float32)
    tasks = np.full(5, 2)
    got = heads.td_errors(d["obs"], d["actions"], d["rewards"], d["next_obs"], d["dones"], tasks)
    p = model.policy
    obs = p.obs_to_tensor({"obs": d["obs"], "task": tasks})[0]
    nxt = p.obs_to_tensor({"obs": d["next_obs"], "task": tasks})[0]
    r, live = torch.as_tensor(d["rewards"]), 1 - torch.as_tensor(d["dones"])
    with torch.no_grad():
        if algo == "ppo":
            want = r + 0.9 * live * p.predict_values(nxt).flatten() - p.predict_values(obs).flatten()
        elif algo == "dqn":
            q = p.q_net(obs)[torch.arange(5), torch.as_tensor(d["actions"])]
            want = q - (r + 0.9 * live * p.q_net_target(nxt).max(dim=1).values)
        else:
            q = p.critic.q1_forward(obs, torch.as_tensor(d["actions"]))
            q2 = p.critic_target.q1_forward(nxt, p.actor(nxt))
            want = q.flatten() - (r + 0.9 * live * q2.flatten())
    np.testing.assert_allclose(got, want.abs().numpy(), rtol=1e-5, atol=1e-6)


def test_td3_has_no_entropy_and_the_error_names_the_score_method() -> None:
    model = make_model("td3")
    with pytest.raises(ValueError, match="method='score'"):
        infer_entropy(TaskHeads(model), np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="TD3.*method='score'"):
        psp_rl.infer_task(model, method="entropy")
    assert psp_rl.infer_task(model, method="score").method == "score"


def test_task_blind_and_non_psp_models_are_refused() -> None:
    with pytest.raises(ValueError, match="ignores the task id"):
        TaskHeads(make_model("ppo", mode="shared"))
    with pytest.raises(ValueError, match="PSP policy"):
        TaskHeads(object())
    heads = TaskHeads(make_model("ppo"))
    with pytest.raises(ValueError, match=r"shape \(B, 4\)"):
        infer_entropy(heads, np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="same number of transitions"):
        infer_score(heads, np.zeros((2, 4)), np.zeros(3), np.zeros(2), np.zeros((2, 4)), np.zeros(2))


def test_inference_sits_between_policies_and_training() -> None:
    import ast
    from pathlib import Path

    folder = Path(psp_rl.__file__).parent / "inference"
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("psp_rl.training", "psp_rl.cli", "psp_rl.envs")), path.name
