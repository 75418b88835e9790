"""Metric functions against hand-computed values (Continual World definitions)."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import psp_rl.metrics as metrics
from psp_rl.metrics import (
    PerformanceMatrix,
    area_under_curve,
    average_performance,
    forgetting,
    forgetting_per_task,
    forward_transfer,
)

# Three tasks trained in order; row i = after phase i.
R3 = [
    [0.9, 0.1, 0.0],
    [0.5, 1.0, 0.2],
    [0.3, 0.8, 0.7],
]


def test_docstring_examples() -> None:
    result = doctest.testmod(metrics, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_average_performance_is_mean_of_last_row() -> None:
    assert average_performance(R3) == pytest.approx((0.3 + 0.8 + 0.7) / 3)
    assert average_performance([[0.25]]) == pytest.approx(0.25)


def test_forgetting_by_hand() -> None:
    # task 0: R[0,0] - R[2,0] = 0.9 - 0.3 = 0.6 ; task 1: 1.0 - 0.8 = 0.2 ; task 2: last, undefined
    per_task = forgetting_per_task(R3)
    assert per_task[0] == pytest.approx(0.6)
    assert per_task[1] == pytest.approx(0.2)
    assert math.isnan(per_task[2])
    assert forgetting(R3) == pytest.approx(0.4)


def test_forgetting_can_be_negative_backward_transfer() -> None:
    R = [[0.2, 0.0], [0.6, 1.0]]
    assert forgetting(R) == pytest.approx(-0.4)


def test_forgetting_single_row_is_nan() -> None:
    assert math.isnan(forgetting([[1.0, 0.0]]))


def test_forgetting_with_phase_tasks_repeats_and_multitask_phase() -> None:
    # phases train tasks 0, 1, 0, then all tasks at once
    R = [
        [0.8, 0.0],
        [0.4, 0.9],
        [1.0, 0.5],
        [0.7, 0.6],
    ]
    per_task = forgetting_per_task(R, phase_tasks=[0, 1, 0, None])
    assert per_task[0] == pytest.approx(1.0 - 0.7)  # last phase that trained task 0 is phase 2
    assert per_task[1] == pytest.approx(0.9 - 0.6)
    assert forgetting(R, phase_tasks=[0, 1, 0, None]) == pytest.approx(0.3)


def test_forgetting_rejects_short_phase_tasks() -> None:
    with pytest.raises(ValueError, match="phase_tasks"):
        forgetting(R3, phase_tasks=[0, 1])


def test_bad_matrix_shape_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="2-D"):
        average_performance([1.0, 2.0])


def test_area_under_curve_by_hand() -> None:
    steps = [0, 100, 200, 400]
    values = [0.0, 0.5, 1.0, 1.0]
    # trapezoids: 100*0.25 + 100*0.75 + 200*1.0 = 300, over a span of 400
    assert area_under_curve(steps, values) == pytest.approx(0.75)
    # window [100, 200]: one trapezoid 100*0.75 over 100
    assert area_under_curve(steps, values, start=100, end=200) == pytest.approx(0.75)
    assert area_under_curve(steps, values, start=200) == pytest.approx(1.0)
    assert area_under_curve([5], [0.3]) == pytest.approx(0.3)
    assert math.isnan(area_under_curve(steps, values, start=500))


def test_forward_transfer_by_hand() -> None:
    assert forward_transfer(0.6, 0.2) == pytest.approx((0.6 - 0.2) / 0.8)
    ft = forward_transfer([0.6, 0.1, 0.9], [0.2, 0.5, 1.0])
    assert ft[0] == pytest.approx(0.5)
    assert ft[1] == pytest.approx(-0.8)
    assert math.isnan(ft[2])  # a perfect reference leaves nothing to transfer


def test_performance_matrix_round_trip_and_plot(tmp_path) -> None:
    m = PerformanceMatrix(3, phase_tasks=[0, 1, 2])
    assert math.isnan(m.average_performance())
    for i, row in enumerate(R3):
        m.append(row, raw=[500 * v for v in row], step=1000 * (i + 1))
    assert m.R.shape == (3, 3)
    assert m.average_performance() == pytest.approx(average_performance(R3))
    assert m.forgetting() == pytest.approx(0.4)

    m.to_json(tmp_path / "m.json")
    back = PerformanceMatrix.from_json(tmp_path / "m.json")
    np.testing.assert_allclose(back.R, m.R)
    assert back.steps == [1000, 2000, 3000]
    assert back.raw_rows[2] == pytest.approx([150.0, 400.0, 350.0])

    png = m.plot(tmp_path / "m.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_large_diagonal_matrix_keeps_a_bounded_figure() -> None:
    k = 60  # a diagonal matrix (eval.matrix=diagonal): R[j, j] and the last row only
    m = PerformanceMatrix(k)
    for j in range(k):
        row = [math.nan] * k
        row[j] = 1.0
        m.append(row if j < k - 1 else [0.5] * (k - 1) + [1.0])
    assert m.forgetting() == pytest.approx(0.5)
    assert m.average_performance() == pytest.approx((0.5 * (k - 1) + 1.0) / k)
    fig = m.figure()
    width, height = fig.get_size_inches()
    assert width <= 1.2 + 0.9 * PerformanceMatrix.ANNOTATE_MAX
    assert height <= 1.2 + 0.7 * PerformanceMatrix.ANNOTATE_MAX
    assert not fig.axes[0].texts  # no per-cell annotation at this size


def test_performance_matrix_partial_rows() -> None:
    m = PerformanceMatrix(3)
    m.append(R3[0])
    assert math.isnan(m.forgetting())
    m.append(R3[1])
    assert m.forgetting() == pytest.approx(0.9 - 0.5)
    with pytest.raises(ValueError, match="one value per task"):
        m.append([1.0])
