"""Permutation families: variant ``k`` permutes (and sign-flips) the observation or relabels the actions.

Both families draw one ``(permutation, signs)`` pair per variant with :func:`permutation_variants`,
so variant ``k`` depends only on ``(seed, k)`` and variants differ whenever enough distinct
relabellings exist. The spaces do not depend on ``K`` either: variant ``k`` is the same whatever the
number of variants, so a suite can grow from ``K`` to ``K2`` variants and keep its first ``K``.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from psp_rl.envs.variant import VariantWrapper, variant_rng

__all__ = ["PermuteActions", "PermuteObservation", "permutation_variants"]


def _capacity(size: int, flips: bool) -> int:
    """How many distinct (permutation, sign) variants exist for ``size`` entries (capped)."""
    if size > 12:
        return 10**9
    return math.factorial(size) * (2**size if flips else 1)


def permutation_variants(
    size: int, num_tasks: int, seed: int, family: str, flips: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One ``(permutation, signs)`` pair per variant.

    Variant ``k`` draws from its own generator (``(seed, k, family)``) and redraws until it differs
    from variants ``0..k-1`` whenever that many distinct pairs exist; it never depends on ``K``.

    :param size: number of entries to permute.
    :param num_tasks: number of variants ``K``.
    :param seed: the variant seed.
    :param family: the family name (separates the draws of different families).
    :param flips: draw random signs (otherwise all signs are ``+1``).
    :return: ``K`` pairs of a permutation of ``range(size)`` and a float array of signs.
    """
    capacity = _capacity(size, flips)

    def draw(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        perm = rng.permutation(size)
        return perm, (rng.choice(np.array([-1.0, 1.0]), size) if flips else np.ones(size))

    drawn: list[tuple[np.ndarray, np.ndarray]] = []
    for k in range(num_tasks):
        rng = variant_rng(seed, k, family)
        perm, sign = draw(rng)
        if k < capacity:
            while any(np.array_equal(perm, p) and np.array_equal(sign, s) for p, s in drawn):
                perm, sign = draw(rng)
        drawn.append((perm, sign))
    return drawn


class PermuteObservation(VariantWrapper, gym.ObservationWrapper):
    """Variant ``k`` applies a fixed permutation (and random sign flips) to the flattened observation.

    Works for any ``Box`` shape, images included: the observation is flattened, permuted and reshaped.
    Sign flips are used only for floating-point observations; integer observations (e.g. ``uint8``
    images) are only permuted, so they keep their dtype and ``[0, 255]`` range.

    The observation space does not depend on ``K`` (nor on the seed): any permutation can move any entry
    to any position, so every position gets the same bounds, ``low = min`` and ``high = max`` over the
    bounds of all base entries (and, with sign flips, of their negations). This box contains every
    variant of every ``K``, and a suite grown from ``K`` to ``K2`` variants keeps the same space.

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
        drawn = permutation_variants(size, self.num_tasks, self.variant_seed, self.family, self.flip_signs)
        self.permutations = [perm for perm, _ in drawn]
        self.signs = [sign.astype(space.dtype) for _, sign in drawn]
        # Bounds over every entry a position can receive under any permutation (and sign): K-independent.
        low, high = (space.low.min(), space.high.max()) if size else (space.low.dtype.type(0),) * 2
        if self.flip_signs:
            low, high = min(low, -high), max(high, -low)
        self.observation_space = spaces.Box(
            np.full(space.shape, low, dtype=space.dtype),
            np.full(space.shape, high, dtype=space.dtype),
            dtype=space.dtype,  # type: ignore[arg-type]
        )

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """Permute (and flip) one observation with the current variant.

        :param observation: a base observation.
        :return: the transformed observation, same shape and dtype.
        """
        obs = np.asarray(observation)
        flat = obs.reshape(-1)[self.permutations[self.variant]]
        if self.flip_signs:
            flat = flat * self.signs[self.variant]
        return flat.reshape(obs.shape).astype(self.observation_space.dtype, copy=False)


class PermuteActions(VariantWrapper, gym.ActionWrapper):
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
        flips = bool(flip_signs) and isinstance(space, spaces.Box)
        drawn = permutation_variants(size, self.num_tasks, self.variant_seed, self.family, flips)
        self.permutations = [perm for perm, _ in drawn]
        self.signs = [sign for _, sign in drawn]

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
