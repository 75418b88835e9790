"""Suites with one environment per task (``tasks`` + ``task_env``): the schema, its errors, fixed seeds,
missing extras, and the success metric of the evaluation (no optional extra needed here)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import yaml
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env

import psp_rl
from psp_rl.cli import main
from psp_rl.envs.task_envs import EpisodeSuccess, FixedSeed, MissingExtraError
from psp_rl.evaluation.callback import ContinualEvalCallback
from psp_rl.evaluation.episodes import evaluate_episodes
from psp_rl.evaluation.tasks import format_task_table


def _spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tasks": [{"env_id": "CartPole-v1", "seed": 3}, {"env_id": "CartPole-v1", "seed": 4}, "Acrobot-v1"],
        "num_tasks": 2,
        "schedule": {"steps_per_task": 100},
        "normalize": {"kind": "fixed", "max": 500},
    }
    spec.update(changes)
    return spec


class Succeeds(gym.Env):
    """Three-step episodes; ``info["success"]`` at step 2 when built with ``succeed=True``."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, succeed: bool = True) -> None:
        self.succeed, self.t = succeed, 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        info = {"success": self.succeed and self.t == 2}
        return np.zeros(2, np.float32), 1.0, False, self.t >= 3, info


if "psp_rl_test/Succeeds-v0" not in gym.registry:
    gym.register("psp_rl_test/Succeeds-v0", entry_point=lambda **kw: EpisodeSuccess(Succeeds(**kw)))


# ------------------------------------------------------------------------------------------ schema
def test_a_suite_of_listed_tasks_builds_one_env_per_task() -> None:
    suite = psp_rl.Suite(_spec(), name="listed")
    assert suite.num_tasks == 2 and suite.env_id == "CartPole-v1" and suite.metric == "return"
    assert suite.spec["task_env"] == {"kind": "gym"}
    assert [t["seed"] for t in suite.spec["tasks"]] == [3, 4, None]  # the full list stays in the spec
    env = suite.make_env(1)
    check_env(env, warn=False)
    assert env.observation_space["task"] == gym.spaces.Discrete(2)
    assert psp_rl.Suite(_spec(num_tasks=None)).num_tasks == 3  # default: every listed task
    again = psp_rl.Suite(suite.spec, name="again")  # the resolved spec rebuilds the same suite
    assert again.spec == suite.spec


def test_a_task_seed_fixes_every_reset_and_tasks_differ() -> None:
    env = psp_rl.Suite(_spec()).make_env(0)
    first = [env.reset(seed=s)[0]["obs"] for s in (None, 1, 2)]
    assert all(np.array_equal(first[0], o) for o in first)  # seed 3 at every reset
    env.set_task(1)
    assert not np.array_equal(env.reset()[0]["obs"], first[0])  # seed 4
    assert isinstance(env.env.env, FixedSeed)


