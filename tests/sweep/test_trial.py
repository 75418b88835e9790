"""One run of a sweep in its folder, in this process (no Ray): start, skip when finished, resume from a
checkpoint, restart a folder with nothing to resume; evaluations reported as they happen."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from sweep_tiny import TINY_SETS, TINY_STEPS

from psp_rl.sweep.trial import EvalReportCallback, find_run_folder, is_finished, train_trial
from psp_rl.training import resolve_config


def tiny_config(seed: int = 0) -> Any:
    return resolve_config(
        "ppo-psp", "cartpole-permuted", seed=seed, num_tasks=2, steps_per_task=TINY_STEPS, sets=TINY_SETS
    )


def test_a_trial_reports_its_evaluations_and_is_not_trained_twice(tmp_path: Path) -> None:
    reports: list[dict[str, Any]] = []
    root = tmp_path / "g00__s0"
    assert not is_finished(root) and find_run_folder(root) is None
    result = train_trial(tiny_config(), root, callbacks=[EvalReportCallback(reports.append)], command="cmd")
    run = find_run_folder(root)
    assert run == result.run_path and run.parent == root and is_finished(root)
    # the evaluation at step 0 and one at the end of each phase, every task each time
    assert [r["step"] for r in reports] == [0, TINY_STEPS, 2 * TINY_STEPS]
    assert all({"task_0", "task_1", "avg_performance"} <= set(r) for r in reports)
    assert "forgetting" not in reports[0] and "forgetting" in reports[-1]
    assert reports[-1]["avg_performance"] == result.metrics["avg_performance"]
    assert reports[-1]["forgetting"] == result.metrics["forgetting"]

    stamps = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    again = train_trial(tiny_config(), root, callbacks=[EvalReportCallback(reports.append)])
    assert again.model is None and again.metrics == json.loads((run / "metrics.json").read_text())
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == stamps  # nothing rewritten
    assert len(reports) == 3


def test_an_unfinished_trial_resumes_or_restarts(tmp_path: Path) -> None:
    root = tmp_path / "g00__s1"
    first = train_trial(tiny_config(1), root)
    run = first.run_path
    (run / "metrics.json").unlink()  # as if the run died after its last checkpoint
    resumed = train_trial(tiny_config(1), root)
    assert resumed.run_path == run and resumed.model is not None
    assert len((run / "command.txt").read_text().splitlines()) == 2  # continued, not started again
    assert resumed.metrics["perf_matrix"] == first.metrics["perf_matrix"]

    shutil.rmtree(run / "checkpoints")
    (run / "metrics.json").unlink()  # died before its first checkpoint: nothing to resume
    fresh = train_trial(tiny_config(1), root)
    assert find_run_folder(root) == fresh.run_path and len(list(root.iterdir())) == 1
    assert len((fresh.run_path / "command.txt").read_text().splitlines()) == 1  # started afresh
    assert fresh.metrics["perf_matrix"] == first.metrics["perf_matrix"]  # same seed, same run
