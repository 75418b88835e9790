"""The task-aware progress bar."""

from __future__ import annotations

from callback_fakes import FakeModel

from psp_rl.training import (
    TaskProgressBarCallback,
)


def test_progress_bar_shows_current_task() -> None:
    class Source:
        current_task: int | None = 0
        current_phase = 0

    model = FakeModel()
    source = Source()
    bar = TaskProgressBarCallback(source, num_phases=3, total_timesteps=300)
    bar.init_callback(model)  # type: ignore[arg-type]
    bar.on_training_start({}, {})
    assert bar.pbar.desc.startswith("phase 1/3 · task 0")
    model.num_timesteps = 120
    source.current_task, source.current_phase = 1, 1
    bar.on_step()
    assert bar.pbar.n == 120
    assert bar.pbar.desc.startswith("phase 2/3 · task 1")
    source.current_task = None
    bar.on_step()
    assert "all tasks" in bar.pbar.desc
    bar.on_training_end()
    assert bar.pbar is None
