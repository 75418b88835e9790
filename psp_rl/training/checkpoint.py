"""Atomic checkpoints of a training run, and finding the latest complete one to resume from.

:class:`AtomicCheckpointCallback` writes ``checkpoints/step_<n>/`` (model, VecNormalize statistics,
replay buffer, the callbacks' state) into a temporary folder and renames it into place, so the latest
checkpoint is always complete. Every callback whose position matters on ``--resume`` offers
``state_dict()`` / ``load_state_dict()``. A file damaged afterwards (a full disk, a copy cut short) is found
by :func:`checkpoint_damage` before anything is loaded; :func:`checked_checkpoint` names it and the newest
intact checkpoint.
"""

from __future__ import annotations

import json
import os
import pickletools
import shutil
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from psp_rl.phases import PhaseCallback
from psp_rl.utils import write_json_atomic

__all__ = [
    "AtomicCheckpointCallback",
    "checked_checkpoint",
    "checkpoint_damage",
    "file_damage",
    "find_latest_checkpoint",
]

_LATEST = "latest.json"
_STATE = "state.json"


def _is_complete(folder: Path) -> bool:
    return (folder / _STATE).is_file() and (folder / "model.zip").is_file()


def find_latest_checkpoint(run_path: str | Path, skip_damaged: bool = False) -> Path | None:
    """The newest *complete* checkpoint folder of a run, or ``None``.

    ``checkpoints/latest.json`` names it; if that is missing or stale, the complete ``step_*``
    folders are scanned. Temporary folders of an interrupted save are never returned.

    :param run_path: the run folder.
    :param skip_damaged: also read every file of the candidates (:func:`checkpoint_damage`) and pass over
        damaged ones, to the newest intact checkpoint. Off by default: resuming from an older checkpoint
        than the newest throws away training, which the user has to agree to (``--skip-damaged``).
    :return: the checkpoint folder.
    """
    folder = Path(run_path) / "checkpoints"
    if not folder.is_dir():
        return None
    if not skip_damaged:
        try:
            name = json.loads((folder / _LATEST).read_text())["checkpoint"]
            if _is_complete(folder / name):
                return folder / name
        except (OSError, ValueError, KeyError, TypeError):
            pass
    complete = sorted((p for p in folder.glob("step_*") if p.is_dir() and _is_complete(p)), reverse=True)
    if skip_damaged:
        complete = [p for p in complete if checkpoint_damage(p) is None]
    return complete[0] if complete else None


