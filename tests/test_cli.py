"""The ``psp-rl`` command in-process: train -> eval, list, and user errors (exit status 2)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from psp_rl.cli import main
from psp_rl.training import RUN_FILES

TINY = [
    *("--num-tasks", "2", "--steps-per-task", "128", "--n-envs", "2", "--device", "cpu", "--no-progress"),
    *("--set", "policy_kwargs.net_arch=[16]", "hyperparams.n_steps=32", "hyperparams.batch_size=64"),
    *("hyperparams.n_epochs=1", "eval.episodes=1"),
]


def test_train_then_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    argv = [
        "train",
        "--agent",
        "ppo-psp",
        "--suite",
        "cartpole-permuted",
        "--seed",
        "3",
        "--run-dir",
        str(runs),
    ]
    assert main([*argv, *TINY]) == 0
    out = capsys.readouterr().out
    (run,) = runs.iterdir()
    assert run.name.startswith("cartpole-permuted__ppo-psp__s3__")
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    assert f"tensorboard --logdir {run}" in out
    assert "average performance" in out
    command = (run / "command.txt").read_text()
    assert command.startswith("psp-rl train --agent ppo-psp") and "hyperparams.n_epochs=1" in command

    assert main(["eval", str(run), "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 episodes per task" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.strip().startswith("task"))
    assert [line.split()[0] for line in lines[header + 1 : header + 3]] == ["0", "1"]

    # --resume of a finished run is accepted (exit 0), says so and writes nothing
    before = {name: (run / name).read_bytes() for name in ("model.zip", "metrics.json", "command.txt")}
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert "is finished" in capsys.readouterr().err
    assert {name: (run / name).read_bytes() for name in before} == before


def test_list_shows_presets_and_suites(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "ppo-psp",
        "a2c-psp",
        "dqn-psp",
        "sac-psp",
        "td3-psp",
        "cartpole-permuted",
        "pendulum-physics",
    ):
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert len(line.split()) > 1  # one-line description


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["train", "--agent", "ppo-ps"], "Did you mean 'ppo-psp'"),
        (["train", "--suite", "cartpole-permute"], "cartpole-permuted"),
        (["train", "--set", "hyperparams.lerning_rate=1"], "Did you mean 'learning_rate'"),
        (["train", "--set", "learning_rate"], "expected KEY=VALUE"),
        (["train", "--resume", "nowhere"], "not a run folder"),
        (["train", "--resume", "nowhere", "--seed", "2"], "drop --seed"),
        (["eval", "nowhere"], "not a run folder"),
    ],
)
def test_user_errors_exit_2_with_the_fix(
    argv: list[str], match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.replace("nowhere", str(tmp_path / "nowhere")) for a in argv]
    if argv[0] == "train" and "--resume" not in argv:
        argv += ["--run-dir", str(tmp_path / "runs"), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"psp-rl {argv[0]}: error:")
    assert match in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_argparse_rejects_bad_device() -> None:
    with pytest.raises(SystemExit) as info:
        main(["train", "--device", "tpu"])
    assert info.value.code == 2


def test_console_script_help() -> None:
    script = shutil.which("psp-rl") or str(Path(sys.executable).parent / "psp-rl")
    cmd = [script, "--help"] if Path(script).exists() else [sys.executable, "-m", "psp_rl.cli", "--help"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    for word in ("train", "eval", "sweep", "list"):
        assert word in out


@pytest.mark.parametrize(
    ("item", "words"),
    [
        (
            "hyperparams.learning_rate=abc",
            ["hyperparams.learning_rate", "'abc'", "a number or a lin_<number>"],
        ),
        ("hyperparams.n_steps=1.5", ["hyperparams.n_steps", "1.5", "an integer"]),
        ("hyperparams.n_steps=true", ["hyperparams.n_steps", "True", "an integer"]),
        ("policy_kwargs.net_arch=abc", ["policy_kwargs.net_arch", "'abc'", "a list of positive integers"]),
        ("eval.episodes=x", ["eval.episodes", "'x'", "an integer >= 1"]),
        ("hyperparams=abc", ["hyperparams", "'abc'", "a mapping"]),
    ],
)
def test_bad_set_values_exit_2_with_one_line(
    item: str, words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--set", item, "--run-dir", str(tmp_path / "runs"), "--no-progress"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("psp-rl train: error: ") and err.endswith("\n")
    assert err.count("\n") == 1, err  # one line, no traceback
    assert "Traceback" not in err + captured.out
    for word in words:  # the key, the value, the expected type
        assert word in err, (word, err)
    assert "--set" in err  # and the fix
    assert not (tmp_path / "runs").exists()


def test_bad_set_value_from_the_console_script_exits_2() -> None:
    cmd = [
        sys.executable,
        "-m",
        "psp_rl.cli",
        "train",
        "--set",
        "hyperparams.learning_rate=abc",
        "--no-progress",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "hyperparams.learning_rate must be a number or a lin_<number> schedule" in result.stderr
    assert "got 'abc' (a string)" in result.stderr


def test_list_into_a_closed_pipe_exits_quietly() -> None:
    # the reader closes the pipe before psp-rl (still importing) writes: the write fails with EPIPE
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from psp_rl.cli import main; sys.exit(main(['list']))"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--grid", "policy_kwargs.mode"], "Bad --grid 'policy_kwargs.mode': expected KEY=V1,V2"),
        (["--grid", "policy_kwargs.mode="], "an empty value"),
        (
            ["--grid", "policy_kwargs.mod=psp,shared"],
            "Unknown policy_kwargs (psp) key 'mod'. Did you mean 'mode'?",
        ),
        (
            ["--grid", "polcy_kwargs.mode=psp"],
            "Unknown --grid key 'polcy_kwargs.mode'. Did you mean 'policy_kwargs'?",
        ),
        (["--grid", "policy_kwargs.mode=psp", "--grid", "policy_kwargs.mode=shared"], "given twice"),
        (["--set", "hyperparams.n_step=3"], "Did you mean 'n_steps'?"),
        (["--file", "nowhere.yaml"], "no such sweep file"),
        (["--resume", "nowhere", "--agent", "ppo-psp"], "drop --agent"),
    ],
)
def test_sweep_user_errors_exit_2_with_the_fix(
    args: list[str], match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    argv = ["sweep", *[a.replace("nowhere", str(tmp_path / "nowhere")) for a in args]]
    assert main(argv if "--resume" in args else [*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("psp-rl sweep: error:") and err.count("\n") == 1, err
    assert match in err
    assert not out.exists()  # nothing is written before every run's config is valid


def test_sweep_without_the_extra_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    monkeypatch.setitem(sys.modules, "ray.tune", None)
    argv = [
        "sweep",
        "--grid",
        "policy_kwargs.mode=psp,shared",
        "--seeds",
        "0",
        "1",
        "--out",
        str(tmp_path / "s"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "psp-rl[ray]"' in err, err
    assert not (tmp_path / "s").exists()
