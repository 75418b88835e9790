"""Checks of a suite that need its environments: every task builds and resets, and no task repeats another.

Loading a suite checks its spec (:func:`~psp_rl.envs.suites.resolve_spec`); these checks build the
environments, so a training run makes them once before it creates anything::

    suite = load_suite("cartpole-actions", num_tasks=200)
    spaces = check_task_envs(suite)     # (observation space, action space) of the tasks
    check_distinct_tasks(suite)         # ValueError: only 2 distinct variants
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from psp_rl.envs.variant import VariantWrapper

if TYPE_CHECKING:
    from psp_rl.envs.suites import Suite

__all__ = ["check_distinct_tasks", "check_task_envs", "repeated_tasks"]


def _task_source(suite: Suite, task: int) -> str:
    """The environment a task is built from, for a message: ``gym.make('CartPole-v1', **{...})``."""
    if suite.spec["tasks"] is not None:
        entry = suite.spec["tasks"][task]
        kind = suite.spec["task_env"]["kind"]
        return f"{entry['env_id']!r} (task_env kind {kind}, env_kwargs {entry['env_kwargs'] or {}})"
    return f"gym.make({suite.spec['env_id']!r}, **{suite.spec['env_kwargs'] or {}}) with its variants"


def check_task_envs(suite: Suite) -> tuple[gym.Space, gym.Space]:
    """Build the suite's environment and reset every task once (a task of a ``tasks`` list: its own env).

    :param suite: the suite.
    :return: the tasks' observation space (of the base observation, ``obs``) and action space.
    :raises ValueError: naming the task, its environment and the fix, when one fails to build or reset
        (an unknown keyword in ``env_kwargs``, an id its module does not register...).
    """
    task = 0
    env: Any = None
    try:
        env = suite.make_env(0)
        for task in range(suite.num_tasks):
            env.set_task(task)
            env.reset(seed=task)
        return env.observation_space["obs"], env.action_space
    except Exception as error:  # any failure of third-party env code: named, with the fix
        where = f"suite {suite.name!r}: task {task}"
        raise ValueError(
            f"{where} could not be built: {_task_source(suite, task)} raised {type(error).__name__}: {error}. "
            "Fix env_id / env_kwargs (or the task's entry) in the suite file."
        ) from None
    finally:
        if env is not None:
            env.close()


def _family_key(wrapper: VariantWrapper, task: int) -> Hashable:
    """What makes variant ``task`` of one family wrapper what it is (equal keys: the same variant)."""
    if hasattr(wrapper, "permutations") and hasattr(wrapper, "signs"):  # permute_obs, permute_actions
        return (tuple(wrapper.permutations[task]), tuple(float(s) for s in wrapper.signs[task]))
    if hasattr(wrapper, "params"):  # physics
        return tuple(sorted(wrapper.params(task).items()))
    if hasattr(wrapper, "phase"):  # drift: the same waves for every variant, shifted by its phase
        return float(wrapper.phase(task))
    return task  # a family this check does not know: taken as distinct


def variant_keys(suite: Suite) -> list[Hashable]:
    """One key per task; two tasks with equal keys run the same variant.

    A suite that lists its tasks (``tasks``) names each one: an entry listed twice is a second visit on
    purpose (CW20 visits CW10's tasks again under new ids), so its tasks all count as distinct. The variants
    of a suite that varies one env come from its families, which have only so many.

    :param suite: the suite.
    :return: ``K`` hashable keys.
    """
    if suite.spec["tasks"] is not None:
        return list(range(suite.num_tasks))
    env: Any = suite.make_env(0)
    try:
        wrappers = env.variant_wrappers()
        return [tuple(_family_key(w, k) for w in wrappers) for k in range(suite.num_tasks)]
    finally:
        env.close()


def repeated_tasks(suite: Suite) -> list[tuple[int, int]]:
    """The tasks that repeat an earlier task's variant.

    :param suite: the suite.
    :return: ``(task, earlier task it repeats)`` pairs, in task order.
    """
    first: dict[Hashable, int] = {}
    repeats = []
    for task, key in enumerate(variant_keys(suite)):
        if key in first:
            repeats.append((task, first[key]))
        else:
            first[key] = task
    return repeats


def check_distinct_tasks(suite: Suite) -> None:
    """Refuse a suite whose tasks repeat: a repeated variant is one task under two ids, which the performance
    matrix would count twice (a variant family has only so many variants, e.g. 2 relabellings of 2 actions).

    :param suite: the suite.
    :raises ValueError: naming the first repeat and the largest number of tasks that are all distinct.
    """
    repeats = repeated_tasks(suite)
    if not repeats:
        return
    task, earlier = repeats[0]
    more = f" (and {len(repeats) - 1} more tasks repeat earlier ones)" if len(repeats) > 1 else ""
    raise ValueError(
        f"suite {suite.name!r} with num_tasks {suite.num_tasks}: task {task} runs the same variant as task "
        f"{earlier}{more}, so one task would be counted under two ids. Use --num-tasks {task} or fewer (the "
        "first ones are distinct; or set num_tasks in the suite file), or give the suite more variants."
    )
