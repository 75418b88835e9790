"""ICR and TPOT as the MG10 protocol's trainer computes them."""

from __future__ import annotations

import math

import pytest

from psp_rl.lifelong_metrics import icr_tpot


def test_icr_sums_the_tasks_and_tpot_sums_the_evaluations() -> None:
    history = [
        {"step": 0, "returns": [1.0, 1.0]},  # before training: not one of the protocol's evaluations
        {"step": 100, "returns": [0.5, 0.25]},
        {"step": 150, "returns": [0.9, 0.9]},  # not on the interval
        {"step": 200, "returns": [0.75, math.nan]},  # a task left out (a diagonal evaluation)
        {"step": 300, "returns": [0.5, 0.5]},
    ]
    assert icr_tpot(history, every=100) == ([0.75, 1.0], 1.75)
    assert icr_tpot(history) == ([0.75, 1.8, 1.0], pytest.approx(3.55))
    with pytest.raises(ValueError, match="positive"):
        icr_tpot(history, every=0)
