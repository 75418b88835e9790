"""MiniGrid tasks for suites (``task_env: {kind: minigrid}``): the agent's partial view, a reduced action set.

As in the MG10 protocol of Ben-Iwhiwhu et al. (TMLR 2023, code ``dlpbc/mask-lrl``): the observation is the
7x7x3 grid encoding of the agent's view only (object, colour and state codes, at most 10; no mission, no
direction) and the actions are the first three (left, right, forward). Two views of the same grid:

- ``flat``: the 147 codes as ``float32`` divided by 10 (the protocol's ``RescaleNormalizer(1/10)``), for the
  superposed MLP;
- ``image``: channel-first ``(3, 7, 7)`` ``uint8`` codes times 25 (at most 250), so that Stable-Baselines3's
  image scaling (``/255``) hands the CNN trunk about the same ``code / 10`` as the flat view.

Example::

    env = make_minigrid_env("MiniGrid-SimpleCrossingS9N1-v0", view="image")
    obs, info = env.reset(seed=860)   # obs.shape == (3, 7, 7), env.action_space == Discrete(3)

Needs the optional extra ``minigrid`` (``pip install "psp-rl[minigrid]"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["GRID_CODE_MAX", "FirstActions", "GridView", "make_minigrid_env"]

#: the largest code in a MiniGrid grid encoding (object index of the agent)
GRID_CODE_MAX = 10
_IMAGE_SCALE = 25  # GRID_CODE_MAX * 25 = 250 <= 255


class FirstActions(gym.ActionWrapper):
    """Only the first ``n`` actions of a ``Discrete`` action space: ``Discrete(n)``.

    :param env: an environment with a ``Discrete`` action space.
    :param n: how many actions to keep (MiniGrid: 3 = left, right, forward).
    :raises ValueError: when the space is not ``Discrete`` or has fewer than ``n`` actions.
    """

    def __init__(self, env: gym.Env, n: int) -> None:
        super().__init__(env)
        base = env.action_space
        if not isinstance(base, spaces.Discrete) or int(base.n) < n or n < 1:
            raise ValueError(
                f"FirstActions keeps the first n of a Discrete action space; got n={n} for {base}: "
                "use 1 <= n <= the number of actions."
            )
        self.action_space = spaces.Discrete(n, start=int(base.start))

    def action(self, action: Any) -> int:  # noqa: D102
        return int(action)


class GridView(gym.ObservationWrapper):
    """The ``(7, 7, 3)`` grid encoding of a MiniGrid image observation as a flat vector or a
    channel-first image (see the module docstring for the scaling).

    :param env: an environment whose observations are ``(H, W, 3)`` ``uint8`` grid codes
        (``minigrid.wrappers.ImgObsWrapper``).
    :param view: ``"flat"`` (``float32`` codes / 10, ``H*W*3`` entries) or ``"image"`` (``uint8`` codes x 25,
        shape ``(3, H, W)``).
    """

    def __init__(self, env: gym.Env, view: str = "flat") -> None:
        super().__init__(env)
        base = env.observation_space
        if not isinstance(base, spaces.Box) or len(base.shape) != 3:
            raise ValueError(f"GridView needs (H, W, C) grid observations (ImgObsWrapper), got {base}.")
        if view not in ("flat", "image"):
            raise ValueError(f"view must be 'flat' or 'image', got {view!r}.")
        self.view = view
        height, width, channels = base.shape
        if view == "flat":
            high = 255.0 / GRID_CODE_MAX
            self.observation_space = spaces.Box(0.0, high, (height * width * channels,), np.float32)
        else:
            self.observation_space = spaces.Box(0, 255, (channels, height, width), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:  # noqa: D102
        if self.view == "flat":
            return (np.asarray(observation, dtype=np.float32) / GRID_CODE_MAX).reshape(-1)
        codes = np.minimum(np.asarray(observation, dtype=np.int64), GRID_CODE_MAX) * _IMAGE_SCALE
        return np.ascontiguousarray(codes.transpose(2, 0, 1), dtype=np.uint8)


def make_minigrid_env(
    env_id: str,
    view: str = "flat",
    actions: int = 3,
    env_kwargs: Mapping[str, Any] | None = None,
    render_mode: str | None = None,
) -> gym.Env:
    """A MiniGrid environment with the partial view only (:class:`GridView`) and the first ``actions``
    actions (:class:`FirstActions`).

    :param env_id: a MiniGrid id, e.g. ``MiniGrid-LavaCrossingS9N1-v0``.
    :param view: ``"flat"`` or ``"image"``.
    :param actions: how many of the first actions to keep.
    :param env_kwargs: keyword arguments for ``gym.make``.
    :param render_mode: passed to ``gym.make``.
    :raises MissingExtraError: when ``minigrid`` is not installed.
    """
    from psp_rl.envs.task_envs import require_extra

    require_extra("minigrid", "minigrid", f"the MiniGrid environment {env_id!r}")
    from minigrid.wrappers import ImgObsWrapper

    kwargs = dict(env_kwargs or {})
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    env = ImgObsWrapper(gym.make(env_id, **kwargs))
    return GridView(FirstActions(env, actions), view)
