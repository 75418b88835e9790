"""Switch detection without a signal: a Page-Hinkley / CUSUM test on the chosen task's score stream,
and the per-task reference scores that tell a variant no key fits ("new") from a known one.

The stream is the chosen task's per-step score (its entropy on the new observation, or its
``|TD error|`` on the new transition), divided by the task's typical score on its own data and
clipped, so the test's ``delta`` and ``threshold`` are in units of that scale and one outlier cannot
raise an alarm alone. The baseline is known (the task's own data), so a stream that is already high
when watching starts -- a re-inference that kept the old task -- still raises an alarm.

Example::

    detector = SwitchDetector(delta=1.0, threshold=10.0)
    detector.start(own_scores)          # scores of the chosen task on its own data
    alarms = [detector.update(x) for x in stream]
"""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["PageHinkley", "SwitchDetector", "TaskReference"]


class PageHinkley:
    """The Page-Hinkley test for an increase of the mean of a stream (Page, 1954; Hinkley, 1971).

    ``m_t = Σ_{i ≤ t} (x_i − μ_i − δ)``; an alarm when ``m_t − min_{i ≤ t} m_i > λ``. ``μ_i`` is the
    running mean ``x̄_i`` of the stream (the classic test: an increase relative to where the stream
    started), or a known ``baseline`` (then the test is Page's one-sided CUSUM).

    :param delta: the tolerated increase ``δ``
    :param threshold: the alarm threshold ``λ``
    :param baseline: the mean of the stream before a change, when known
    :param min_samples: no alarm before this many samples
    """

    def __init__(
        self, delta: float = 1.0, threshold: float = 10.0, baseline: float | None = None, min_samples: int = 1
    ) -> None:
        if not delta >= 0 or not threshold > 0:
            raise ValueError(f"Page-Hinkley needs delta >= 0 and threshold > 0, got {delta} and {threshold}.")
        self.delta, self.threshold, self.min_samples = float(delta), float(threshold), int(min_samples)
        self.baseline = baseline
        self.reset()

    def reset(self, baseline: float | None = None) -> None:
        """Forget the stream (and set a new known baseline, if given)."""
        if baseline is not None:
            self.baseline = float(baseline)
        self.n, self.mean, self.cum, self.low, self.low_at = 0, 0.0, 0.0, 0.0, 0

    def update(self, x: float) -> bool:
        """:param x: the next value
        :return: whether the test raises an alarm now
        """
        self.n += 1
        self.mean += (float(x) - self.mean) / self.n
        self.cum += float(x) - (self.mean if self.baseline is None else self.baseline) - self.delta
        if self.cum < self.low:
            self.low, self.low_at = self.cum, self.n
        return self.n >= self.min_samples and self.cum - self.low > self.threshold

    @property
    def since_change(self) -> int:
        """Samples since the estimated change point (where ``m_t`` was lowest)."""
        return self.n - self.low_at


class SwitchDetector:
    """A Page-Hinkley test on a score stream, in units of the chosen task's scale (a CUSUM when the baseline is known).

    :meth:`start` takes scores of the chosen task on its own data: their ``quantile`` (the median by
    default) is the scale, and the
    mean of the normalised, clipped scores the baseline, so under no switch the normalised stream has
    mean ``baseline`` and the statistic drifts down by ``delta`` per step.

    :param delta: tolerated increase, in units of the scale
    :param threshold: alarm threshold, in units of the scale
    :param clip: each normalised value is clipped to ``[0, clip]`` (no single outlier raises an alarm)
    :param quantile: the scale is this quantile of the own scores (0.5: the median; higher for
        heavy-tailed scores, such as the dynamics method's)
    :param log_scale: normalise as ``log10(1 + score / scale)`` instead of ``score / scale``: for scores
        whose size spans orders of magnitude on the task's own data (a wrong task's are larger by
        several orders, a calm state's smaller than a wild one's by a few)
    """

    def __init__(
        self,
        delta: float = 1.0,
        threshold: float = 10.0,
        clip: float = 5.0,
        quantile: float = 0.5,
        log_scale: bool = False,
    ) -> None:
        if not 0 < quantile < 1:
            raise ValueError(f"quantile must lie in (0, 1), got {quantile}.")
        self.test = PageHinkley(delta, threshold, baseline=1.0)
        self.clip, self.quantile, self.log_scale = float(clip), float(quantile), bool(log_scale)
        self.scale = 1.0
        self.active = self.known = False

    def _normalise(self, scores: np.ndarray | float) -> np.ndarray:
        ratio = np.asarray(scores, dtype=np.float64) / self.scale
        return np.clip(np.log10(1.0 + ratio) if self.log_scale else ratio, 0.0, self.clip)

    def start(self, own_scores: np.ndarray, known: bool = True) -> None:
        """Start watching a fresh stream.

        :param own_scores: scores of the chosen task on its own data (its reference, or the window it
            was chosen on)
        :param known: the scores are a reliable reference (the baseline is fixed to theirs); ``False``
            (a few scores of a first window) keeps their scale but tests against the stream's running
            mean (the classic Page-Hinkley test)
        """
        own = np.asarray(own_scores, dtype=np.float64).reshape(-1)
        self.scale = max(float(np.quantile(own, self.quantile)) if own.size else 1.0, 1e-8)
        self.test.baseline = None
        self.known = bool(known and own.size)
        self.test.reset(baseline=float(self._normalise(own).mean()) if self.known else None)
        self.active = True

    def stop(self) -> None:
        """Stop watching (until the next :meth:`start`)."""
        self.active = False

    def update(self, score: float) -> bool:
        """:param score: the chosen task's next score
        :return: whether a switch is detected now (then the detector stops)
        """
        if not self.active:
            return False
        alarm = self.test.update(float(self._normalise(score)))
        if alarm:
            self.active = False
        return alarm

    @property
    def since_change(self) -> int:
        """Samples since the estimated switch (the data to keep for re-inference)."""
        return self.test.since_change


