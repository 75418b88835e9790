"""The drift family: attributes of ``env.unwrapped`` (and a gain on the action) that move continuously
with the environment steps, and report the drift phase as a continuous task coordinate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from psp_rl.envs.physics import check_physics_names, set_physics
from psp_rl.envs.variant import VariantWrapper, check_task
from psp_rl.utils import did_you_mean

__all__ = ["PhysicsDrift", "van_der_corput"]


def van_der_corput(index: int, base: int = 2) -> float:
    """The ``index``-th term of the van der Corput sequence: the digits of ``index`` mirrored after the point.

    In base 2: ``0, 1/2, 1/4, 3/4, 1/8, 5/8, 3/8, 7/8, 1/16, ...``. Every prefix of the sequence is spread
    evenly over ``[0, 1)`` (the first ``2^m`` terms are exactly ``{j / 2^m}``), and term ``k`` does not depend
    on how many terms are used.

    Example::

        [van_der_corput(k) for k in range(5)]   # [0.0, 0.5, 0.25, 0.75, 0.125]

    :param index: the term, an integer ``>= 0``.
    :param base: the base, an integer ``>= 2``.
    :return: a value in ``[0, 1)``.
    :raises ValueError: when ``index`` or ``base`` is out of range.
    """
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"van_der_corput needs an integer index >= 0, got {index!r}.")
    if isinstance(base, (bool, np.bool_)) or not isinstance(base, (int, np.integer)) or base < 2:
        raise ValueError(f"van_der_corput needs an integer base >= 2, got {base!r}.")
    n, b = int(index), int(base)
    value, scale = 0.0, 1.0 / b
    while n:
        n, digit = divmod(n, b)
        value += digit * scale
        scale /= b
    return value


class PhysicsDrift(VariantWrapper):
    """Physics attributes of ``env.unwrapped`` (and a gain on the action) that move continuously with the
    environment steps.

    ``value(t) = low + (high - low) * w(t / period + phase_k)``, ``t`` counting every step of this
    wrapper (across episodes), where ``w`` is ``(1 + sin(2 pi x)) / 2`` (``kind="sine"``), ``(1 + cos(2 pi x))
    / 2`` (``kind="cosine"``: at ``high`` at phase 0) or a triangle wave going linearly from 0 to 1 and back
    once per period (``kind="linear"``). With ``phase_per_task=True``
    variant ``k`` starts at phase ``phase_k`` = the ``k``-th term of the base-2 van der Corput sequence
    (:func:`van_der_corput`: variant 0 -> 0, 1 -> 1/2, 2 -> 1/4, 3 -> 3/4, 4 -> 1/8, 5 -> 5/8, ...), so the
    variants differ, the phases of any first ``K`` variants are spread evenly over the period, and the
    phase of variant ``k`` does not depend on ``K`` (a suite grown to more variants keeps its old ones);
    otherwise ``phase_k = 0``. The current values are in ``info["drift"][attribute]``.

    One attribute: ``attribute``, ``low`` and ``high``. Several attributes that drift together:
    ``attributes={name: [low, high], ...}`` instead; they share the clock, the period, the wave and the
    phase (every attribute is at its ``low`` at the same time), so there is one drift phase. Drive all the
    drifting attributes of an environment from one ``drift`` entry this way rather than stacking two:
    stacked drifts have separate clocks (``get_drift_step`` / ``set_drift_step`` through outer wrappers reach
    only the outermost one), and a task observation with ``coordinate=True`` refuses them.

    A drifting actuator: ``action_gain=[low, high]`` multiplies the agent's action, in normalised
    coordinates (``[-1, 1]`` per dimension of a ``Box`` action with finite bounds), by the gain
    ``low + (high - low) * w(x)`` on the same clock, wave and phase as the attributes (with or without
    any), and clips it back to the bounds; the action space stays the base one. The gain is in
    ``info["drift"]["action_gain"]``. With ``low = -high`` the gain at phase ``x + 1/2`` is minus the
    gain at ``x`` (for every kind), so the best action at one phase is the opposite one half a period
    later: the phases conflict, and each regime recurs every period.

    The drift phase: :meth:`coordinate` is ``(t_a / period + phase_k) % 1``, where ``t_a`` is the clock value
    of the physics applied now (what ``env.unwrapped`` holds): after ``reset`` that is the clock ``t``; after
    a ``step`` it is the ``t`` that step ran with (``t - 1`` once the step has advanced the clock). So the
    coordinate next to an observation is always the phase of the attribute values on ``env.unwrapped``
    (:meth:`value_at_phase` of the coordinate gives them back). ``TaskObservation(..., coordinate=True)``
    puts it into ``obs["coord"]``.

    The drift clock ``t`` (attribute ``drift_step``) runs across episodes and task switches: an unseeded
    ``reset`` leaves it running. A *seeded* ``reset(seed=s)`` starts it again from its origin, 0 or the step
    last given to :meth:`set_drift_step`, so that ``reset(seed=s)`` reproduces an episode (the physics
    included: Gymnasium's ``check_env`` asks this) and a clock set from a checkpoint survives the seeded
    first reset of a resumed run. A rebuilt environment starts it at 0. :meth:`get_drift_step` and
    :meth:`set_drift_step` read and set it, also through outer wrappers
    (``vec_env.env_method("get_drift_step")``). ``psp_rl.training.train`` saves the clock of every
    training sub-env with each checkpoint and sets it back on ``--resume``, so a resumed run sees the
    same drift as an uninterrupted one. Evaluation convention: every evaluation (the continual
    evaluation of a run and ``psp-rl eval``) restarts the clock of each evaluation env at 0 when it
    starts (it then runs on across that evaluation's episodes), so every evaluation of a task sees the
    same drift, whatever the phase, and before or after a resume.

    Example::

        env = PhysicsDrift(gym.make("MountainCar-v0"), num_tasks=1, attribute="gravity",
                           low=0.002, high=0.003, period=10_000)
        env = PhysicsDrift(gym.make("Pendulum-v1"), num_tasks=1, attributes={"g": [6, 14], "m": [0.7, 1.5]},
                           period=40_000)
        env = PhysicsDrift(gym.make("Pendulum-v1"), num_tasks=1, action_gain=[-1.0, 1.0], kind="cosine",
                           period=20_000)   # the torque's sign flips for phases in (1/4, 3/4)

    :param env: the environment.
    :param num_tasks: number of variants ``K``.
    :param seed: variant seed (the drift itself is deterministic; kept for a uniform signature).
    :param task: the initial variant.
    :param attribute: the attribute of ``env.unwrapped`` that drifts (with ``low`` and ``high``).
    :param low: smallest value.
    :param high: largest value.
    :param attributes: instead of ``attribute``/``low``/``high``: ``{name: [low, high]}``, attributes that
        drift together.
    :param action_gain: ``[low, high]``: a drifting gain on the normalised action (a ``Box`` action space).
    :param period: steps per full cycle.
    :param kind: ``"sine"``, ``"cosine"`` or ``"linear"``.
    :param phase_per_task: offset the phase of variant ``k`` by ``van_der_corput(k)`` of a period.
    """

    family = "drift"
    reports_coordinate = True
    KINDS = ("sine", "cosine", "linear")

    def __init__(
        self,
        env: gym.Env,
        num_tasks: int,
        seed: int = 0,
        task: int = 0,
        *,
        attribute: str | None = None,
        low: float | None = None,
        high: float | None = None,
        attributes: Mapping[str, Sequence[float]] | None = None,
        action_gain: Sequence[float] | None = None,
        period: int,
        kind: str = "sine",
        phase_per_task: bool = True,
    ) -> None:
        super().__init__(env, num_tasks, seed, task)
        if kind not in self.KINDS:
            raise ValueError(
                f"drift kind must be one of {list(self.KINDS)}, got {kind!r}.{did_you_mean(kind, self.KINDS)}"
            )
        if (
            isinstance(period, bool)
            or not isinstance(period, (int, float, np.integer, np.floating))
            or period <= 0
        ):
            raise ValueError(f"drift period must be a positive number of steps, got {period!r}.")
        self.action_range = None if action_gain is None else self._check_action_gain(env, action_gain)
        self.ranges = self._check_ranges(attribute, low, high, attributes, self.action_range is not None)
        check_physics_names(env, list(self.ranges), self.family)
        # the first (or only) attribute: what value() reports without an attribute name (None: gain only)
        self.attribute: str | None = next(iter(self.ranges), None)
        # its range; with the gain alone, the gain's range
        self.low, self.high = next(iter(self.ranges.values()), self.action_range or (1.0, 1.0))
        self.period, self.kind = float(period), kind
        self.phase_per_task = bool(phase_per_task)
        self.drift_step = 0
        self.clock_origin = 0  # where a seeded reset starts the clock: 0 or the last set_drift_step
        self._applied_step: int | None = None  # the clock value of the physics on env.unwrapped

    @staticmethod
    def _check_ranges(
        attribute: str | None,
        low: float | None,
        high: float | None,
        attributes: Mapping[str, Sequence[float]] | None,
        gain_only: bool = False,
    ) -> dict[str, tuple[float, float]]:
        single = [n for n, v in (("attribute", attribute), ("low", low), ("high", high)) if v is not None]
        if attributes is not None:
            if single:
                raise ValueError(
                    f"drift takes either 'attribute' with 'low' and 'high' or 'attributes' "
                    f"({{name: [low, high]}}), not both: drop {single}."
                )
            if not isinstance(attributes, Mapping) or not attributes:
                raise ValueError(
                    f"drift 'attributes' must be a non-empty mapping name -> [low, high], got {attributes!r}."
                )
            bounds: dict[str, Any] = dict(attributes)
        elif gain_only and not single:
            return {}  # only the action gain drifts
        else:
            if len(single) != 3:
                missing = sorted({"attribute", "low", "high"} - set(single))
                raise ValueError(
                    f"drift needs 'attribute', 'low' and 'high' (missing {missing}), 'attributes' "
                    "({name: [low, high]}) for several attributes drifting together, or 'action_gain' "
                    "([low, high]) alone."
                )
            bounds = {str(attribute): [low, high]}
        ranges: dict[str, tuple[float, float]] = {}
        for name, pair in bounds.items():
            if (
                not isinstance(pair, (list, tuple))
                or len(pair) != 2
                or not all(isinstance(v, (int, float, np.integer, np.floating)) for v in pair)
                or isinstance(pair[0], bool)
                or isinstance(pair[1], bool)
            ):
                raise ValueError(f"drift range of {name!r} must be [low, high] (two numbers), got {pair!r}.")
            lo, hi = float(pair[0]), float(pair[1])
            if lo > hi:
                raise ValueError(f"drift needs low <= high, got low={lo}, high={hi} for {name!r}.")
            ranges[str(name)] = (lo, hi)
        return ranges

    @staticmethod
    def _check_action_gain(env: gym.Env, gain: Sequence[float]) -> tuple[float, float]:
        space = env.action_space
        if not (
            isinstance(space, spaces.Box)
            and np.issubdtype(space.dtype, np.floating)
            and np.all(np.isfinite(space.low))
            and np.all(np.isfinite(space.high))
        ):
            raise ValueError(
                f"drift 'action_gain' needs a Box action space with finite bounds, got {space}: drop "
                "action_gain or use an environment with continuous actions (e.g. Pendulum-v1)."
            )
        if (
            not isinstance(gain, (list, tuple))
            or len(gain) != 2
            or not all(isinstance(v, (int, float, np.integer, np.floating)) for v in gain)
            or any(isinstance(v, (bool, np.bool_)) for v in gain)
            or gain[0] > gain[1]
        ):
            raise ValueError(f"drift 'action_gain' must be [low, high] with low <= high, got {gain!r}.")
        return float(gain[0]), float(gain[1])

    def phase(self, task: int | None = None) -> float:
        """The phase offset of a variant, in periods: ``van_der_corput(task)`` with ``phase_per_task``, else 0.

        :param task: the variant (default: the current one).
        :return: a value in ``[0, 1)``; it does not depend on ``K``.
        """
        task = self.variant if task is None else check_task(task, self.num_tasks)
        return van_der_corput(task) if self.phase_per_task else 0.0

    def wave(self, x: float) -> float:
        """The wave ``w`` at a phase: 0 at ``low``, 1 at ``high``.

        :param x: the phase in periods (any real number; the wave has period 1).
        :return: a value in ``[0, 1]``.
        """
        if self.kind == "sine":
            return 0.5 * (1.0 + math.sin(2.0 * math.pi * x))
        if self.kind == "cosine":
            return 0.5 * (1.0 + math.cos(2.0 * math.pi * x))
        frac = x % 1.0
        return 2.0 * frac if frac < 0.5 else 2.0 - 2.0 * frac

    def value_at_phase(self, x: float, attribute: str | None = None) -> float:
        """The value of a drifting attribute at a phase (e.g. at the :meth:`coordinate`).

        :param x: the phase in periods.
        :param attribute: one of the drifting attributes (default: the first).
        :return: the attribute value.
        """
        name = self.attribute if attribute is None else attribute
        if name is None:
            raise ValueError("no attribute drifts here, only the action gain: use gain_at_phase.")
        if name not in self.ranges:
            raise ValueError(f"{name!r} does not drift here.{did_you_mean(name, self.ranges)}")
        lo, hi = self.ranges[name]
        return lo + (hi - lo) * self.wave(x)

    def value(self, step: int, task: int | None = None, attribute: str | None = None) -> float:
        """The drifting value at a step count for a variant.

        :param step: the step count ``t``.
        :param task: the variant (default: the current one).
        :param attribute: one of the drifting attributes (default: the first).
        :return: the attribute value.
        """
        return self.value_at_phase(step / self.period + self.phase(task), attribute)

    def values(self, step: int, task: int | None = None) -> dict[str, float]:
        """Every drifting value at a step count for a variant.

        :param step: the step count ``t``.
        :param task: the variant (default: the current one).
        :return: attribute name -> value.
        """
        x = step / self.period + self.phase(task)
        return {name: self.value_at_phase(x, name) for name in self.ranges}

    def gain_at_phase(self, x: float) -> float:
        """The action gain at a phase (e.g. at the :meth:`coordinate`).

        :param x: the phase in periods.
        :return: the gain, 1 when ``action_gain`` is not set.
        """
        if self.action_range is None:
            return 1.0
        lo, hi = self.action_range
        return lo + (hi - lo) * self.wave(x)

    def action_at_phase(self, action: Any, x: float) -> np.ndarray:
        """The action the base environment receives at a phase: the normalised action times the gain,
        clipped to the bounds (the action itself, clipped, when ``action_gain`` is not set).

        :param action: an action of the base ``Box`` action space.
        :param x: the phase in periods.
        :return: the base action (same shape and dtype as the space).
        """
        space: Any = self.env.action_space
        low, high = space.low.astype(np.float64), space.high.astype(np.float64)
        unit = 2.0 * (np.asarray(action, dtype=np.float64).reshape(space.shape) - low) / (high - low) - 1.0
        unit = np.clip(self.gain_at_phase(x) * unit, -1.0, 1.0)
        return (low + (unit + 1.0) * 0.5 * (high - low)).astype(space.dtype)

    def coordinate(self) -> float:
        """The drift phase of the physics applied now: ``(t_a / period + phase_k) % 1`` in ``[0, 1)``.

        ``t_a`` is the clock value the attributes on ``env.unwrapped`` were computed from (see the class
        docstring); before the first ``reset`` or ``step`` it is the clock ``t``.

        :return: the phase, in ``[0, 1)``.
        """
        step = self.drift_step if self._applied_step is None else self._applied_step
        return (step / self.period + self.phase()) % 1.0

    def get_drift_step(self) -> int:
        """:return: the drift clock ``t``: the steps this wrapper has taken (across episodes)."""
        return int(self.drift_step)

    def set_drift_step(self, step: int) -> None:
        """Set the drift clock (e.g. to the value saved in a checkpoint) and the origin a seeded ``reset``
        starts it from; the drifting value follows from the next ``step`` or ``reset`` on.

        :param step: the step count ``t``, an integer ``>= 0``.
        :raises ValueError: when ``step`` is not a non-negative integer.
        """
        if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"the drift clock must be an integer >= 0, got {step!r}.")
        self.drift_step = self.clock_origin = int(step)

    def _set_current(self) -> dict[str, float]:
        """Apply the physics of the clock ``t``; :return: the drifting values (and the action gain)."""
        values = self.values(self.drift_step)
        set_physics(self.env, values)
        self._applied_step = self.drift_step
        if self.action_range is not None:
            values["action_gain"] = self.gain_at_phase(self.drift_step / self.period + self.phase())
        return values

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if seed is not None:
            self.drift_step = self.clock_origin  # a seeded reset reproduces the episode, physics included
        obs, info = super().reset(seed=seed, options=options)
        values = self._set_current()
        info["drift"] = {**info.get("drift", {}), **values}
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        values = self._set_current()
        if self.action_range is not None:
            action = self.action_at_phase(action, self.drift_step / self.period + self.phase())
        self.drift_step += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["drift"] = {**info.get("drift", {}), **values}
        return obs, reward, terminated, truncated, info
