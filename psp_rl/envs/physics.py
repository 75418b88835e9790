"""Physics families: variant ``k`` sets attributes of ``env.unwrapped`` (gravity, lengths, masses...);
the helpers that read and set those attributes (also used by :mod:`psp_rl.envs.drift`).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from psp_rl.envs.variant import VariantWrapper, check_task, variant_rng
from psp_rl.utils import did_you_mean

__all__ = ["PhysicsVariant", "check_physics_names", "physics_attributes", "set_physics"]


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


# Attributes that environments compute from others in ``__init__`` (CartPole): set_physics recomputes them.
_DERIVED = {"total_mass": ("masspole", "masscart"), "polemass_length": ("masspole", "length")}


def _derived_attributes(env: gym.Env) -> dict[str, tuple[str, ...]]:
    base = env.unwrapped
    return {
        name: sources
        for name, sources in _DERIVED.items()
        if hasattr(base, name) and all(hasattr(base, s) for s in sources)
    }


def check_physics_names(env: gym.Env, names: Sequence[str], family: str) -> None:
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
        check_physics_names(env, names, self.family)
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
