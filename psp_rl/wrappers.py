"""Turn one Gymnasium environment into a family of ``K`` variants and tell the agent which one it is in.

Each wrapper does one job:

- :class:`TaskObservation` — observations become ``{"obs": <base obs>, "task": k}``; ``set_task(k)`` takes
  effect at the next ``reset`` (one episode = one task); ``info`` carries ``task_id`` and ``task_switched``.
- :class:`PermuteObservation` — variant ``k`` permutes the flattened observation (and flips signs of
  float observations).
- :class:`PermuteActions` — variant ``k`` relabels ``Discrete`` actions or permutes/flips ``Box`` action
  dimensions.
- :class:`PhysicsVariant` — variant ``k`` sets attributes of ``env.unwrapped`` (gravity, lengths, masses...).
- :class:`PhysicsDrift` — a physics attribute moves continuously with the environment steps.

Every variant wrapper holds the parameters of all ``K`` variants, is deterministic from ``(seed, k)`` and
switches with :meth:`VariantWrapper.set_variant`, applied at the next ``reset``. :class:`TaskObservation`
forwards its task to every variant wrapper below it, so families compose::

    from psp_rl.wrappers import make_variant_env

    env = make_variant_env(
        "CartPole-v1",
        [{"family": "physics", "grid": {"length": [0.5, 1.0]}}, {"family": "permute_obs"}],
        task=1,
        num_tasks=2,
        seed=0,
    )
    obs, info = env.reset(seed=0)   # obs == {"obs": array(4,), "task": 1}, info["task_id"] == 1
    env.set_task(0)                 # the next episode runs variant 0
"""

from __future__ import annotations

import difflib
import inspect
import itertools
import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = [
    "FAMILIES",
    "PermuteActions",
    "PermuteObservation",
    "PhysicsDrift",
    "PhysicsVariant",
    "TaskObservation",
    "VariantWrapper",
    "check_family_spec",
    "family_parameters",
    "make_variant_env",
    "physics_attributes",
    "set_physics",
]


# --------------------------------------------------------------------------------------------- helpers
def _check_num_tasks(num_tasks: int) -> int:
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, (int, np.integer)) or num_tasks < 1:
        raise ValueError(f"num_tasks must be a positive integer, got {num_tasks!r}.")
    return int(num_tasks)


def _check_task(task: Any, num_tasks: int) -> int:
    if isinstance(task, bool) or not isinstance(task, (int, np.integer)):
        raise ValueError(f"task must be an integer in [0, {num_tasks - 1}] (K={num_tasks}), got {task!r}.")
    if not 0 <= int(task) < num_tasks:
        raise ValueError(
            f"task {int(task)} is out of range: this environment has K={num_tasks} tasks, "
            f"use a task in [0, {num_tasks - 1}]."
        )
    return int(task)


def _variant_rng(seed: int, task: int, family: str) -> np.random.Generator:
    """A generator that depends only on ``(seed, task, family)``."""
    return np.random.default_rng([int(seed), int(task), zlib.crc32(family.encode())])


