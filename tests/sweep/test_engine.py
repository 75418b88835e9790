"""Sweeps on a local Ray (2 CPUs, started once for this module): a 2 x 2 sweep equals its runs made one by
one, an interrupted sweep resumes without repeating a finished run, a run that crashes once is retried
from its checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sweep_tiny import TINY_SETS, TINY_STEPS

from psp_rl.sweep import SweepSpec, run_sweep
from psp_rl.sweep.run import spec_from_options
from psp_rl.sweep.summary import summarize_point
from psp_rl.sweep.trial import find_run_folder
from psp_rl.training import train

SPEC = dict(
    agent="ppo-psp",
    suite="cartpole-permuted",
    seeds=[0, 1],
    grid={"policy_kwargs.mode": ["psp", "shared"]},
    set=TINY_SETS,
    num_tasks=2,
    steps_per_task=TINY_STEPS,
)


@pytest.fixture(scope="module")
def finished_sweep(local_ray: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("sweep")
    return out, run_sweep(SweepSpec(**SPEC), out, verbose=0)


def stamps(folder: Path) -> dict[Path, int]:
    return {p.relative_to(folder): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_a_sweep_equals_its_runs_made_one_by_one(finished_sweep: tuple[Path, Any], tmp_path: Path) -> None:
    out, result = finished_sweep
    ids = ["g00_mode-psp__s0", "g00_mode-psp__s1", "g01_mode-shared__s0", "g01_mode-shared__s1"]
    assert (
        sorted(result.trained) == ids and not result.failed and not result.interrupted and not result.skipped
    )
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "summary.png").is_file() and (out / "sweep.yaml").is_file()
    assert [r["overrides"] for r in summary["points"]] == [
        {"policy_kwargs.mode": "psp"},
        {"policy_kwargs.mode": "shared"},
    ]
    assert summary["bootstrap"]["seed"] == 0 and summary["points"] == result.records
    solo_configs = SweepSpec(**SPEC).configs(tmp_path)
    for record, configs in zip(summary["points"], solo_configs):
        assert record["seeds"] == record["finished_seeds"] == [0, 1] and len(record["runs"]) == 2
        solo = [train(cfg, progress_bar=False, verbose=0).metrics for cfg in configs]
        swept = [json.loads((out / run / "metrics.json").read_text()) for run in record["runs"]]
        for mine, theirs in zip(swept, solo):
            for key in ("perf_matrix", "avg_performance", "forgetting", "num_timesteps", "eval_history"):
                assert mine[key] == theirs[key], key
        stats = summarize_point(solo, **{k: summary["bootstrap"][k] for k in ("reps", "confidence", "seed")})
        assert {k: record[k] for k in stats} == stats
        assert record["avg_performance"]["mean"] == pytest.approx(sum(m["avg_performance"] for m in solo) / 2)
    # every evaluation went to Tune as it happened: step 0 and the two phase ends, then the final report
    reported = [json.loads(line) for line in next(out.glob("tune/*/g00_mode-psp__s0/result.json")).open()]
    assert [r.get("step") for r in reported if not r["finished"]] == [0, TINY_STEPS, 2 * TINY_STEPS]
    first = json.loads((out / summary["points"][0]["runs"][0] / "metrics.json").read_text())
    assert reported[-1]["finished"] == 1 and reported[-1]["avg_performance"] == first["avg_performance"]


def test_an_interrupted_sweep_resumes_without_repeating_finished_runs(
    finished_sweep: tuple[Path, Any], tmp_path: Path
) -> None:
    out, result = finished_sweep
    copy = tmp_path / "sweep"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "runs" / "g01_mode-shared__s1")  # the run that had not finished
    before = stamps(copy / "runs")
    spec, folder, resume = spec_from_options({"resume": str(copy), "workers": 2})
    assert resume and folder == copy and spec.definition() == SweepSpec(**SPEC).definition()
    again = run_sweep(spec, folder, resume=True, verbose=0)
    assert again.trained == ["g01_mode-shared__s1"]
    assert sorted(again.skipped) == ["g00_mode-psp__s0", "g00_mode-psp__s1", "g01_mode-shared__s0"]
    after = stamps(copy / "runs")
    assert {p: after[p] for p in before} == before  # the finished runs' files are not rewritten
    assert [
        {k: r[k] for k in ("avg_performance", "forgetting", "finished_seeds")} for r in again.records
    ] == [
        {k: r[k] for k in ("avg_performance", "forgetting", "finished_seeds")} for r in result.records
    ]  # the same seeds give the same runs
    with pytest.raises(ValueError, match="holds another sweep .* --resume"):
        run_sweep(SweepSpec(**{**SPEC, "seeds": [5]}), copy, verbose=0)


def test_a_trial_that_crashes_once_is_retried_from_its_checkpoint(local_ray: Any, tmp_path: Path) -> None:
    from psp_rl.sweep.engine import run_trials

    (configs,) = SweepSpec(**{**SPEC, "grid": {}, "seeds": [3]}).configs(tmp_path / "runs")
    root = tmp_path / "runs" / "crashy"
    trial = {
        "trial_id": "crashy",
        "run_root": str(root),
        "config": configs[0].to_dict(),
        "command": "test",
        "target": "crashing_target:run",
        "pythonpath": [str(Path(__file__).parent)],
        "crash_after": TINY_STEPS + 32,  # in the second phase, after the first phase's checkpoint
    }
    results: list[tuple[str, Any]] = []
    outcome = run_trials(
        [trial],
        tmp_path / "tune",
        max_failures=1,
        verbose=0,
        on_result=lambda name, res: results.append((name, res)),
    )
    assert outcome.finished == ["crashy"] and not outcome.failed and not outcome.interrupted
    assert (root / "crashed-once").is_file()  # the first attempt did crash
    run = find_run_folder(root)
    assert run is not None and len((run / "command.txt").read_text().splitlines()) == 2  # start + resume
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_timesteps"] == 2 * TINY_STEPS and len(metrics["perf_matrix"]) == 2
    assert results == [("crashy", json.loads((root / "result.json").read_text()))]
    assert results[0][1]["run_path"] == str(run)
