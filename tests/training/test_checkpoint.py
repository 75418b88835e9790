"""Atomic checkpoints: phase ends and frequency, pruning, failed saves, finding the latest, damaged files."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from callback_fakes import BOUNDARIES, FakeModel, make_eval_callback, run

from psp_rl.training import (
    AtomicCheckpointCallback,
    find_latest_checkpoint,
)
from psp_rl.training.checkpoint import checked_checkpoint, checkpoint_damage


def test_checkpoints_at_phase_ends_and_freq(tmp_path: Path) -> None:
    model = FakeModel()
    eval_cb = make_eval_callback(model, eval_freq=0)
    ckpt = AtomicCheckpointCallback(
        tmp_path,
        BOUNDARIES,
        save_freq=70,
        keep=10,
        stateful={"eval": eval_cb},
        extra_state=lambda: {"wall_time_s": 1.5},
    )
    ckpt.init_callback(model)  # type: ignore[arg-type]
    run(model, [eval_cb, ckpt], until=300)
    assert model.saved == [70, 100, 140, 200, 210, 280, 300]
    latest = find_latest_checkpoint(tmp_path)
    assert latest is not None and latest.name == "step_000000000300"
    state = json.loads((latest / "state.json").read_text())
    assert state["num_timesteps"] == 300
    assert state["extra"] == {"wall_time_s": 1.5}
    assert state["callbacks"]["eval"]["next_phase"] == 3
    assert json.loads((tmp_path / "checkpoints" / "latest.json").read_text())["checkpoint"] == latest.name


def test_keep_prunes_old_checkpoints(tmp_path: Path) -> None:
    model = FakeModel()
    ckpt = AtomicCheckpointCallback(tmp_path, BOUNDARIES, keep=2)
    ckpt.init_callback(model)  # type: ignore[arg-type]
    run(model, [ckpt], until=300)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["latest.json", "step_000000000200", "step_000000000300"]


def test_failed_save_never_becomes_the_latest(tmp_path: Path) -> None:
    model = FakeModel()
    ckpt = AtomicCheckpointCallback(tmp_path, BOUNDARIES)
    ckpt.init_callback(model)  # type: ignore[arg-type]
    run(model, [ckpt], until=100)
    good = find_latest_checkpoint(tmp_path)
    assert good is not None and good.name == "step_000000000100"

    model.fail_save = True  # the model file is half-written when the save fails
    with pytest.raises(OSError, match="disk full"):
        run(model, [ckpt], until=200, start=False)
    assert find_latest_checkpoint(tmp_path) == good
    leftovers = [p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert (good / "model.zip").read_bytes() == b"model at 100"


def test_latest_ignores_incomplete_and_stale_entries(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    (folder / "step_000000000100").mkdir(parents=True)
    (folder / "step_000000000100" / "model.zip").write_bytes(b"m")
    (folder / "step_000000000100" / "state.json").write_text("{}")
    # a crashed save (killed before the rename) and a folder missing its state
    (folder / ".tmp-step_000000000200-123").mkdir()
    (folder / ".tmp-step_000000000200-123" / "model.zip").write_bytes(b"half")
    (folder / "step_000000000300").mkdir()
    (folder / "step_000000000300" / "model.zip").write_bytes(b"m")
    # latest.json pointing at a checkpoint that no longer exists
    (folder / "latest.json").write_text(json.dumps({"checkpoint": "step_000000000400"}))
    assert find_latest_checkpoint(tmp_path) == folder / "step_000000000100"
    assert find_latest_checkpoint(tmp_path / "nowhere") is None


def test_same_step_checkpoint_is_replaced(tmp_path: Path) -> None:
    model = FakeModel()
    ckpt = AtomicCheckpointCallback(tmp_path, [])
    ckpt.init_callback(model)  # type: ignore[arg-type]
    model.num_timesteps = 50
    first = ckpt.save_checkpoint()
    second = ckpt.save_checkpoint()
    assert first == second and (second / "state.json").is_file()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "latest.json",
        "step_000000000050",
    ]


def _checkpoint(folder: Path, step: int) -> Path:
    """A checkpoint folder with real files: state.json, a zip model, a .pt zip and a pickle."""
    path = folder / "checkpoints" / f"step_{step:012d}"
    path.mkdir(parents=True)
    (path / "state.json").write_text(json.dumps({"num_timesteps": step}))
    with zipfile.ZipFile(path / "model.zip", "w") as archive:
        archive.writestr("data", "x" * 1000)
    torch.save({"w": torch.ones(3)}, path / "keep_best.pt")
    (path / "replay_buffer.pkl").write_bytes(pickle.dumps(list(range(1000))))
    return path


@pytest.mark.parametrize("name", ["state.json", "model.zip", "keep_best.pt", "replay_buffer.pkl"])
def test_a_damaged_file_is_named_with_the_newest_intact_checkpoint(tmp_path: Path, name: str) -> None:
    older, newer = _checkpoint(tmp_path, 100), _checkpoint(tmp_path, 200)
    assert checkpoint_damage(newer) is None and checked_checkpoint(tmp_path) == newer
    data = (newer / name).read_bytes()
    (newer / name).write_bytes(data[: len(data) // 2])  # cut short, as by a full disk
    assert f"checkpoints/step_000000000200/{name} is damaged" in str(checkpoint_damage(newer))
    with pytest.raises(ValueError) as info:
        checked_checkpoint(tmp_path)
    message = str(info.value)
    assert f"step_000000000200/{name} is damaged" in message and "--skip-damaged" in message
    assert "resume from checkpoints/step_000000000100, the newest intact checkpoint" in message
    # only when the user agrees: the damaged one is passed over
    assert find_latest_checkpoint(tmp_path) == newer
    assert checked_checkpoint(tmp_path, skip_damaged=True) == older
    assert find_latest_checkpoint(tmp_path, skip_damaged=True) == older


def test_no_intact_checkpoint_says_to_start_again(tmp_path: Path) -> None:
    only = _checkpoint(tmp_path, 100)
    (only / "state.json").write_text("")
    with pytest.raises(ValueError, match="state.json is damaged.*no older checkpoint.*without --resume"):
        checked_checkpoint(tmp_path)
    assert checked_checkpoint(tmp_path / "nowhere") is None