def _distinct_draws(
    seed: int, num_tasks: int, family: str, capacity: int, draw: Any
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Draw ``(permutation, signs)`` per variant with ``draw(rng)``; variant ``k`` redraws from its own
    generator until it differs from variants ``0..k-1`` whenever ``capacity`` (the number of distinct
    variants that exist) allows it. Variant ``k`` depends only on ``(seed, k)``, never on ``K``."""
    drawn: list[tuple[np.ndarray, np.ndarray]] = []
    for k in range(num_tasks):
        rng = _variant_rng(seed, k, family)
        perm, sign = draw(rng)
        if k < capacity:
            while any(np.array_equal(perm, p) and np.array_equal(sign, s) for p, s in drawn):
                perm, sign = draw(rng)
        drawn.append((perm, sign))
    return drawn


def _capacity(size: int, flips: bool) -> int:
    """How many distinct (permutation, sign) variants exist for ``size`` entries (capped)."""
    if size > 12:
        return 10**9
    return math.factorial(size) * (2**size if flips else 1)


def _suggest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


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
                f"{_suggest(name, available)} Available attributes: {available}."
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


# ---------------------------------------------------------------------------------------- base class
class VariantWrapper(gym.Wrapper):
    """Base class of the variant families: holds all ``K`` variants, switches at the next ``reset``.

    :param env: the environment to wrap.
    :param num_tasks: number of variants ``K``.
    :param seed: variant seed; variant ``k`` depends only on ``(seed, k)``.
    :param task: the variant used from the first ``reset``.
    """

    family: str = "variant"

    def __init__(self, env: gym.Env, num_tasks: int, seed: int = 0, task: int = 0) -> None:
        super().__init__(env)
        self.num_tasks = _check_num_tasks(num_tasks)
        self.variant_seed = int(seed)
        self.variant = _check_task(task, self.num_tasks)
        self._pending: int | None = self.variant

    def set_variant(self, task: int) -> None:
        """Use variant ``task`` from the next ``reset`` on.

        :param task: the variant index in ``[0, K)``.
        """
        self._pending = _check_task(task, self.num_tasks)

    def _apply_variant(self, task: int) -> None:
        """Make variant ``task`` current (called at ``reset``)."""

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if self._pending is not None:
            self.variant, self._pending = self._pending, None
            self._apply_variant(self.variant)
        return self.env.reset(seed=seed, options=options)


# ------------------------------------------------------------------------------------ observations
class PermuteObservation(VariantWrapper):
    """Variant ``k`` applies a fixed permutation (and random sign flips) to the flattened observation.

    Works for any ``Box`` shape, images included: the observation is flattened, permuted and reshaped.
    Sign flips are used only for floating-point observations; integer observations (e.g. ``uint8``
    images) are only permuted, so they keep their dtype and ``[0, 255]`` range. The observation space
    is the smallest box containing the spaces of all ``K`` variants. Variants are distinct from each
    other whenever enough distinct permutations exist.

    Example::

        env = PermuteObservation(gym.make("CartPole-v1"), num_tasks=5, seed=0, task=3)

    :param env: an environment with a ``Box`` observation space.
    :param num_tasks: number of variants ``K``.
    :param seed: variant seed.
    :param task: the initial variant.
    :param flip_signs: also multiply float observations by fixed random signs.
    """

    family = "permute_obs"

    def __init__(
        self, env: gym.Env, num_tasks: int, seed: int = 0, task: int = 0, *, flip_signs: bool = True
    ) -> None:
        space = env.observation_space
        if not isinstance(space, spaces.Box):
            raise ValueError(
                f"permute_obs needs a Box observation space, got {space}. Flatten the observation first "
                "(e.g. gymnasium.wrappers.FlattenObservation) or use another variant family."
            )
        super().__init__(env, num_tasks, seed, task)
        self.flip_signs = bool(flip_signs) and np.issubdtype(space.dtype, np.floating)
        size = int(np.prod(space.shape))
        self.permutations = []
        self.signs = []
        low_flat, high_flat = space.low.reshape(-1), space.high.reshape(-1)
        low, high = np.full(size, np.inf), np.full(size, -np.inf)
        flips = self.flip_signs

        def draw(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            perm = rng.permutation(size)
            return perm, (rng.choice(np.array([-1.0, 1.0]), size) if flips else np.ones(size))

        drawn = _distinct_draws(self.variant_seed, self.num_tasks, self.family, _capacity(size, flips), draw)
        for perm, sign in drawn:
            self.permutations.append(perm)
            self.signs.append(sign.astype(space.dtype))
            low_k = np.where(sign > 0, low_flat[perm], -high_flat[perm])
            high_k = np.where(sign > 0, high_flat[perm], -low_flat[perm])
            low, high = np.minimum(low, low_k), np.maximum(high, high_k)
        self.observation_space = spaces.Box(
            low.reshape(space.shape).astype(space.dtype),
            high.reshape(space.shape).astype(space.dtype),
            dtype=space.dtype,  # type: ignore[arg-type]
        )

    def observation(self, obs: np.ndarray) -> np.ndarray:
        """Permute (and flip) one observation with the current variant.

        :param obs: a base observation.
        :return: the transformed observation, same shape and dtype.
        """
        obs = np.asarray(obs)
        flat = obs.reshape(-1)[self.permutations[self.variant]]
        if self.flip_signs:
            flat = flat * self.signs[self.variant]
        return flat.reshape(obs.shape).astype(self.observation_space.dtype, copy=False)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = super().reset(seed=seed, options=options)
        return self.observation(obs), info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self.observation(obs), reward, terminated, truncated, info


# ----------------------------------------------------------------------------------------- actions
class PermuteActions(VariantWrapper):
    """Variant ``k`` relabels the actions: a fixed permutation of ``Discrete`` actions, or a fixed
    permutation and sign flip of the dimensions of a ``Box`` action.

    ``Box`` actions are permuted and flipped in normalised coordinates (``[-1, 1]`` per dimension), so the
    action space stays the base one even with asymmetric bounds; they must be finite. A 1-D ``Box`` has
    only two variants (flipped or not) and ``Discrete(2)`` only two (swapped or not): the first
    ``min(K, number of distinct relabellings)`` variants are distinct, later ones may repeat.

    Example::

        env = PermuteActions(gym.make("CartPole-v1"), num_tasks=2, seed=0, task=1)

    :param env: an environment with a ``Discrete`` or ``Box`` action space.
    :param num_tasks: number of variants ``K``.
    :param seed: variant seed.
    :param task: the initial variant.
    :param flip_signs: for ``Box`` actions, also flip random dimensions.
    """

    family = "permute_actions"

    def __init__(
        self, env: gym.Env, num_tasks: int, seed: int = 0, task: int = 0, *, flip_signs: bool = True
    ) -> None:
        space = env.action_space
        if isinstance(space, spaces.Box):
            if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
                raise ValueError(f"permute_actions needs finite Box action bounds, got {space}.")
            size = int(np.prod(space.shape))
        elif isinstance(space, spaces.Discrete):
            size = int(space.n)
        else:
            raise ValueError(
                f"permute_actions supports Discrete and Box action spaces, got {space}. "
                "Use another variant family for this environment."
            )
        super().__init__(env, num_tasks, seed, task)
        self.permutations = []
        self.signs = []
        flips = bool(flip_signs) and isinstance(space, spaces.Box)

        def draw(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            perm = rng.permutation(size)
            return perm, (rng.choice(np.array([-1.0, 1.0]), size) if flips else np.ones(size))

        drawn = _distinct_draws(self.variant_seed, self.num_tasks, self.family, _capacity(size, flips), draw)
        for perm, sign in drawn:
            self.permutations.append(perm)
            self.signs.append(sign)

    def action(self, action: Any) -> Any:
        """Map an agent action to the base environment's action for the current variant.

        :param action: an action from ``self.action_space``.
        :return: the base action.
        """
        space: Any = self.env.action_space
        perm = self.permutations[self.variant]
        if isinstance(space, spaces.Discrete):
            start = int(space.start)
            return np.int64(start + perm[int(np.asarray(action).item()) - start])
        low, high = space.low.reshape(-1).astype(np.float64), space.high.reshape(-1).astype(np.float64)
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        unit = 2.0 * (a - low) / (high - low) - 1.0
        unit = self.signs[self.variant] * unit[perm]
        base = low + (unit + 1.0) * 0.5 * (high - low)
        return base.reshape(space.shape).astype(space.dtype)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        return self.env.step(self.action(action))


# ----------------------------------------------------------------------------------------- physics
class PhysicsVariant(VariantWrapper):
    """Variant ``k`` sets attributes of ``env.unwrapped`` (applied at ``reset``).

    Give exactly one of:

    - ``grid``: ``{name: [values...]}``; the variants are the first ``K`` points of the Cartesian product
      (in key order, last key fastest);
    - ``values``: a list of ``{name: value}`` mappings, one per variant (at least ``K``);
    - ``ranges``: ``{name: [low, high]}``; variant ``k`` draws each value uniformly, from ``(seed, k)``.

    Attributes a variant does not name keep their default value. Examples of attributes: CartPole
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
            variants = [{n: float(x) for n, x in v.items()} for v in values[:K]]
        else:
            if not isinstance(ranges, Mapping) or not ranges:
                raise ValueError(f"physics 'ranges' must be a mapping name -> [low, high], got {ranges!r}.")
            for name, bounds in ranges.items():
                if not isinstance(bounds, (list, tuple)) or len(bounds) != 2 or bounds[0] > bounds[1]:
                    raise ValueError(f"physics 'ranges' of {name!r} must be [low, high] with low <= high.")
            variants = []
            for k in range(K):
                rng = _variant_rng(self.variant_seed, k, self.family)
                variants.append({n: float(rng.uniform(lo, hi)) for n, (lo, hi) in ranges.items()})
        names = sorted({n for v in variants for n in v})
        _check_physics_names(env, names, self.family)
        self.defaults = {n: float(getattr(env.unwrapped, n)) for n in names}
        self.variants = variants

    def params(self, task: int) -> dict[str, float]:
        """All physics values of variant ``task`` (defaults filled in).

        :param task: the variant index.
        :return: attribute name -> value.
        """
        return {**self.defaults, **self.variants[_check_task(task, self.num_tasks)]}

    def _apply_variant(self, task: int) -> None:
        set_physics(self.env, self.params(task))


class PhysicsDrift(VariantWrapper):
    """A physics attribute of ``env.unwrapped`` that moves continuously with the environment steps.

    ``value(t) = low + (high - low) * w(t / period + phase_k)``, ``t`` counting every step of this
    wrapper (across episodes), where ``w`` is ``(1 + sin(2 pi x)) / 2`` (``kind="sine"``) or a triangle wave
    going linearly from 0 to 1 and back once per period (``kind="linear"``). Variant ``k`` starts at phase
    ``k / K`` (``phase_per_task=True``) so the variants differ. The current value is in
    ``info["drift"][attribute]``.

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
    :param phase_per_task: offset the phase of variant ``k`` by ``k / K`` of a period.
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
                f"drift kind must be one of {list(self.KINDS)}, got {kind!r}.{_suggest(kind, self.KINDS)}"
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

    def value(self, step: int, task: int | None = None) -> float:
        """The drifting value at a step count for a variant.

        :param step: the step count ``t``.
        :param task: the variant (default: the current one).
        :return: the attribute value.
        """
        task = self.variant if task is None else task
        x = step / self.period + (task / self.num_tasks if self.phase_per_task else 0.0)
        if self.kind == "sine":
            w = 0.5 * (1.0 + math.sin(2.0 * math.pi * x))
        else:
            frac = x % 1.0
            w = 2.0 * frac if frac < 0.5 else 2.0 - 2.0 * frac
        return self.low + (self.high - self.low) * w

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


# ------------------------------------------------------------------------------------ task identity
class TaskObservation(gym.Wrapper):
    """Expose the task: observations become ``{"obs": <base obs>, "task": k}``.

    ``set_task(k)`` takes effect at the next ``reset`` (never mid-episode) and is forwarded to every
    :class:`VariantWrapper` below, so the variant and the reported task always agree. ``info["task_id"]``
    is set at every step and reset; ``info["task_switched"]`` is ``True`` in the reset info and on the first
    step of the first episode of a new task, ``False`` otherwise. ``reset(options={"task": k})`` switches
    immediately.

    Example::

        env = TaskObservation(PermuteObservation(gym.make("CartPole-v1"), num_tasks=3), task=0, num_tasks=3)
        obs, info = env.reset(seed=0)      # obs["task"] == 0
        env.set_task(2)
        obs, info = env.reset()            # obs["task"] == 2, info["task_switched"] is True

    :param env: the (variant) environment.
    :param task: the initial task.
    :param num_tasks: number of tasks ``K``.
    """

    def __init__(self, env: gym.Env, task: int, num_tasks: int) -> None:
        super().__init__(env)
        self.num_tasks = _check_num_tasks(num_tasks)
        self.task = _check_task(task, self.num_tasks)
        self._pending: int | None = None
        self._announce = False
        self.observation_space = spaces.Dict(
            {"obs": env.observation_space, "task": spaces.Discrete(self.num_tasks)}
        )
        self._forward_variant(self.task)

    def variant_wrappers(self) -> list[VariantWrapper]:
        """The variant wrappers below this one, outermost first."""
        found = []
        env: Any = self.env
        while isinstance(env, gym.Wrapper):
            if isinstance(env, VariantWrapper):
                found.append(env)
            env = env.env
        return found

    def _forward_variant(self, task: int) -> None:
        for wrapper in self.variant_wrappers():
            if wrapper.num_tasks != self.num_tasks:
                raise ValueError(
                    f"{type(wrapper).__name__} has {wrapper.num_tasks} variants but TaskObservation has "
                    f"num_tasks={self.num_tasks}: build both with the same K."
                )
            wrapper.set_variant(task)

    def set_task(self, task: int) -> None:
        """Run task ``task`` from the next ``reset`` on.

        :param task: the task index in ``[0, K)``.
        :raises ValueError: when ``task`` is out of range.
        """
        self._pending = _check_task(task, self.num_tasks)

    @property
    def pending_task(self) -> int | None:
        """The task requested by :meth:`set_task` that the next ``reset`` will start, if any."""
        return self._pending

    def _observation(self, obs: Any) -> dict[str, Any]:
        return {"obs": obs, "task": np.int64(self.task)}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if options and "task" in options:
            options = dict(options)
            self.set_task(options.pop("task"))
        switched = False
        if self._pending is not None:
            new, self._pending = self._pending, None
            if new != self.task:
                self.task, switched = new, True
                self._forward_variant(new)
        self._announce = switched
        obs, info = self.env.reset(seed=seed, options=options)
        info["task_id"] = self.task
        info["task_switched"] = switched
        return self._observation(obs), info

    def step(self, action: Any) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["task_id"] = self.task
        info["task_switched"] = self._announce
        self._announce = False
        return self._observation(obs), reward, terminated, truncated, info


# ------------------------------------------------------------------------------------- composition
FAMILIES: dict[str, type[VariantWrapper]] = {
    "permute_obs": PermuteObservation,
    "permute_actions": PermuteActions,
    "physics": PhysicsVariant,
    "drift": PhysicsDrift,
}


def family_parameters(family: str) -> list[str]:
    """The parameters a family accepts in a suite spec (besides ``family``).

    :param family: a name in :data:`FAMILIES`.
    :return: the parameter names.
    """
    cls = _family_class(family)
    signature = inspect.signature(cls.__init__)
    return [n for n, p in signature.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def _family_class(family: str) -> type[VariantWrapper]:
    if family not in FAMILIES:
        raise ValueError(
            f"Unknown variant family {family!r}.{_suggest(str(family), list(FAMILIES))} "
            f"Available families: {list(FAMILIES)}."
        )
    return FAMILIES[family]


def check_family_spec(spec: Mapping[str, Any]) -> None:
    """Check one entry of a ``variants`` list: a known ``family`` and only its parameters.

    :param spec: e.g. ``{"family": "physics", "grid": {"gravity": [9.8, 12.0]}}``.
    :raises ValueError: on an unknown family or parameter (with the closest valid name).
    """
    if not isinstance(spec, Mapping) or "family" not in spec:
        raise ValueError(f"Each variant entry must be a mapping with a 'family' key, got {spec!r}.")
    allowed = family_parameters(spec["family"])
    for key in spec:
        if key != "family" and key not in allowed:
            raise ValueError(
                f"Unknown parameter {key!r} for variant family {spec['family']!r}."
                f"{_suggest(str(key), allowed)} Valid parameters: {['family', *allowed]}."
            )


def make_variant_env(
    env_id: str,
    families: Sequence[Mapping[str, Any]],
    task: int = 0,
    num_tasks: int = 1,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    render_mode: str | None = None,
) -> TaskObservation:
    """Build ``gym.make(env_id)``, stack the variant families in order and add the task observation.

    Example::

        env = make_variant_env("Pendulum-v1", [{"family": "physics", "ranges": {"g": [5, 15]}}],
                               task=2, num_tasks=4, seed=0)

    :param env_id: any registered Gymnasium id.
    :param families: variant entries, e.g. ``[{"family": "permute_obs", "flip_signs": False}]``, applied
        in order (the first wraps the base environment).
    :param task: the initial task.
    :param num_tasks: number of tasks ``K``.
    :param seed: variant seed; each variant depends only on ``(seed, task)``.
    :param env_kwargs: keyword arguments for ``gym.make`` (e.g. ``max_episode_steps``).
    :param render_mode: passed to ``gym.make``.
    :return: a :class:`TaskObservation` environment.
    """
    num_tasks = _check_num_tasks(num_tasks)
    task = _check_task(task, num_tasks)
    for spec in families:
        check_family_spec(spec)
    kwargs = dict(env_kwargs or {})
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    env = gym.make(env_id, **kwargs)
    for spec in families:
        params = {k: v for k, v in spec.items() if k != "family"}
        env = _family_class(spec["family"])(env, num_tasks, seed, task, **params)
    return TaskObservation(env, task=task, num_tasks=num_tasks)
