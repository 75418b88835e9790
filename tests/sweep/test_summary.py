"""The sweep's aggregates (rliable): mean, IQM and bootstrap intervals per grid point, reproducible; the
table and the plot (no training, no Ray)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rliable.library")

from psp_rl.sweep.summary import format_table, plot_summary, run_scores, summarize_point  # noqa: E402


def metrics(last_row: list[float], diagonal: list[float]) -> dict[str, Any]:
    """metrics.json of a run whose matrix has ``diagonal`` (R[j, j]) and ``last_row`` (R[K-1, j])."""
    k = len(last_row)
    rows = [[diagonal[i] if j == i else 0.0 for j in range(k)] for i in range(k - 1)] + [last_row]
    forgetting = [diagonal[j] - last_row[j] for j in range(k - 1)] + [None]
    return {
        "perf_matrix": rows,
        "forgetting_per_task": forgetting,
        "avg_performance": float(np.mean(last_row)),
        "forgetting": float(np.mean(forgetting[:-1])),
    }


RUNS = [
    metrics([0.9, 0.8, 1.0], [1.0, 1.0, 1.0]),
    metrics([0.5, 0.7, 0.9], [0.9, 0.8, 0.9]),
    metrics([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]),
]


def test_aggregates_over_runs_and_tasks_are_reproducible() -> None:
    state = np.random.get_state()
    stats = summarize_point(RUNS, reps=500)
    assert np.random.get_state()[1].tolist() == state[1].tolist()  # the global generator is left alone
    perf, forget = stats["avg_performance"], stats["forgetting"]
    assert perf["n"] == 3 and perf["mean"] == pytest.approx(np.mean([m["avg_performance"] for m in RUNS]))
    cells = np.array([m["perf_matrix"][-1] for m in RUNS]).ravel()
    assert perf["iqm"] == pytest.approx(np.mean(np.sort(cells)[2:7]))  # 25 % trimmed off each end of 9
    assert forget["mean"] == pytest.approx(np.mean([m["forgetting"] for m in RUNS]))
    for s in (perf, forget):
        assert (
            s["ci_mean"][0] <= s["mean"] <= s["ci_mean"][1] and s["ci_iqm"][0] <= s["iqm"] <= s["ci_iqm"][1]
        )
    assert perf["per_run"] == pytest.approx([m["avg_performance"] for m in RUNS])
    assert summarize_point(RUNS, reps=500) == stats  # a fixed bootstrap seed: the same intervals
    assert summarize_point(RUNS, reps=500, seed=1)["avg_performance"]["ci_mean"] != perf["ci_mean"]


def test_runs_without_a_metric_and_with_gaps() -> None:
    one_task = {
        "perf_matrix": [[0.7]],
        "forgetting_per_task": [None],
        "avg_performance": 0.7,
        "forgetting": None,
    }
    assert run_scores(one_task, "avg_performance") == [0.7] and run_scores(one_task, "forgetting") is None
    stats = summarize_point([one_task, one_task], reps=100)
    assert stats["forgetting"] == {
        "n": 0,
        "mean": None,
        "iqm": None,
        "ci_mean": None,
        "ci_iqm": None,
        "per_run": [],
    }
    gaps = {**RUNS[0], "perf_matrix": [[1.0, None, None], [None, 1.0, None], [0.9, None, 1.0]]}
    assert run_scores(gaps, "avg_performance") == [RUNS[0]["avg_performance"]]  # its one number instead
    assert summarize_point([], reps=10)["avg_performance"]["n"] == 0


def test_table_and_plot(tmp_path: Path) -> None:
    records = [
        {
            "label": "mode=psp",
            "seeds": [0, 1, 2],
            "finished_seeds": [0, 1, 2],
            **summarize_point(RUNS, reps=200),
        },
        {"label": "mode=shared", "seeds": [0, 1, 2], "finished_seeds": [], **summarize_point([], reps=10)},
    ]
    table = format_table(records)
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["grid", "point"] and lines[2].startswith("mode=psp     3/3")
    assert "n/a" in lines[3] and lines[3].split()[1] == "0/3"
    mean = records[0]["avg_performance"]["mean"]
    assert f"{mean:.3f} [" in lines[2]
    path = plot_summary(records, tmp_path / "summary.png", title="t")
    assert path.read_bytes()[:4] == b"\x89PNG"
