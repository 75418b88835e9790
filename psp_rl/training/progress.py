"""A tqdm progress bar over env steps whose label shows the current task and phase."""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

__all__ = ["TaskProgressBarCallback"]


class TaskProgressBarCallback(BaseCallback):
    """A tqdm progress bar over env steps whose label shows the current task and phase.

    :param task_source: an object with ``current_task`` / ``current_phase`` (the schedule callback).
    :param num_phases: number of phases, for the label.
    :param total_timesteps: the run's total env steps (default: SB3's target of this ``learn``).
    """

    def __init__(
        self, task_source: Any = None, num_phases: int | None = None, total_timesteps: int | None = None
    ) -> None:
        super().__init__()
        self.task_source = task_source
        self.num_phases = num_phases
        self.total_timesteps = total_timesteps
        self.pbar: Any = None
        self._shown = -1
        self._label: str | None = None

    def _label_now(self) -> str:
        task = getattr(self.task_source, "current_task", None)
        phase = getattr(self.task_source, "current_phase", None)
        parts = []
        if phase is not None:
            parts.append(
                f"phase {int(phase) + 1}/{self.num_phases}" if self.num_phases else f"phase {int(phase) + 1}"
            )
        parts.append(f"task {task}" if task is not None else "all tasks")
        return " · ".join(parts)

    def _on_training_start(self) -> None:
        from tqdm.auto import tqdm

        total = self.total_timesteps or int(self.locals.get("total_timesteps", 0)) or None
        self._shown = int(self.num_timesteps)
        self._label = self._label_now()
        self.pbar = tqdm(total=total, initial=self._shown, desc=self._label, unit="step", dynamic_ncols=True)

    def _on_step(self) -> bool:
        if self.pbar is None:
            return True
        now = int(self.num_timesteps)
        label = self._label_now()
        if label != self._label:
            self._label = label
            self.pbar.set_description(label, refresh=False)
        if now > self._shown:
            self.pbar.update(now - self._shown)
            self._shown = now
        return True

    def _on_training_end(self) -> None:
        if self.pbar is not None:
            self.pbar.refresh()
            self.pbar.close()
            self.pbar = None
