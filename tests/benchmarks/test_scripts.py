"""The small benchmark scripts run end to end on tiny budgets (nothing here measures anything)."""

from __future__ import annotations

import json
from pathlib import Path

import inference
import offpolicy_page
import pytest
import runs_table
import width_rule

from psp_rl.training import resolve_config, train


def test_width_rule_runs_both_settings_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "wr.json"
    args = [
        "--steps-per-task",
        "512",
        "--num-tasks",
        "2",
        "--width",
        "96",
        "--episodes",
        "1",
        "--out",
        str(out),
    ]
    records = width_rule.main(args)
    assert [r["width_scaling"] for r in records] == [True, False]
    assert all(len(r["perf_matrix"]) == 2 for r in records)
    assert len(width_rule.main(args)) == 2  # finished runs are kept, not run again
    assert json.loads(out.read_text())[0]["width"] == 96


def test_runs_table_collects_run_folders(tmp_path: Path) -> None:
    cfg = resolve_config(
        "ppo-psp",
        num_tasks=2,
        steps_per_task=64,
        run_dir=str(tmp_path / "runs"),
        sets=[
            "policy_kwargs.net_arch=[8]",
            "hyperparams.n_steps=16",
            "hyperparams.batch_size=32",
            "eval.episodes=1",
        ],
    )
    train(cfg, progress_bar=False, verbose=0)
    out = tmp_path / "sweep.json"
    table = runs_table.main(["--out", str(out), f"tiny={tmp_path / 'runs'}"])
    records = json.loads(out.read_text())
    assert len(records) == 1 and records[0]["label"] == "tiny" and records[0]["num_tasks"] == 2
    assert "| tiny | 0 | 2 | 64 |" in table
    assert runs_table.main(["--render", str(out)]) == table
    # the off-policy page renders one table per sweep file, with its prose around it
    notes = {
        "title": "Off-policy",
        "summary": "All runs.",
        "sections": [{"title": "Tiny", "file": "sweep.json", "text": "Two tasks."}],
    }
    text = offpolicy_page.page(notes, root=tmp_path)
    assert text.startswith("# Off-policy") and "## 1. Tiny" in text and table in text


def test_runs_table_summarises_seeds_and_states_the_evaluation() -> None:
    base = {
        "label": "psp",
        "num_tasks": 2,
        "steps_per_task": 64,
        "eval_episodes": 3,
        "deterministic": False,
        "metric": "success",
        "after_own_phase": [1.0, 0.5],
        "final_normalized": [1.0, 0.5],
    }
    records = [
        {**base, "seed": 0, "avg_performance": 0.6, "forgetting": 0.0},
        {**base, "seed": 1, "avg_performance": 0.8, "forgetting": 0.2},
    ]
    table = runs_table.render(records)
    assert "3 stochastic episodes" in table and "success rate" in table
    assert "| psp | 2 | 0 1 | 0.700 ± 0.100 | 0.100 ± 0.100 |" in table
    assert runs_table.summary(records[:1]) == ""  # one seed: no summary table
    k1 = [{**r, "num_tasks": 1, "forgetting": None} for r in records]
    assert "| psp | 1 | 0 1 | 0.700 ± 0.100 | – |" in runs_table.summary(k1)  # no forgetting at K = 1


def test_inference_benchmark_measures_resumes_and_writes_its_page(tmp_path: Path) -> None:
    cfg = resolve_config(
        "ppo-psp",
        num_tasks=2,
        steps_per_task=64,
        run_dir=str(tmp_path / "runs"),
        sets=[
            "policy_kwargs.net_arch=[8]",
            "hyperparams.n_steps=16",
            "hyperparams.batch_size=32",
            "eval.episodes=1",
        ],
    )
    run = train(cfg, progress_bar=False, verbose=0).run_path
    out = tmp_path / "bench.json"
    args = [
        "--run",
        f"tiny={run}",
        "--blind",
        f"tiny={run}",
        "--methods",
        "dynamics",
        "--windows",
        "2",
        "--episodes",
        "1",
        "--switch-every",
        "10",
        "--switch-episodes",
        "2",
        "--new-variants",
        "1",
        "--calibration-steps",
        "60",
        "--out",
        str(out),
    ]
    inference.main(args)
    records = json.loads(out.read_text())["records"]
    assert set(records) == {"tiny|window|dynamics|2", "tiny|switch|dynamics|16", "tiny|blind"}
    assert records["tiny|switch|dynamics|16"]["inference"]["new_variants"]["count"] == 1
    inference.main(args)  # every cell is there: nothing runs again
    assert json.loads(out.read_text())["records"] == records
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps({"title": "Inference", "summary": "Tiny."}))
    page = tmp_path / "page.md"
    inference.main(["--render", str(out), "--notes", str(notes), "--page", str(page)])
    text = page.read_text()
    assert text.startswith("# Inference\n\nTiny.") and "| tiny | dynamics | 2 |" in text
    assert "| tiny | dynamics | 16 | 10 | 2 |" in text and "task-blind" in text


def test_a_pending_section_without_records_says_so_and_any_other_missing_file_fails(tmp_path: Path) -> None:
    section = {"file": "results/sweeps/none-yet.json", "text": "A protocol under way.", "table": "ablation"}
    lines = offpolicy_page.section_lines("9. Pending", {**section, "pending": True}, root=tmp_path)
    assert "No run has finished yet: its records will be `results/sweeps/none-yet.json`." in lines
    with pytest.raises(FileNotFoundError):
        offpolicy_page.section_lines("9. Missing", section, root=tmp_path)
