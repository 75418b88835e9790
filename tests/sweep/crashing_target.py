"""A trial target for the engine tests (imported by the Ray worker from this folder): the default
trial, whose first attempt raises once the run has passed its first checkpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from psp_rl.sweep.trial import run_train_trial


class CrashOnce(BaseCallback):
    """Raise in the second task phase, the first time only (a marker file remembers it)."""

    def __init__(self, marker: Path, after_step: int) -> None:
        super().__init__()
        self.marker, self.after_step = marker, after_step

    def _on_step(self) -> bool:
        if self.num_timesteps > self.after_step and not self.marker.exists():
            self.marker.write_text(str(self.num_timesteps))
            raise RuntimeError(f"test crash at step {self.num_timesteps}")
        return True


def run(trial: Mapping[str, Any], callbacks: Sequence[Any]) -> dict[str, Any]:
    marker = Path(trial["run_root"]) / "crashed-once"
    crash = CrashOnce(marker, after_step=int(trial["crash_after"]))
    return run_train_trial(trial, [*callbacks, crash])
