"""Switch detection: a synthetic switch in a score stream is detected within a bounded delay, a
stationary stream raises no alarm, and new-variant references report only windows no key fits."""

from __future__ import annotations

import numpy as np
import pytest

from psp_rl.inference import PageHinkley, SwitchDetector, TaskReference


def _stream(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    return np.abs(rng.normal(0.0, scale, n))  # |TD errors| of a fitting critic: half-normal


def _first_alarm(detector: SwitchDetector, values: np.ndarray) -> int | None:
    for t, v in enumerate(values):
        if detector.update(float(v)):
            return t
    return None


@pytest.mark.parametrize("seed", range(5))
def test_no_alarm_on_a_stationary_stream(seed: int) -> None:
    rng = np.random.default_rng(seed)
    detector = SwitchDetector()
    detector.start(_stream(rng, 256, 0.3))  # the task's own data
    assert _first_alarm(detector, _stream(rng, 20_000, 0.3)) is None
    classic = SwitchDetector()  # unknown baseline: the running-mean Page-Hinkley test
    classic.start(_stream(rng, 8, 0.3), known=False)
    assert _first_alarm(classic, _stream(rng, 20_000, 0.3)) is None


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("factor", [3.0, 10.0])
def test_a_switch_is_detected_within_a_bounded_delay(seed: int, factor: float) -> None:
    rng = np.random.default_rng(seed)
    detector = SwitchDetector()
    detector.start(_stream(rng, 256, 0.3))
    before, after = _stream(rng, 2_000, 0.3), _stream(rng, 200, 0.3 * factor)
    alarm = _first_alarm(detector, np.concatenate([before, after]))
    assert alarm is not None and 2_000 <= alarm < 2_000 + 20
    assert detector.since_change <= alarm - 2_000 + 10  # the change point is estimated near the switch
    assert not detector.active  # it stops until restarted


def test_a_stream_already_high_when_watching_starts_still_alarms() -> None:
    # A re-inference that kept the old task: the stream is high from its first sample on.
    rng = np.random.default_rng(0)
    detector = SwitchDetector()
    detector.start(_stream(rng, 256, 0.3))
    assert (_first_alarm(detector, _stream(rng, 100, 1.5)) or 100) < 10
    classic = PageHinkley(delta=1.0, threshold=10.0)  # the classic test adapts its mean: it cannot see it
    assert not any(classic.update(v) for v in np.full(100, 5.0))


def test_page_hinkley_checks_its_arguments_and_resets() -> None:
    with pytest.raises(ValueError, match="threshold > 0"):
        PageHinkley(threshold=0)
    test = PageHinkley(delta=0.0, threshold=1.0, baseline=0.0)
    assert [test.update(v) for v in (0.5, 0.4, 0.2)] == [False, False, True]
    test.reset()
    assert test.n == 0 and not test.update(0.5)


def test_new_variants_need_a_calibrated_task_and_every_task_to_miss() -> None:
    ref = TaskReference(3, factor=3.0, min_samples=4)
    ref.add(0, [1.0, 1.0, 1.0])
    assert not ref.calibrated and not ref.is_new(np.array([10.0, 10.0, 10.0]))
    ref.add(0, [1.0])
    ref.add(1, [2.0] * 4)
    ref.add(2, [0.5] * 3)  # not calibrated yet: held to the calibrated tasks' median level, 1.5
    assert ref.calibrated and not ref.known(2)
    np.testing.assert_allclose(ref.thresholds(), [3.0, 6.0, 4.5])
    assert ref.is_new(np.array([10.0, 10.0, 10.0])) and not ref.is_new(np.array([10.0, 10.0, 4.0]))
    ref.add(2, [0.5])
    assert ref.calibrated
    np.testing.assert_allclose(ref.thresholds(), [3.0, 6.0, 1.5])
    assert ref.is_new(np.array([3.5, 6.5, 2.0]))
    assert not ref.is_new(np.array([3.5, 5.0, 2.0]))  # task 1 still fits
    with pytest.raises(ValueError, match="new_factor must be > 1"):
        TaskReference(3, factor=1.0)
