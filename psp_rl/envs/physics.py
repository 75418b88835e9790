"""Physics families: variant ``k`` sets attributes of ``env.unwrapped`` (gravity, lengths, masses...),
or one attribute drifts continuously with the environment steps.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from psp_rl.envs.variant import VariantWrapper, check_task, variant_rng
from psp_rl.utils import did_you_mean

__all__ = ["PhysicsDrift", "PhysicsVariant", "physics_attributes", "set_physics", "van_der_corput"]


def physics_attributes(env: gym.Env) -> list[str]:
    """Names of the numeric scalar attributes of ``env.unwrapped`` (candidates for physics variants).

    :param env: any Gymnasium environment.
    :return: sorted attribute names (instance and class attributes; properties are not evaluated).
    """
    base = env.unwrapped
    names = []
    for name in dir(base):
        if name.startswith("_"):
            continue
        try:
            value = inspect.getattr_static(base, name)
        except AttributeError:
            continue
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)
        ):
            names.append(name)
    return sorted(names)


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


# Attributes that environments compute from others in ``__init__`` (CartPole): set_physics recomputes them.
_DERIVED = {"total_mass": ("masspole", "masscart"), "polemass_length": ("masspole", "length")}


def _derived_attributes(env: gym.Env) -> dict[str, tuple[str, ...]]:
    base = env.unwrapped
    return {
        name: sources
        for name, sources in _DERIVED.items()
        if hasattr(base, name) and all(hasattr(base, s) for s in sources)
    }


def _check_physics_names(env: gym.Env, names: Sequence[str], family: str) -> None:
    derived = _derived_attributes(env)
    available = [n for n in physics_attributes(env) if n not in derived]
    for name in names:
        if name in derived:
            raise ValueError(
                f"{family}: {name!r} of {type(env.unwrapped).__name__} is computed from "
                f"{' and '.join(derived[name])}: set those instead."
            )
        if name not in available:
            raise ValueError(
                f"{family}: {type(env.unwrapped).__name__} has no numeric attribute {name!r}."
                f"{did_you_mean(name, available)}"
            )


def set_physics(env: gym.Env, values: Mapping[str, float]) -> None:
    """Set attributes of ``env.unwrapped`` and recompute the quantities derived from them.

    CartPole caches ``total_mass = masspole + masscart`` and ``polemass_length = masspole * length`` in
    ``__init__``; they are recomputed here whenever the environment has those attributes.

    :param env: any Gymnasium environment.
    :param values: attribute name -> new value.
    """
    base: Any = env.unwrapped
    for name, value in values.items():
        setattr(base, name, float(value))
    derived = _derived_attributes(env)
    if "total_mass" in derived:
        base.total_mass = base.masspole + base.masscart
    if "polemass_length" in derived:
        base.polemass_length = base.masspole * base.length


class PhysicsVariant(VariantWrapper):
    """Variant ``k`` sets attributes of ``env.unwrapped`` (applied at ``reset``).

    Give exactly one of:

    - ``grid``: ``{name: [values...]}``; the variants are the first ``K`` points of the Cartesian product
      (in key order, last key fastest);
    - ``values``: a list of ``{name: value}`` mappings, one per variant (at least ``K``);
    - ``ranges``: ``{name: [low, high]}``; variant ``k`` draws each value uniformly, from ``(seed, k)``.

    Variant ``k`` does not depend on ``K``: grid points and listed values are taken in order, and range
    draws depend only on ``(seed, k)``, so a suite grown from ``K`` to ``K2`` variants keeps its first ``K``.
    Attributes a variant does not name keep their default value: applying a variant restores the default
    of every attribute that ``grid``, ``values`` (all its entries, also those past ``K``) or ``ranges``
    names, so :meth:`params` does not depend on ``K`` either. Examples of attributes: CartPole
    ``gravity, length, masspole, masscart, force_mag``; Pendulum ``g, m, l``; MountainCar
    ``force, gravity``; Acrobot ``LINK_LENGTH_1, LINK_MASS_1, ...``.

    Example::

        env = PhysicsVariant(gym.make("Pendulum-v1"), num_tasks=3, ranges={"g": [5.0, 15.0], "m": [0.5, 2.0]})

    :param env: the environment.
    :param num_tasks: number of variants ``K``.
    :param seed: variant seed (used by ``ranges``).
    :param task: the initial variant.
    :param grid: per-attribute value lists, combined as a grid.
    :param values: one mapping per variant.
    :param ranges: per-attribute ``[low, high]`` for uniform draws.
    """

    family = "physics"

    def __init__(
        self,
        env: gym.Env,
        num_tasks: int,
        seed: int = 0,
        task: int = 0,
        *,
        grid: Mapping[str, Sequence[float]] | None = None,
        values: Sequence[Mapping[str, float]] | None = None,
        ranges: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        super().__init__(env, num_tasks, seed, task)
        given = [
            name for name, v in (("grid", grid), ("values", values), ("ranges", ranges)) if v is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"physics needs exactly one of 'grid', 'values' or 'ranges', got {given or 'none'}."
            )
        K = self.num_tasks
        variants: list[dict[str, float]]
        listed: list[dict[str, float]] = []
        if grid is not None:
            if not isinstance(grid, Mapping) or not grid:
                raise ValueError(f"physics 'grid' must be a non-empty mapping name -> list, got {grid!r}.")
            names = list(grid)
            lists: list[list[Any]] = [
                list(grid[n]) if isinstance(grid[n], (list, tuple)) else [grid[n]] for n in names
            ]
            points = list(itertools.product(*lists))
            if len(points) < K:
                raise ValueError(
                    f"physics 'grid' has {len(points)} points but K={K} variants are needed: "
                    "add values to the grid or lower num_tasks."
                )
            variants = [{n: float(x) for n, x in zip(names, p)} for p in points[:K]]
        elif values is not None:
            if not isinstance(values, (list, tuple)) or not all(isinstance(v, Mapping) for v in values):
                raise ValueError(
                    f"physics 'values' must be a list of mappings, one per variant, got {values!r}."
                )
            if len(values) < K:
                raise ValueError(
                    f"physics 'values' lists {len(values)} variants but K={K} are needed: "
                    "add entries or lower num_tasks."
                )
            listed = [{n: float(x) for n, x in v.items()} for v in values]
            variants = listed[:K]
        else:
            if not isinstance(ranges, Mapping) or not ranges:
                raise ValueError(f"physics 'ranges' must be a mapping name -> [low, high], got {ranges!r}.")
            for name, bounds in ranges.items():
                if not isinstance(bounds, (list, tuple)) or len(bounds) != 2 or bounds[0] > bounds[1]:
                    raise ValueError(f"physics 'ranges' of {name!r} must be [low, high] with low <= high.")
            variants = []
            for k in range(K):
                rng = variant_rng(self.variant_seed, k, self.family)
                variants.append({n: float(rng.uniform(lo, hi)) for n, (lo, hi) in ranges.items()})
        # The names of every listed entry (not only the first K), so params(k) is the same for any K.
        names = sorted({n for v in (listed if values is not None else variants) for n in v})
        _check_physics_names(env, names, self.family)
        self.defaults = {n: float(getattr(env.unwrapped, n)) for n in names}
        self.variants = variants

    def params(self, task: int) -> dict[str, float]:
        """All physics values of variant ``task`` (defaults filled in).

        :param task: the variant index.
        :return: attribute name -> value.
        """
        return {**self.defaults, **self.variants[check_task(task, self.num_tasks)]}

    def _apply_variant(self, task: int) -> None:
        set_physics(self.env, self.params(task))


class PhysicsDrift(VariantWrapper):
    """A physics attribute of ``env.unwrapped`` that moves continuously with the environment steps.

    ``value(t) = low + (high - low) * w(t / period + phase_k)``, ``t`` counting every step of this
    wrapper (across episodes), where ``w`` is ``(1 + sin(2 pi x)) / 2`` (``kind="sine"``) or a triangle wave
    going linearly from 0 to 1 and back once per period (``kind="linear"``). With ``phase_per_task=True``
    variant ``k`` starts at phase ``phase_k`` = the ``k``-th term of the base-2 van der Corput sequence
    (:func:`van_der_corput`: variant 0 -> 0, 1 -> 1/2, 2 -> 1/4, 3 -> 3/4, 4 -> 1/8, 5 -> 5/8, ...), so the
    variants differ, the phases of any first ``K`` variants are spread evenly over the period, and the
    phase of variant ``k`` does not depend on ``K`` (a suite grown to more variants keeps its old ones);
    otherwise ``phase_k = 0``. The current value is in ``info["drift"][attribute]``.

    The drift clock ``t`` (attribute ``drift_step``) runs across episodes and task switches and is
    not reset by ``reset``; a rebuilt environment starts it at 0. :meth:`get_drift_step` and
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

    :param env: the environment.
    :param num_tasks: number of variants ``K``.
    :param seed: variant seed (the drift itself is deterministic; kept for a uniform signature).
    :param task: the initial variant.
    :param attribute: the attribute of ``env.unwrapped`` that drifts.
    :param low: smallest value.
    :param high: largest value.
    :param period: steps per full cycle.
    :param kind: ``"sine"`` or ``"linear"``.
    :param phase_per_task: offset the phase of variant ``k`` by ``van_der_corput(k)`` of a period.
    """

    family = "drift"
    KINDS = ("sine", "linear")

    def __init__(
        self,
        env: gym.Env,
        num_tasks: int,
        seed: int = 0,
        task: int = 0,
        *,
        attribute: str,
        low: float,
        high: float,
        period: int,
        kind: str = "sine",
        phase_per_task: bool = True,
    ) -> None:
        super().__init__(env, num_tasks, seed, task)
        if kind not in self.KINDS:
            raise ValueError(
                f"drift kind must be one of {list(self.KINDS)}, got {kind!r}.{did_you_mean(kind, self.KINDS)}"
            )
        if not period or period <= 0:
            raise ValueError(f"drift period must be a positive number of steps, got {period!r}.")
        if low > high:
            raise ValueError(f"drift needs low <= high, got low={low}, high={high}.")
        _check_physics_names(env, [attribute], self.family)
        self.attribute = attribute
        self.low, self.high, self.period, self.kind = float(low), float(high), float(period), kind
        self.phase_per_task = bool(phase_per_task)
        self.drift_step = 0

    def phase(self, task: int | None = None) -> float:
        """The phase offset of a variant, in periods: ``van_der_corput(task)`` with ``phase_per_task``, else 0.

        :param task: the variant (default: the current one).
        :return: a value in ``[0, 1)``; it does not depend on ``K``.
        """
        task = self.variant if task is None else check_task(task, self.num_tasks)
        return van_der_corput(task) if self.phase_per_task else 0.0

    def value(self, step: int, task: int | None = None) -> float:
        """The drifting value at a step count for a variant.

        :param step: the step count ``t``.
        :param task: the variant (default: the current one).
        :return: the attribute value.
        """
        x = step / self.period + self.phase(task)
        if self.kind == "sine":
            w = 0.5 * (1.0 + math.sin(2.0 * math.pi * x))
        else:
            frac = x % 1.0
            w = 2.0 * frac if frac < 0.5 else 2.0 - 2.0 * frac
        return self.low + (self.high - self.low) * w

    def get_drift_step(self) -> int:
        """:return: the drift clock ``t``: the steps this wrapper has taken (across episodes)."""
        return int(self.drift_step)

    def set_drift_step(self, step: int) -> None:
        """Set the drift clock (e.g. to the value saved in a checkpoint); the drifting value follows
        from the next ``step`` or ``reset`` on.

        :param step: the step count ``t``, an integer ``>= 0``.
        :raises ValueError: when ``step`` is not a non-negative integer.
        """
        if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"the drift clock must be an integer >= 0, got {step!r}.")
        self.drift_step = int(step)

    def _set_current(self) -> float:
        value = self.value(self.drift_step)
        set_physics(self.env, {self.attribute: value})
        return value

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = super().reset(seed=seed, options=options)
        value = self._set_current()
        info["drift"] = {**info.get("drift", {}), self.attribute: value}
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        value = self._set_current()
        self.drift_step += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["drift"] = {**info.get("drift", {}), self.attribute: value}
        return obs, reward, terminated, truncated, info
