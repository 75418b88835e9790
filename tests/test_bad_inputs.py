"""Every door checked: bad inputs to ``psp-rl`` give one clear error naming the input and the fix, exit status 2,
no traceback, before any work is done and before a run folder exists; damaged runs name the damaged file.

One table of rows, run in-process through :func:`psp_rl.cli.main` (one row through the installed command, to
show that the real entry point prints no traceback either).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import pytest
import torch
import yaml

from psp_rl.cli import main
from psp_rl.envs.suites import load_suite

#: a tiny PPO run: 2 tasks x 128 steps, rollouts of 2 x 32 steps, an 8-unit network
TINY_SETS = ["policy_kwargs.net_arch=[8]", "hyperparams.n_steps=32", "hyperparams.batch_size=32"]
TINY_SETS += ["hyperparams.n_epochs=1", "eval.episodes=1"]
TINY = ["--num-tasks", "2", "--steps-per-task", "128", "--n-envs", "2", "--device", "cpu", "--no-progress"]
TINY += ["--set", *TINY_SETS]


def suite_file(tmp: Path, name: str, **spec: object) -> str:
    """A suite YAML of CartPole variants with ``spec`` on top."""
    base = {
        "env_id": "CartPole-v1",
        "num_tasks": 2,
        "variants": [{"family": "permute_obs"}],
        "schedule": {"steps_per_task": 128},
        "normalize": {"kind": "fixed", "max": 500},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**base, **spec}))
    return str(path)


def other_suite_reference(tmp: Path) -> str:
    """A finished reference run's files (metrics with task AUCs, config with its suite) of cartpole-physics."""
    folder = tmp / "reference"
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"suite": "cartpole-physics", "task_auc": [0.1, 0.2]}))
    spec = load_suite("cartpole-physics", num_tasks=2).spec
    (folder / "config.yaml").write_text(yaml.safe_dump({"suite_spec": spec}))
    return str(folder)


@dataclass
class Row:
    """One bad input: ``argv`` (``{tmp}`` is the test's folder; a callable builds it from the folder), the
    words the message must hold, the exit status."""

    argv: list[str] | Callable[[Path], list[str]]
    words: list[str]
    code: int = 2
    run_dir: bool = True  # a train row: --run-dir {tmp}/runs is added, and no run folder may appear there
    marks: list[pytest.MarkDecorator] = field(default_factory=list)


