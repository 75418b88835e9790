"""Checks of the observations a PSP policy is asked to act on (``predict``), before SB3 converts them.

Stable-Baselines3 hands ``predict``'s numpy input to the network without looking at it: a missing
``"task"`` entry gives a bare ``KeyError``, a plain array an ``IndexError``, one observation with two task
ids two actions, and a NaN a torch error (PPO, SAC) or a silent action (DQN picks action 0, TD3 returns
NaN). :func:`check_observation` turns each of these into a ``ValueError`` that names the input and the fix.
It runs on the host, on the numpy arrays ``predict`` was given (the environment's own observations at
rollouts), once per call: a few microseconds, and no transfer from the device.

Example::

    check_observation({"obs": np.zeros(4), "task": 1}, policy.observation_space, num_tasks=2)  # passes
    check_observation(np.zeros(4), policy.observation_space, num_tasks=2)   # ValueError: ... "task" entry
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space

__all__ = ["check_observation"]

_WRAP = (
    "wrap the env with psp_rl's task wrapper (psp_rl.TaskObservation, or build it with "
    "psp_rl.make_task_vec_env / psp_rl.load_suite(...).make_vec_env())"
)


def check_observation(observation: Any, space: spaces.Dict, num_tasks: int) -> dict[str, np.ndarray]:
    """Check a (batch of) observation(s) against a PSP policy's observation space.

    :param observation: what ``predict`` was given: ``{"obs": ..., "task": ...}`` (and ``"coord"`` where
        the space has it), one observation or a batch
    :param space: the policy's observation space ``Dict({"obs": Box, "task": Discrete(K)[, "coord"]})``
    :param num_tasks: ``K``
    :return: the observation as a dict of arrays, task ids as ``int64``
    :raises ValueError: on a plain array, a missing or unknown entry, a batch size that differs between
        entries, a task id that is not an integer in ``[0, K)``, or a NaN / inf value
    """
    if not isinstance(observation, Mapping):
        raise ValueError(
            f"this PSP policy acts on dict observations with the task id inside, {{'obs': ..., 'task': k}} "
            f"(observation space {space}), but got {type(observation).__name__} of shape "
            f"{np.shape(observation)}: pass {{'obs': obs, 'task': k}}, or {_WRAP}."
        )
    keys = list(space.spaces)
    if "task" not in observation:
        raise ValueError(
            f"the observation needs a 'task' entry (the task id, an integer in 0..{num_tasks - 1}) next to "
            f"'obs', but it has the entries {sorted(observation)}: {_WRAP}, or add it yourself: "
            "{'obs': obs, 'task': k}."
        )
    missing = [key for key in keys if key not in observation]
    unknown = [key for key in observation if key not in keys]
    if missing or unknown:
        raise ValueError(
            f"the observation has the entries {sorted(observation)} but this policy's observation space has "
            f"{keys}"
            + (f": add {missing}" if missing else "")
            + (f": remove {unknown}" if unknown else "")
            + "."
        )
    obs = np.asarray(observation["obs"])
    batch = _batch_size(obs, space["obs"])
    task = _check_task(np.asarray(observation["task"]), batch, num_tasks)
    out = {**observation, "obs": obs, "task": task}
    _check_finite(obs, "obs")
    if "coord" in keys:
        coord = np.asarray(observation["coord"])
        if coord.size != batch:
            raise ValueError(
                f"the 'coord' entry has shape {coord.shape} but 'obs' holds {batch} observation(s): give one "
                "coordinate per observation (shape (B, 1) for a batch of B)."
            )
        _check_finite(coord, "coord")
        out["coord"] = coord
    return out


def _batch_size(obs: np.ndarray, space: spaces.Space) -> int:
    """How many observations the ``"obs"`` entry holds: 1 for one observation of the space's shape, ``B`` for
    a batch ``(B, *shape)`` (SB3 also takes channel-last images)."""
    shape = tuple(space.shape or ())
    shapes = [shape]
    if is_image_space(space) and len(shape) == 3:
        shapes.append((shape[1], shape[2], shape[0]))
    for one in shapes:
        if obs.shape == one:
            return 1
        if obs.ndim == len(one) + 1 and obs.shape[1:] == one:
            return int(obs.shape[0])
    raise ValueError(
        f"the 'obs' entry has shape {obs.shape}, but this policy takes one observation of shape {shape} or a "
        f"batch of shape (B, {', '.join(map(str, shape))}) (observation space {space})."
    )


def _check_task(task: np.ndarray, batch: int, num_tasks: int) -> np.ndarray:
    """Task ids: integers in ``[0, K)``, one per observation (a scalar or ``(1,)`` for one observation,
    ``(B,)`` or ``(B, 1)`` for a batch); handed on as ``int64``."""
    if task.dtype.kind not in "iu":
        raise ValueError(
            f"task ids must be integers in 0..{num_tasks - 1} (the index of the Discrete(K) 'task' entry), got "
            f"dtype {task.dtype}: pass them as integers, e.g. observation['task'].astype(np.int64)."
        )
    if task.shape not in ((), (batch,), (batch, 1)):
        raise ValueError(
            f"the 'task' entry has shape {task.shape} but 'obs' holds {batch} observation(s): give one task "
            "id per observation (a single id for one observation, shape (B,) for a batch of B)."
        )
    if task.size:
        low, high = int(task.min()), int(task.max())
        if low < 0 or high >= num_tasks:
            raise ValueError(
                f"task id {low if low < 0 else high} is out of range: this policy holds K={num_tasks} tasks, "
                f"valid ids are 0..{num_tasks - 1}."
            )
    return task.astype(np.int64, copy=False)


def _check_finite(values: np.ndarray, name: str) -> None:
    """Refuse NaN and inf: either one makes every output of the network non-finite."""
    if values.dtype.kind not in "fc" or np.isfinite(values).all():
        return
    bad = ~np.isfinite(values)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    where = f"{int(bad.sum())} of {values.size} values, the first at index {first}"
    raise ValueError(
        f"the '{name}' entry holds NaN or inf values ({where}): a non-finite input makes every output of the "
        "network non-finite (a NaN action, or silently the first action of a DQN). Find where they come "
        "from (SB3's VecCheckNan wrapper raises at the step that produces one) and clip or replace them in "
        "a wrapper of the env."
    )
