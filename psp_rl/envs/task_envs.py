"""Suites with one environment per task: the ``tasks`` list of a suite spec and how each entry is built.

A suite either varies one environment (``env_id`` + variant families) or lists one environment per task::

    tasks:                        # one entry per task, in order (a string is shorthand for {env_id: ...})
      - {env_id: MiniGrid-SimpleCrossingS9N1-v0, seed: 860}
      - {env_id: MiniGrid-SimpleCrossingS9N1-v0, seed: 861, env_kwargs: {}}
    task_env: {kind: minigrid, view: flat, actions: 3}   # how every entry becomes an environment

Entry keys: ``env_id`` (required), ``env_kwargs`` (for the builder) and ``seed`` (every reset of that
task uses this seed: a fixed layout / start state; without it episodes keep drawing new ones). The kinds of
``task_env`` (:data:`TASK_ENV_KINDS`):

- ``gym`` — ``gym.make(env_id, **env_kwargs)``;
- ``minigrid`` — a MiniGrid id: the partial view only, the first ``actions`` actions; ``view: flat`` (147
  numbers, for an MLP) or ``view: image`` (3x7x7, for the CNN trunk); see :mod:`~psp_rl.envs.minigrid_env`;
- ``metaworld`` — a Meta-World v3 task name such as ``hammer-v3``, goals randomised at every reset, episodes
  of ``max_episode_steps``; see :mod:`~psp_rl.envs.metaworld_env`.

``minigrid`` and ``metaworld`` need the optional extras of the same names; without one, loading the suite
raises :class:`MissingExtraError` naming ``pip install "psp-rl[<extra>]"``. Every task's environment must
have the same spaces (checked when a task is first used, naming it).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, SupportsFloat

import gymnasium as gym

from psp_rl.envs.task import TaskObservation
from psp_rl.envs.variant import check_num_tasks, check_task, positive_int
from psp_rl.envs.vec import TaskEnvs
from psp_rl.utils import MissingExtraError, did_you_mean, require_extra, unknown

__all__ = [
    "TASK_ENV_KINDS",
    "TASK_KEYS",
    "EpisodeSuccess",
    "FixedSeed",
    "MissingExtraError",
    "TaskEnvKind",
    "check_gym_id",
    "make_task_entry_env",
    "make_tasks_env",
    "require_extra",
    "resolve_tasks",
]

#: the keys of one entry of a suite's ``tasks`` list
TASK_KEYS = ("env_id", "env_kwargs", "seed")


class FixedSeed(gym.Wrapper):
    """Every ``reset`` uses the same seed, so every episode starts from the same state (a fixed layout).

    A seed given to ``reset`` does not change the start: it seeds the generator the episode draws from
    after it (``env.unwrapped.np_random``, which later resets go on drawing from), so ``reset(seed=s)``
    reproduces an episode and different seeds give different generators, as Gymnasium's ``check_env`` asks.

    :param env: the environment.
    :param seed: the seed of every reset's start state.
    """

    def __init__(self, env: gym.Env, seed: int) -> None:
        super().__init__(env)
        self.fixed_seed = int(seed)
        self._episode_rng: Any = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=self.fixed_seed, options=options)
        if seed is not None:
            self._episode_rng = gym.utils.seeding.np_random(int(seed))[0]
        if self._episode_rng is not None:
            self.env.unwrapped.np_random = self._episode_rng
        return obs, info


class EpisodeSuccess(gym.Wrapper):
    """``info["is_success"]`` (Stable-Baselines3's key): whether ``info[key]`` was true at any step of the
    episode so far; at the episode's last step it is the episode's success.

    :param env: an environment reporting success per step (Meta-World: ``info["success"]``).
    :param key: the per-step info key.
    """

    def __init__(self, env: gym.Env, key: str = "success") -> None:
        super().__init__(env)
        self.key = key
        self.succeeded = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self.succeeded = False
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.succeeded = self.succeeded or bool(info.get(self.key, False))
        info["is_success"] = self.succeeded
        return obs, reward, terminated, truncated, info


# ------------------------------------------------------------------------------------------ kinds
def _make_gym(
    env_id: str, env_kwargs: Mapping[str, Any], options: Mapping[str, Any], render_mode: Any
) -> gym.Env:
    kwargs = dict(env_kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    return gym.make(env_id, **kwargs)


def check_gym_id(env_id: str, where: str) -> None:
    """Refuse an id that Gymnasium does not know (``module:Id`` passes: its module registers it on import).

    :param env_id: the id.
    :param where: name used in the message.
    :raises ValueError: naming the id and the closest registered one.
    """
    if ":" not in env_id and env_id not in gym.registry:  # "module:Id-v0" registers on import (gym.make)
        raise ValueError(
            f"{where}: {env_id!r} is not a registered Gymnasium id (use 'module:Id' for an id its module "
            f"registers on import).{did_you_mean(env_id, gym.registry, list_valid=False)}"
        )


def _make_minigrid(
    env_id: str, env_kwargs: Mapping[str, Any], options: Mapping[str, Any], render_mode: Any
) -> gym.Env:
    from psp_rl.envs.minigrid_env import make_minigrid_env

    return make_minigrid_env(env_id, options["view"], options["actions"], env_kwargs, render_mode)


def _check_minigrid(env_id: str, where: str) -> None:
    require_extra("minigrid", "minigrid", where)  # importing it registers the MiniGrid ids
    minigrid_ids = [name for name in gym.registry if name.startswith(("MiniGrid-", "BabyAI-"))]
    if env_id not in gym.registry:
        raise ValueError(
            f"{where}: {env_id!r} is not a MiniGrid id.{did_you_mean(env_id, minigrid_ids, list_valid=False)}"
        )


def _make_metaworld(
    env_id: str, env_kwargs: Mapping[str, Any], options: Mapping[str, Any], render_mode: Any
) -> gym.Env:
    from psp_rl.envs.metaworld_env import make_metaworld_env

    return make_metaworld_env(env_id, options["max_episode_steps"], env_kwargs, render_mode)


def _check_metaworld(env_id: str, where: str) -> None:
    from psp_rl.envs.metaworld_env import check_metaworld_name

    check_metaworld_name(env_id, where)


def _view(value: Any, where: str) -> str:
    if value not in ("flat", "image"):
        raise unknown(f"view in {where}:", value, ("flat", "image"))
    return str(value)


@dataclass(frozen=True)
class TaskEnvKind:
    """How the entries of a ``tasks`` list become environments.

    :param options: the options of ``task_env`` besides ``kind``, with their defaults.
    :param check_option: ``check_option(name, value, where) -> value`` (checks one option).
    :param check_id: ``check_id(env_id, where)``: raises on an unknown id (imports the extra).
    :param make: ``make(env_id, env_kwargs, options, render_mode) -> env``.
    """

    options: Mapping[str, Any]
    check_option: Callable[[str, Any, str], Any]
    check_id: Callable[[str, str], None]
    make: Callable[[str, Mapping[str, Any], Mapping[str, Any], Any], gym.Env]


def _minigrid_option(name: str, value: Any, where: str) -> Any:
    return _view(value, where) if name == "view" else positive_int(value, f"{where}: {name}")


TASK_ENV_KINDS: dict[str, TaskEnvKind] = {
    "gym": TaskEnvKind({}, lambda n, v, w: v, check_gym_id, _make_gym),
    "minigrid": TaskEnvKind(
        {"view": "flat", "actions": 3}, _minigrid_option, _check_minigrid, _make_minigrid
    ),
    "metaworld": TaskEnvKind(
        {"max_episode_steps": 200},
        lambda n, v, w: positive_int(v, f"{w}: {n}"),
        _check_metaworld,
        _make_metaworld,
    ),
}


# ------------------------------------------------------------------------------------------ specs
def _resolve_entry(entry: Any, k: int, where: str) -> dict[str, Any]:
    if isinstance(entry, str):
        entry = {"env_id": entry}
    if not isinstance(entry, Mapping):
        raise ValueError(
            f"{where}: tasks[{k}] must be an env id or a mapping {{env_id: ..., seed: ...}}, got {entry!r}."
        )
    for key in entry:
        if key not in TASK_KEYS:
            raise ValueError(f"Unknown key {key!r} in {where} tasks[{k}].{did_you_mean(key, TASK_KEYS)}")
    if not isinstance(entry.get("env_id"), str):
        raise ValueError(
            f"{where}: tasks[{k}] needs 'env_id' (an environment id string), got {entry.get('env_id')!r}."
        )
    env_kwargs = entry.get("env_kwargs") or {}
    if not isinstance(env_kwargs, Mapping):
        raise ValueError(f"{where}: tasks[{k}].env_kwargs must be a mapping, got {env_kwargs!r}.")
    seed = entry.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"{where}: tasks[{k}].seed must be an integer (or left out), got {seed!r}.")
    return {"env_id": entry["env_id"], "env_kwargs": copy.deepcopy(dict(env_kwargs)), "seed": seed}


def resolve_tasks(
    raw: Mapping[str, Any], where: str = "suite spec"
) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None, int | None]:
    """Check a suite spec's ``tasks`` list and ``task_env`` block and fill in every default.

    Imports the extra the kind needs (so a missing one fails when the suite is loaded) and checks every
    env id.

    :param raw: the suite spec; its ``tasks`` (entries: an env id, or ``{env_id, env_kwargs, seed}``),
        ``task_env`` (``None``: kind ``gym``) and ``num_tasks`` (``None``: every listed task) are read.
    :param where: name used in error messages.
    :return: ``(resolved tasks, resolved task_env, num_tasks)``; ``(None, None, None)`` for a suite without
        ``tasks``.
    :raises ValueError: on an unknown key (with the closest valid one), a bad value or id, ``tasks`` next to
        ``env_id`` or ``variants``, or more tasks asked for than listed.
    :raises MissingExtraError: when the kind's optional dependency is not installed.
    """
    tasks, task_env = raw.get("tasks"), raw.get("task_env")
    if tasks is None:
        if task_env is not None:
            raise ValueError(
                f"{where}: task_env says how the entries of tasks are built: add tasks or remove it."
            )
        return None, None, None
    if raw.get("env_id") is not None or raw.get("variants"):
        raise ValueError(
            f"{where}: a suite lists its tasks (tasks) or varies one env (env_id + variants), not both: "
            "remove env_id and variants, or tasks."
        )
    if not isinstance(tasks, list) or not tasks:
        raise ValueError(f"{where}: tasks must be a non-empty list with one entry per task, got {tasks!r}.")
    block = dict(task_env or {"kind": "gym"})
    kind = block.get("kind", "gym")
    if kind not in TASK_ENV_KINDS:
        raise unknown(f"task_env kind in {where}:", kind, TASK_ENV_KINDS)
    spec = TASK_ENV_KINDS[kind]
    valid = ("kind", *spec.options)
    for key in block:
        if key not in valid:
            raise ValueError(f"Unknown key {key!r} in {where} task_env ({kind}).{did_you_mean(key, valid)}")
    resolved_env: dict[str, Any] = {"kind": kind}
    for name, default in spec.options.items():
        resolved_env[name] = spec.check_option(name, block.get(name, default), f"{where} task_env")
    resolved = [_resolve_entry(entry, k, where) for k, entry in enumerate(tasks)]
    num_tasks = raw.get("num_tasks")
    count = len(resolved) if num_tasks is None else positive_int(num_tasks, f"{where}: num_tasks")
    if count > len(resolved):
        raise ValueError(
            f"{where}: num_tasks={count} but the suite lists {len(resolved)} tasks: use at most "
            f"{len(resolved)} or add entries to tasks."
        )
    for k, entry in enumerate(resolved[:count]):
        spec.check_id(entry["env_id"], f"{where} tasks[{k}]")
    return resolved, resolved_env, count


def make_task_entry_env(
    entry: Mapping[str, Any], task_env: Mapping[str, Any], render_mode: str | None = None
) -> gym.Env:
    """The environment of one resolved ``tasks`` entry (with :class:`FixedSeed` when it has a seed).

    :param entry: ``{env_id, env_kwargs, seed}`` (resolved).
    :param task_env: the resolved ``task_env`` block.
    :param render_mode: passed to the environment.
    """
    spec = TASK_ENV_KINDS[task_env["kind"]]
    options = {k: v for k, v in task_env.items() if k != "kind"}
    env = spec.make(entry["env_id"], entry.get("env_kwargs") or {}, options, render_mode)
    return env if entry.get("seed") is None else FixedSeed(env, entry["seed"])


def make_tasks_env(
    tasks: Sequence[Mapping[str, Any]],
    task_env: Mapping[str, Any],
    task: int = 0,
    num_tasks: int | None = None,
    render_mode: str | None = None,
) -> TaskObservation:
    """One environment over the first ``num_tasks`` entries, with ``{"obs", "task"}`` observations.

    Example::

        env = make_tasks_env([{"env_id": "CartPole-v1"}, {"env_id": "CartPole-v1", "seed": 3}],
                             {"kind": "gym"}, task=1)

    :param tasks: resolved entries (see :func:`resolve_tasks`).
    :param task_env: the resolved ``task_env`` block.
    :param task: the initial task.
    :param num_tasks: how many leading entries are tasks (default: all).
    :param render_mode: passed to every task's environment.
    :return: the environment; ``set_task(k)`` switches to task ``k``'s environment at the next reset.
    """
    count = check_num_tasks(len(tasks) if num_tasks is None else num_tasks)
    task = check_task(task, count)

    def factory(entry: Mapping[str, Any]) -> Callable[[], gym.Env]:
        return lambda: make_task_entry_env(entry, task_env, render_mode)

    envs = TaskEnvs([factory(entry) for entry in list(tasks)[:count]], task)
    return TaskObservation(envs, task=task, num_tasks=count)