no_cuda = [pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")]

ROWS: dict[str, Row] = {
    # already handled before: names, keys, types
    "unknown agent": Row(["train", "--agent", "ppo-ps"], ["'ppo-ps'", "Did you mean 'ppo-psp'"]),
    "unknown suite": Row(["train", "--suite", "cartpole-permute"], ["cartpole-permute", "cartpole-permuted"]),
    "unknown --set key": Row(
        ["train", "--set", "hyperparams.lerning_rate=1"], ["lerning_rate", "Did you mean 'learning_rate'"]
    ),
    "--set without a value": Row(
        ["train", "--set", "learning_rate"], ["'learning_rate'", "expected KEY=VALUE"]
    ),
    "wrong type": Row(
        ["train", "--set", "hyperparams.n_steps=1.5"], ["hyperparams.n_steps", "1.5", "an integer"]
    ),
    "unknown policy_kwargs key": Row(
        ["train", "--set", "policy_kwargs.contxt=binary"], ["contxt", "context"]
    ),
    "bad choice": Row(
        ["train", "--set", "policy_kwargs.context=complx"], ["policy_kwargs.context", "complx"]
    ),
    # own suite files
    "unknown env_id": Row(
        lambda tmp: ["train", "--suite", suite_file(tmp, "badid", env_id="CartPoleX-v9")],
        ["CartPoleX-v9", "not a registered Gymnasium id", "Did you mean 'CartPole-v1'"],
    ),
    "bad env_kwargs": Row(
        lambda tmp: ["train", "--suite", suite_file(tmp, "badkw", env_kwargs={"render_mod": "rgb_array"})],
        ["suite 'badkw'", "task 0", "render_mod", "env_kwargs"],
    ),
    # algorithm vs action space
    "dqn on continuous actions": Row(
        ["train", "--agent", "dqn-psp", "--suite", "pendulum-permuted"],
        ["'dqn-psp'", "'pendulum-permuted'", "Box", "Discrete", "sac-psp"],
    ),
    "sac on discrete actions": Row(
        ["train", "--agent", "sac-psp", "--suite", "cartpole-permuted"],
        ["'sac-psp'", "'cartpole-permuted'", "Discrete(2)", "dqn-psp"],
    ),
    # numbers out of their range
    "n_steps < 1": Row(["train", "--set", "hyperparams.n_steps=-5"], ["hyperparams.n_steps", "-5", ">= 1"]),
    "batch_size 0": Row(["train", "--set", "hyperparams.batch_size=0"], ["hyperparams.batch_size", "got 0"]),
    "batch_size 1 (PPO)": Row(
        ["train", "--set", "hyperparams.batch_size=1"], ["hyperparams.batch_size", ">= 2"]
    ),
    "negative learning rate": Row(
        ["train", "--set", "hyperparams.learning_rate=-0.1"], ["hyperparams.learning_rate", "-0.1", "> 0"]
    ),
    "negative lin_ schedule": Row(
        ["train", "--set", "hyperparams.learning_rate=lin_-1e-3"], ["hyperparams.learning_rate", "lin_-1e-3"]
    ),
    "gamma > 1": Row(["train", "--set", "hyperparams.gamma=1.5"], ["hyperparams.gamma", "1.5", "[0, 1]"]),
    "gae_lambda > 1": Row(
        ["train", "--set", "hyperparams.gae_lambda=2"], ["hyperparams.gae_lambda", "got 2"]
    ),
    "DQN n-step returns": Row(
        ["train", "--agent", "dqn-psp", "--set", "hyperparams.n_steps=3"], ["hyperparams.n_steps", "Dict"]
    ),
    "DQN gradient_steps 0": Row(
        ["train", "--agent", "dqn-psp", "--set", "hyperparams.gradient_steps=0"],
        ["hyperparams.gradient_steps"],
    ),
    "seed too large": Row(["train", "--seed", str(2**40)], ["seed must be at most", str(2**40)]),
    # more tasks than the suite's variants
    "repeated variants": Row(
        ["train", "--suite", "cartpole-actions", "--num-tasks", "200"],
        ["'cartpole-actions'", "num_tasks 200", "task 2", "task 0", "--num-tasks 2"],
    ),
    # the forward-transfer reference of another suite
    "reference of another suite": Row(
        lambda tmp: ["train", "--num-tasks", "2", "--reference", other_suite_reference(tmp)],
        ["reference", "'cartpole-physics'", "'cartpole-permuted'", "same suite"],
    ),
    "--device cuda without CUDA": Row(
        ["train", "--device", "cuda"], ["--device cuda", "auto or cpu"], marks=no_cuda
    ),
    "--run-dir is a file": Row(
        lambda tmp: ["train", "--run-dir", str(Path(shutil.copy(__file__, tmp / "file.txt")))],
        ["--run-dir", "file.txt", "not a folder"],
        run_dir=False,
    ),
    "--skip-damaged without --resume": Row(["train", "--skip-damaged"], ["--skip-damaged", "--resume"]),
    # --resume
    "resume nowhere": Row(
        ["train", "--resume", "{tmp}/nowhere"], ["nowhere", "not a run folder"], run_dir=False
    ),
    "resume with --seed": Row(
        ["train", "--resume", "{tmp}/nowhere", "--seed", "2"], ["drop --seed"], run_dir=False
    ),
    "resume with --steps-per-task only": Row(
        ["train", "--resume", "{tmp}/nowhere", "--steps-per-task", "10"], ["--num-tasks"], run_dir=False
    ),
    # psp-rl eval
    "eval nowhere": Row(["eval", "{tmp}/nowhere"], ["nowhere", "not a run folder"], run_dir=False),
    "eval --device cuda without CUDA": Row(
        ["eval", "{tmp}/nowhere", "--device", "cuda"], ["--device cuda"], run_dir=False, marks=no_cuda
    ),
    "eval --json in a missing folder": Row(
        ["eval", "{tmp}/nowhere", "--json", "/nonexistent/x.json"],
        ["--json /nonexistent/x.json", "/nonexistent"],
        run_dir=False,
    ),
    "eval --window 0": Row(["eval", "{tmp}/nowhere", "--window", "0"], ["--window", "got 0"], run_dir=False),
    "eval option without --infer-task": Row(
        ["eval", "{tmp}/nowhere", "--method", "score"], ["--method", "--infer-task"], run_dir=False
    ),
}


def _argv(row: Row, tmp: Path) -> list[str]:
    argv = row.argv(tmp) if callable(row.argv) else [a.replace("{tmp}", str(tmp)) for a in row.argv]
    if row.run_dir and argv[0] == "train":
        argv += ["--run-dir", str(tmp / "runs"), "--no-progress"]
    return argv


def _no_run_folder(tmp: Path) -> bool:
    runs = tmp / "runs"
    return not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=row.marks) for name, row in ROWS.items()], ids=list(ROWS)
)
def test_bad_input_exits_2_naming_it_before_any_work(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    row = ROWS[name]
    argv = _argv(row, tmp_path)

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("the input was not refused before the work started")

    monkeypatch.setattr("psp_rl.training.saved_runs.evaluate_episodes", no_work)
    monkeypatch.setattr("stable_baselines3.common.base_class.BaseAlgorithm.learn", no_work)
    assert main(argv) == row.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    err = captured.err
    assert err.startswith(f"psp-rl {argv[0]}: error: ") and err.count("\n") == 1, err  # one line
    for word in row.words:
        assert word in err, (word, err)
    assert _no_run_folder(tmp_path), list((tmp_path / "runs").iterdir())


def test_the_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "psp-rl"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "psp_rl.cli"]
    result = subprocess.run(
        [*cmd, "train", "--agent", "dqn-psp", "--suite", "pendulum-permuted", "--run-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith(
        "psp-rl train: error: agent 'dqn-psp' (dqn) acts in Discrete action spaces"
    )
    assert not any(tmp_path.iterdir())


def test_the_action_space_table_is_sb3s() -> None:
    """ACTION_SPACES says what SB3's algorithms accept: each refuses exactly the spaces the table leaves out."""
    import stable_baselines3

    from psp_rl.training.config import ALGOS
    from psp_rl.training.config.preflight import ACTION_SPACES

    envs = {"Discrete": gym.make("CartPole-v1"), "Box": gym.make("Pendulum-v1")}
    for algo, (class_name, _) in ALGOS.items():
        cls = getattr(stable_baselines3, class_name)
        for space, env in envs.items():
            try:
                cls("MlpPolicy", env, _init_setup_model=False)
                accepted = True
            except AssertionError:
                accepted = False
            assert accepted == (space in ACTION_SPACES[algo]), (algo, space)


# ------------------------------------------------------------------------------ damaged and finished runs
@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run with checkpoints at both phase ends (steps 128 and 256)."""
    runs = tmp_path_factory.mktemp("runs")
    assert main(["train", "--run-dir", str(runs), *TINY]) == 0
    (run,) = runs.iterdir()
    return run


def _interrupted(finished: Path, tmp: Path) -> Path:
    """A copy of the run as if it had stopped after its last checkpoint, before its final results."""
    run = Path(shutil.copytree(finished, tmp / finished.name))
    (run / "metrics.json").unlink()
    return run


def _files(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def test_resume_of_a_finished_run_writes_nothing(finished: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _files(finished)
    assert main(["train", "--resume", str(finished), "--no-progress"]) == 0  # the run is as asked: finished
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    err = captured.err
    assert f"{finished} is finished" in err and "nothing was written" in err
    assert f"--resume {finished} --num-tasks 3" in err and f"psp-rl eval {finished}" in err
    assert _files(finished) == before  # model.zip, metrics.json, command.txt, checkpoints: untouched


@pytest.mark.parametrize("name", ["state.json", "model.zip"])
def test_a_damaged_checkpoint_names_the_file_and_the_intact_one(
    name: str, finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _interrupted(finished, tmp_path)
    damaged = run / "checkpoints" / "step_000000000256" / name
    damaged.write_bytes(damaged.read_bytes()[:20])  # cut short
    before = _files(run)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    err = captured.err
    assert err.startswith("psp-rl train: error: checkpoints/step_000000000256/" + name + " is damaged (")
    assert "resume from checkpoints/step_000000000128, the newest intact checkpoint" in err
    assert "--skip-damaged" in err and "Error: " not in err
    assert _files(run) == before


def test_skip_damaged_resumes_from_the_newest_intact_checkpoint(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _interrupted(finished, tmp_path)
    (run / "checkpoints" / "step_000000000256" / "state.json").write_text('{"num_timest')
    assert main(["train", "--resume", str(run), "--no-progress", "--skip-damaged"]) == 0
    state = json.loads((run / "checkpoints" / "step_000000000256" / "state.json").read_text())
    assert state["num_timesteps"] == 256  # trained again from step 128 and saved anew
    assert json.loads((run / "metrics.json").read_text())["num_timesteps"] == 256


def test_a_damaged_final_model_is_named_by_eval(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Path(shutil.copytree(finished, tmp_path / "run"))
    (run / "model.zip").write_bytes((run / "model.zip").read_bytes()[:100])
    assert main(["eval", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'model.zip'} is damaged" in err and "newest checkpoint" in err and "Error: " not in err


# ------------------------------------------------------------------------------ a warning, not an error
def test_phases_shorter_than_a_rollout_warn_on_stderr_and_in_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """200-step phases under 2 x 128-step rollouts: phase 0 ends untrained, phase 1 gets one update. A warning,
    not an error: tiny budgets are how smoke tests and this test suite run the whole machinery."""
    sets = [
        "policy_kwargs.net_arch=[8]",
        "hyperparams.n_steps=128",
        "hyperparams.n_epochs=1",
        "eval.episodes=1",
    ]
    argv = ["train", "--num-tasks", "2", "--steps-per-task", "200", "--n-envs", "2", "--no-progress"]
    assert main([*argv, "--run-dir", str(tmp_path), "--set", *sets]) == 0
    captured = capsys.readouterr()
    warning = (
        "phase 0 ends before the agent's first update in it; phase 1 is shorter than one update interval"
    )
    assert (
        captured.err.startswith("warning: " + warning) and "Use --steps-per-task 256 or more" in captured.err
    )
    assert "the run also takes 512 steps rather than 400" in captured.err
    assert "warning: " + warning in captured.out  # the summary under the table
    (run,) = tmp_path.iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["warnings"]) == 1 and warning in metrics["warnings"][0]


def test_eval_refuses_an_unwritable_json_before_evaluating(
    finished: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("evaluated before the --json path was checked")

    monkeypatch.setattr("psp_rl.training.saved_runs.evaluate_episodes", no_work)
    assert main(["eval", str(finished), "--json", "/nonexistent/x.json"]) == 2
    assert "--json /nonexistent/x.json: the folder /nonexistent does not exist" in capsys.readouterr().err