class TaskReference:
    """Per-task scores on the task's own data: a bounded history each, and its reference level.

    A window is reported as a *new* variant when every task's median score on the window exceeds
    ``factor`` times its reference level (the ``quantile`` of its own scores; the median by default):
    no key fits. A task is calibrated once it has ``min_samples`` scores; a task that is not yet (a
    variant whose episodes are short, say) is held to the median level of the calibrated ones, and no
    window is new before at least one task is calibrated.

    :param num_tasks: ``K``
    :param factor: how many times its reference level a task's score must exceed to not fit
    :param min_samples: scores a task needs before it counts as calibrated
    :param maxlen: scores kept per task
    :param quantile: the reference level's quantile of the own scores
    """

    def __init__(
        self,
        num_tasks: int,
        factor: float = 3.0,
        min_samples: int = 16,
        maxlen: int = 4096,
        quantile: float = 0.5,
    ) -> None:
        if not factor > 1:
            raise ValueError(f"new_factor must be > 1 (a multiple of the reference median), got {factor}.")
        if not 0 < quantile < 1:
            raise ValueError(f"quantile must lie in (0, 1), got {quantile}.")
        self.factor, self.min_samples, self.quantile = float(factor), int(min_samples), float(quantile)
        self.history: list[deque[float]] = [deque(maxlen=maxlen) for _ in range(num_tasks)]

    def add(self, task: int, scores: float | np.ndarray) -> None:
        """Record scores of ``task`` on its own data."""
        self.history[task].extend(np.asarray(scores, dtype=np.float64).reshape(-1).tolist())

    def scores(self, task: int) -> np.ndarray:
        """The reference scores of ``task``."""
        return np.fromiter(self.history[task], dtype=np.float64)

    def level(self, task: int) -> float:
        """The reference level of ``task``: the ``quantile`` of its scores (``nan`` when it has none)."""
        values = self.history[task]
        return (
            float(np.quantile(np.fromiter(values, dtype=np.float64), self.quantile))
            if values
            else float("nan")
        )

    def known(self, task: int) -> bool:
        """Whether ``task`` has enough reference scores."""
        return len(self.history[task]) >= self.min_samples

    @property
    def calibrated(self) -> bool:
        """Whether at least one task has enough reference scores (new variants can be told)."""
        return any(self.known(k) for k in range(len(self.history)))

    def thresholds(self) -> np.ndarray:
        """``(K,)``: ``factor`` times each task's reference level (the calibrated tasks' median level for
        a task that is not calibrated; ``nan`` while none is)."""
        levels = np.array([self.level(k) if self.known(k) else np.nan for k in range(len(self.history))])
        if np.isnan(levels).all():
            return np.full(len(levels), np.nan)
        return self.factor * np.where(np.isnan(levels), np.nanmedian(levels), levels)

    def is_new(self, window_medians: np.ndarray) -> bool:
        """:param window_medians: ``(K,)`` each task's median score on the window
        :return: whether no task fits (always ``False`` until a task is calibrated)
        """
        return self.calibrated and bool(np.all(np.asarray(window_medians) > self.thresholds()))