def _zip_damage(path: Path) -> str | None:
    """Why a zip file (SB3's ``model.zip``, ``torch.save``'s ``.pt``) cannot be read, or ``None``."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # reads every member and checks its CRC
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        return f"not a readable zip file: {error}"
    return None if bad is None else f"its member {bad!r} fails its checksum"


def _pickle_damage(path: Path) -> str | None:
    """Why a pickle file (``vecnormalize.pkl``, ``replay_buffer.pkl``) is cut short or garbled, or ``None``.

    The opcodes are read to the end without building any object.
    """
    try:
        with path.open("rb") as handle:
            for _ in pickletools.genops(handle):
                pass
    except (ValueError, EOFError, OSError) as error:
        return f"not a complete pickle: {error}"
    return None


def _state_damage(path: Path) -> str | None:
    try:
        state = json.loads(path.read_text())
    except (ValueError, OSError) as error:
        return f"not valid JSON: {error}"
    if not isinstance(state, dict) or not isinstance(state.get("num_timesteps"), int):
        return "it holds no step counter (num_timesteps)"
    return None


def checkpoint_damage(folder: str | Path) -> str | None:
    """What is damaged in a checkpoint folder (a truncated or garbled file), or ``None`` when every file reads.

    :param folder: a ``checkpoints/step_<n>`` folder.
    :return: ``"<file> is damaged (<why>)"`` naming the first damaged file (relative to the run folder),
        a missing ``state.json`` / ``model.zip`` included, or ``None``.
    """
    folder = Path(folder)
    where = f"{folder.parent.name}/{folder.name}"
    for required in (_STATE, "model.zip"):
        if not (folder / required).is_file():
            return f"{where}/{required} is missing"
    for path in [folder / _STATE, *sorted(p for p in folder.iterdir() if p.name != _STATE)]:
        why = file_damage(path)
        if why is not None:
            return f"{where}/{path.name} is damaged ({why})"
    return None


def file_damage(path: str | Path) -> str | None:
    """Why one file of a run cannot be read, or ``None``: zip files (``model.zip``, ``.pt``) are read with
    their checksums, pickles (``.pkl``) to their end, ``state.json`` as JSON with a step counter; other
    files are not checked.

    :param path: the file.
    :return: the reason, e.g. ``not a readable zip file: File is not a zip file``.
    """
    path = Path(path)
    if path.suffix in (".zip", ".pt"):
        return _zip_damage(path)
    if path.suffix == ".pkl":
        return _pickle_damage(path)
    if path.name == _STATE:
        return _state_damage(path)
    return None


def checked_checkpoint(run_path: str | Path, skip_damaged: bool = False) -> Path | None:
    """The checkpoint ``--resume`` continues from: the newest complete one, every file of which reads.

    :param run_path: the run folder.
    :param skip_damaged: pass over damaged checkpoints to the newest intact one (the user agreed to lose
        the training after it).
    :return: the checkpoint folder, or ``None`` when the run has no complete checkpoint.
    :raises ValueError: when the newest checkpoint is damaged, naming the file and the newest intact one.
    """
    latest = find_latest_checkpoint(run_path)
    if latest is None:
        return None
    damage = checkpoint_damage(latest)
    if damage is None:
        return latest
    intact = find_latest_checkpoint(run_path, skip_damaged=True)
    if intact is not None and skip_damaged:
        return intact
    if intact is None:
        raise ValueError(
            f"{damage}, and no older checkpoint of {run_path} is intact: start the run again without --resume."
        )
    raise ValueError(
        f"{damage}: delete the folder {latest} (or add --skip-damaged) to resume from "
        f"{intact.parent.name}/{intact.name}, the newest intact checkpoint (the steps after it are trained again)."
    )


class AtomicCheckpointCallback(PhaseCallback):
    """Save ``checkpoints/step_<n>/`` at every phase end and every ``save_freq`` env steps.

    A checkpoint holds ``model.zip``, ``vecnormalize.pkl`` (when the training env is normalized),
    ``replay_buffer.pkl`` (off-policy algorithms, unless ``save_replay_buffer=False``; SB3 stores the
    transition of the current step after the callbacks run, so that one is not in it) and
    ``state.json`` (step counter, the state of every registered callback, and ``extra_state()``
    under ``"extra"``: ``train()`` puts the accumulated wall time and the drift clocks of the
    training sub-envs there). It is written into ``checkpoints/.tmp-*`` and renamed into
    place with ``os.replace``; ``latest.json`` is updated the same way afterwards. Older
    checkpoints beyond ``keep`` are removed.

    :param run_path: the run folder.
    :param phase_boundaries: env steps at which each phase ends.
    :param save_freq: also save every this many env steps (0: phase ends only).
    :param keep: how many checkpoints to keep.
    :param save_replay_buffer: also save the replay buffer (off-policy algorithms; ignored without one).
    :param stateful: callbacks (or any objects with ``state_dict()``) whose state to save, by name.
    :param tensor_stateful: objects whose ``state_dict()`` holds tensors, saved as ``<name>.pt``
        (read back with ``torch.load(..., weights_only=True)``).
    :param extra_state: ``() -> dict`` of more state to save (e.g. accumulated wall time).
    :param verbose: 1 prints a line per checkpoint.
    """

    def __init__(
        self,
        run_path: str | Path,
        phase_boundaries: Sequence[int] = (),
        save_freq: int = 0,
        keep: int = 2,
        save_replay_buffer: bool = True,
        stateful: Mapping[str, Any] | None = None,
        extra_state: Callable[[], dict[str, Any]] | None = None,
        verbose: int = 0,
        tensor_stateful: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(phase_boundaries, verbose)
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}.")
        self.folder = Path(run_path) / "checkpoints"
        self._phase_ended = False  # a phase ended at this step: save once every member has acted
        self.save_freq = int(save_freq)
        self.keep = int(keep)
        self.save_replay_buffer = bool(save_replay_buffer)
        self.stateful = dict(stateful or {})
        self.tensor_stateful = dict(tensor_stateful or {})
        self.extra_state = extra_state
        self.last_saved_step: int | None = None

    def _on_training_start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.last_saved_step = int(self.num_timesteps)

    def on_phase_end(self, phase: int, last: bool) -> None:
        """Save at the step a phase ends (after every other member's phase-end work).

        :param phase: the phase that ended.
        :param last: it is the run's last phase.
        """
        self._phase_ended = True

    def _due(self) -> bool:
        last = self.last_saved_step if self.last_saved_step is not None else 0
        now = int(self.num_timesteps)
        return self._phase_ended or (self.save_freq > 0 and now // self.save_freq > last // self.save_freq)

    def _on_step(self) -> bool:
        if self._due():
            self.save_checkpoint()
        self._phase_ended = False
        return True

    def save_checkpoint(self) -> Path:
        """Write a checkpoint of the current step now (atomically).

        :return: the checkpoint folder.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        step = int(self.model.num_timesteps)
        name = f"step_{step:012d}"
        tmp = self.folder / f".tmp-{name}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        try:
            self.model.save(tmp / "model.zip")
            env = self.model.get_vec_normalize_env()
            if env is not None:
                env.save(str(tmp / "vecnormalize.pkl"))
            if self.save_replay_buffer and getattr(self.model, "replay_buffer", None) is not None:
                self.model.save_replay_buffer(tmp / "replay_buffer.pkl")  # type: ignore[attr-defined]
            state = {
                "num_timesteps": step,
                "saved_at": time.time(),
                "callbacks": {key: obj.state_dict() for key, obj in self.stateful.items()},
                "extra": self.extra_state() if self.extra_state is not None else {},
            }
            for key, obj in self.tensor_stateful.items():
                torch.save(obj.state_dict(), tmp / f"{key}.pt")
            write_json_atomic(tmp / _STATE, state)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        final = self.folder / name
        if final.exists():  # same step saved before (e.g. an interrupt right at a phase end)
            trash = self.folder / f".old-{name}-{os.getpid()}"
            os.replace(final, trash)
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
        write_json_atomic(self.folder / _LATEST, {"checkpoint": name, "num_timesteps": step})
        self.last_saved_step = step
        self._prune()
        if self.verbose >= 1:
            print(f"checkpoint {final}")
        return final

    def _prune(self) -> None:
        complete = sorted(p for p in self.folder.glob("step_*") if p.is_dir())
        for old in complete[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
