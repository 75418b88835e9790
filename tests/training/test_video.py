"""``psp-rl eval RUN --video DIR``: one recorded episode per task, from the run's evaluation states."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from psp_rl.cli import main
from psp_rl.training import evaluate_run, train
from psp_rl.training.config import resolve_config
from psp_rl.training.video import record_run

pytest.importorskip("moviepy")
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")  # moviepy's ffmpeg

TASKS = 2


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny 2-task run that normalises its observations (so the videos need its statistics)."""
    cfg = resolve_config(
        "ppo-psp",
        "cartpole-permuted",
        num_tasks=TASKS,
        steps_per_task=256,
        n_envs=2,
        device="cpu",
        run_dir=str(tmp_path_factory.mktemp("video") / "runs"),
        sets=[
            "policy_kwargs.net_arch=[8]",
            "hyperparams.n_steps=32",
            "hyperparams.batch_size=64",
            "hyperparams.n_epochs=1",
            "eval.episodes=1",
            "normalize=true",
        ],
    )
    result = train(cfg, progress_bar=False, verbose=0)
    assert (result.run_path / "vecnormalize.pkl").is_file()
    return result.run_path


def frames(path: Path) -> int:
    return int(imageio_ffmpeg.count_frames_and_secs(str(path))[0])


def test_eval_video_writes_one_episode_per_task(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "videos" / "new"  # created when missing
    assert main(["eval", str(run), "--video", str(folder), "--episodes", "1"]) == 0
    out = capsys.readouterr().out
    returns = evaluate_run(run, episodes=1)["returns"]
    for k in range(TASKS):
        path = folder / f"{run.name}-task{k}-episode-0.mp4"
        assert path.is_file() and path.stat().st_size > 0
        line = next(line for line in out.splitlines() if line.startswith(f"video of task {k}: "))
        assert str(path) in line
        steps = int(line.split(", ")[-1].split()[0])
        # the first state and every step are frames (moviepy's encoder may drop the last one); the episode
        # is the evaluation's own (same seed, same observation statistics, deterministic): same return
        assert steps > 2 and steps <= frames(path) <= steps + 1
        assert f"(return {returns[k]:.1f}," in line
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{run.name}-task{k}-episode-0.mp4" for k in range(TASKS)
    ]


def test_long_episode_cut_and_still_written(run: Path, tmp_path: Path) -> None:
    clips = record_run(run, tmp_path, device="cpu", max_steps=5)
    assert [(c["task"], c["length"], c["cut"]) for c in clips] == [(k, 5, True) for k in range(TASKS)]
    for clip in clips:  # written when the env closes
        assert 5 <= frames(Path(clip["path"])) <= 6


def test_video_folder_refused_before_any_work(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "videos.mp4"
    a_file.write_text("")
    assert main(["eval", str(run), "--video", str(a_file)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no evaluation ran
    assert len(captured.err.strip().splitlines()) == 1 and "that is a file; give a folder" in captured.err
    assert main(["eval", str(run), "--video", str(a_file / "videos")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "is a file, not a folder" in captured.err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main(["eval", str(run), "--video", str(locked / "videos")]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and "cannot be written" in captured.err


def test_missing_moviepy_names_the_extra(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "moviepy", None)  # import moviepy -> ImportError
    assert main(["eval", str(run), "--video", str(tmp_path / "videos")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and 'pip install "psp-rl[video]"' in captured.err
    assert not (tmp_path / "videos").exists()
