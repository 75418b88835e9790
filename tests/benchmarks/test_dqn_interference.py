"""benchmarks/dqn_interference.py: the probe's figures and one tiny probed run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dqn_interference import compare, main


def test_compare_measures_the_lead_change_in_units_of_the_lead() -> None:
    reference = np.array([[10.0, 9.0], [10.0, 8.0]])  # leads 1 and 2, mean |Q| 9.25
    now = np.array([[10.0, 10.5], [11.0, 8.0]])  # state 0 flips (lead -0.5), state 1 lead 3
    figures = compare(reference, now)
    assert figures["flipped"] == pytest.approx(0.5)
    assert figures["ratio"] == pytest.approx(np.median([1.5, 0.5]))
    assert figures["gap"] == pytest.approx(1.5 / 9.25)
    assert figures["dq"] == pytest.approx((0 + 1.5 + 1 + 0) / 4 / 9.25)
    assert compare(reference, reference)["ratio"] == 0.0


def test_a_probed_run_records_each_earlier_variant_at_each_later_phase_end(tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "gap.json"
    argv = ["--label", "tiny", "--num-tasks", "3", "--steps-per-task", "600", "--states", "50"]
    argv += ["--run-dir", str(tmp_path / "runs"), "--out", str(out)]
    argv += ["--set", "hyperparams.learning_starts=100", "hyperparams.train_freq=64", "keep_best.freq=0"]
    main(argv)
    (record,) = json.loads(out.read_text())
    assert [(row["phase"], row["task"]) for row in record["probe"]] == [(1, 0), (2, 0), (2, 1)]
    assert record["probe_env_steps"] == 3 * 50
    assert all(row["dq"] > 0 for row in record["probe"])  # later phases moved the earlier variants' Q
    assert record["interaction"]["training"] >= 3 * 600
    assert main(argv) == ""  # the same label and seed again: skipped