def test_tasks_built_later_are_seeded_from_the_first_reset() -> None:
    def second_task_start(seed: int) -> np.ndarray:
        env = psp_rl.Suite(_spec(tasks=["CartPole-v1", "CartPole-v1"])).make_env(0, seed=seed)
        env.set_task(1)
        return env.reset()[0]["obs"]

    assert np.array_equal(second_task_start(5), second_task_start(5))
    assert not np.array_equal(second_task_start(5), second_task_start(6))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"tasks": [{"env_ide": "CartPole-v1"}]},
            "Unknown key 'env_ide' in suite 'x' tasks\\[0\\]. Did you mean 'env_id'",
        ),
        ({"tasks": [{"seed": 1}]}, "tasks\\[0\\] needs 'env_id'"),
        ({"tasks": [{"env_id": "CartPole-v1", "seed": 1.5}]}, "seed must be an integer"),
        ({"tasks": []}, "non-empty list"),
        (
            {"tasks": ["CartPol-v1"], "num_tasks": 1},
            "not a registered Gymnasium id.*Did you mean 'CartPole-v1'",
        ),
        ({"num_tasks": 4}, "num_tasks=4 but the suite lists 3 tasks"),
        ({"task_env": {"kind": "minigird"}}, "Did you mean 'minigrid'"),
        ({"task_env": {"kind": "gym", "view": "flat"}}, "Unknown key 'view' in suite 'x' task_env \\(gym\\)"),
        ({"env_id": "CartPole-v1"}, "not both"),
        ({"variants": [{"family": "permute_obs"}]}, "not both"),
        ({"metric": "sucess"}, "Did you mean 'success'"),
        ({"metric": "success"}, "set normalize: \\{kind: none\\}"),
        ({"tsks": []}, "Did you mean 'tasks'"),
    ],
)
def test_bad_task_specs_name_the_fix(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        psp_rl.Suite(_spec(**changes), name="x")


def test_task_env_without_tasks_and_options_of_other_kinds() -> None:
    spec = {"env_id": "CartPole-v1", "num_tasks": 1, "schedule": {"steps_per_task": 10}}
    with pytest.raises(ValueError, match="task_env says how the entries of tasks are built"):
        psp_rl.Suite({**spec, "task_env": {"kind": "gym"}})
    pytest.importorskip("minigrid")
    with pytest.raises(ValueError, match="Did you mean 'view'"):
        psp_rl.load_suite("minigrid-mg10", overrides={"task_env.veiw": "image"})
    with pytest.raises(ValueError, match="Did you mean 'image'"):
        psp_rl.load_suite("minigrid-mg10", overrides={"task_env.view": "imag"})


def test_spaces_that_differ_across_tasks_name_the_task() -> None:
    env = psp_rl.Suite(_spec(num_tasks=3)).make_env(0)
    env.set_task(2)  # Acrobot under CartPole's spaces
    with pytest.raises(ValueError, match="the env of task 2 has observation_space"):
        env.reset()


# ------------------------------------------------------------------------------------------ extras
@pytest.mark.parametrize(("suite", "extra"), [("minigrid-mg10", "minigrid"), ("cw10", "metaworld")])
def test_a_missing_extra_says_how_to_install_it(
    suite: str,
    extra: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = importlib.import_module

    def without_extra(name: str, *args: Any) -> Any:
        if name.split(".")[0] == extra:
            raise ModuleNotFoundError(f"No module named {extra!r}")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_extra)
    with pytest.raises(MissingExtraError, match=f'pip install "psp-rl\\[{extra}\\]"'):
        psp_rl.load_suite(suite)
    agent = "ppo-psp-minigrid" if extra == "minigrid" else "sac-psp-cw"
    assert main(["train", "--agent", agent, "--run-dir", str(tmp_path), "--no-progress"]) == 2
    assert f'pip install "psp-rl[{extra}]"' in capsys.readouterr().err  # one line, exit status 2
    assert not list(tmp_path.iterdir()), "nothing is written before the suite loads"


def test_list_shows_the_literature_suites_and_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    names = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert {"minigrid-mg10", "cw10", "cw20", "ppo-psp-minigrid", "sac-psp-cw"} <= names
    for name in ("minigrid-mg10", "cw10", "cw20"):  # the shipped files read without the extras
        data = yaml.safe_load(psp_rl.resources.find_yaml("envs", name).read_text())
        assert data["tasks"] and data["description"]


# ------------------------------------------------------------------------------------ success metric
def test_episode_success_and_the_success_rate() -> None:
    env = EpisodeSuccess(Succeeds())
    env.reset()
    assert [env.step(0)[4]["is_success"] for _ in range(3)] == [False, True, True]
    env.reset()
    assert env.step(0)[4]["is_success"] is False  # cleared at reset
    suite = psp_rl.Suite(
        _spec(
            tasks=[
                {"env_id": "psp_rl_test/Succeeds-v0"},
                {"env_id": "psp_rl_test/Succeeds-v0", "env_kwargs": {"succeed": False}},
            ],
            metric="success",
            normalize={"kind": "none"},
        )
    )
    vec_env = suite.make_vec_env(2, seed=0)
    model = PPO(
        psp_rl.PSPActorCriticPolicy, vec_env, n_steps=8, batch_size=16, policy_kwargs={"net_arch": [4]}
    )
    eval_envs = [suite.make_vec_env(2, seed=1, initial_tasks=[k, k]) for k in range(2)]
    assert evaluate_episodes(model, eval_envs[0], 4) == (3.0, 0.0, 1.0)
    assert evaluate_episodes(model, eval_envs[1], 4) == (3.0, 0.0, 0.0)
    callback = ContinualEvalCallback(
        eval_envs, suite.normalize, [8, 16], [0, 1], n_eval_episodes=2, metric=suite.metric
    )
    callback.init_callback(model)
    assert callback.evaluate() == ([3.0, 3.0], [1.0, 0.0])  # returns, and success rates as the scores
    assert callback.metrics()["metric"] == "success"
    with pytest.raises(ValueError, match="Did you mean 'success'"):
        ContinualEvalCallback(eval_envs, suite.normalize, [8, 16], metric="succes")
    assert format_task_table([3.0], [1.0], score_name="success").splitlines()[0].split()[-1] == "success"
