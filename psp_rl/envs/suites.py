"""Task suites: a YAML spec in ``envs/`` turns a Gymnasium id into ``K`` variants with a schedule.

A suite spec (``envs/<name>.yaml``, read with ``yaml.safe_load``)::

    description: CartPole-v1, each variant a fixed permutation + sign flip of the observation
    env_id: CartPole-v1           # any registered Gymnasium id
    env_kwargs: {}                # passed to gym.make (e.g. max_episode_steps)
    num_tasks: 5                  # K
    variant_seed: 0               # variant k depends only on (variant_seed, k)
    variants:                     # composed in order, the first wraps the base env
      - family: permute_obs       # permute_obs | permute_actions | physics | drift (+ their parameters)
    schedule: {kind: sequential, steps_per_task: 50000, cycles: 1, seed: 0}
    normalize: {kind: fixed, max: 500}   # or {kind: reference, random: .., reference: ..} or {kind: none}
    coordinate: false             # true: observations also carry "coord", the continuous task coordinate
                                  # in [0, 1) (the drift phase); needs exactly one drift entry in variants
    metric: return                # what the performance matrix holds: the normalised return, or
                                  # success (the episodes' success rate, from info["is_success"])

Instead of ``env_id`` and ``variants``, a suite may list one environment per task: ``tasks: [{env_id,
env_kwargs, seed}, ...]`` built as ``task_env: {kind: gym|minigrid|metaworld, ...}`` says (``num_tasks``
optional: the first ones; see :mod:`~psp_rl.envs.task_envs`).

Example::

    import psp_rl

    suite = psp_rl.load_suite("cartpole-permuted")
    vec_env = suite.make_vec_env(n_envs=4, seed=0)
    eval_envs = suite.make_eval_envs()            # one single-env VecEnv per task
    suite.normalize(task=0, ret=250.0)            # 0.5

The shipped suites are also registered with Gymnasium (:mod:`~psp_rl.envs.registration`):
``gym.make("psp_rl/cartpole-permuted-v0", task=2)``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from psp_rl.envs.families import FAMILIES, check_family_spec, make_variant_env
from psp_rl.envs.registration import make_suite_env, multitask_env_id, register_suites, suite_env_id
from psp_rl.envs.schedules import SCHEDULE_KINDS, TaskSchedule, make_schedule
from psp_rl.envs.task import TaskObservation
from psp_rl.envs.task_envs import check_gym_id, make_tasks_env, resolve_tasks
from psp_rl.envs.variant import check_task, coordinate_families, positive_int
from psp_rl.envs.vec import initial_tasks_for, task_vec_env
from psp_rl.resources import find_yaml, load_yaml
from psp_rl.utils import did_you_mean, unknown

if TYPE_CHECKING:  # SB3 (and torch) are imported only when a VecEnv is built
    from stable_baselines3.common.vec_env import VecEnv

# the Gymnasium registration lives in psp_rl.envs.registration; its names stay importable from here
__all__ = [
    "SPEC_KEYS",
    "Suite",
    "load_suite",
    "make_suite_env",
    "multitask_env_id",
    "register_suites",
    "suite_env_id",
]

SPEC_KEYS = (
    "description",
    "env_id",
    "env_kwargs",
    "num_tasks",
    "variant_seed",
    "variants",
    "schedule",
    "normalize",
    "coordinate",
    "tasks",
    "task_env",
    "metric",
)
#: what the performance matrix of a suite holds (spec key ``metric``)
METRICS = ("return", "success")
SCHEDULE_KEYS = ("kind", "steps_per_task", "cycles", "seed")
NORMALIZE_KEYS = {
    "none": ("kind",),
    "fixed": ("kind", "max", "min"),
    "reference": ("kind", "random", "reference"),
}


# ------------------------------------------------------------------------------------------ checks
def _check_keys(mapping: Mapping[str, Any], valid: tuple[str, ...], where: str) -> None:
    for key in mapping:
        if key not in valid:
            raise ValueError(f"Unknown key {key!r} in {where}.{did_you_mean(key, valid)}")


def _per_task(value: Any, num_tasks: int, where: str) -> list[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)] * num_tasks
    if isinstance(value, (list, tuple)) and len(value) == num_tasks:
        return [float(v) for v in value]
    raise ValueError(f"{where} must be a number or a list of num_tasks={num_tasks} numbers, got {value!r}.")


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into a copy of ``base``; a dotted key ``"schedule.cycles"`` is nested.

    A nested mapping merges into the existing one, except a ``normalize`` block with a different ``kind``,
    which replaces it (so ``{"normalize": {"kind": "reference", ...}}`` drops ``max``).
    """
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        parts = str(key).split(".")
        target = out
        for part in parts[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        last = parts[-1]
        current = target.get(last)
        if (
            isinstance(value, Mapping)
            and isinstance(current, dict)
            and not (last == "normalize" and value.get("kind", current.get("kind")) != current.get("kind"))
        ):  # nested mappings merge; a normalize block with a new kind replaces the old one
            target[last] = _merge(current, value)
        else:
            target[last] = copy.deepcopy(value)
    return out


def resolve_spec(raw: Mapping[str, Any], where: str = "suite spec") -> dict[str, Any]:
    """Check a suite spec and fill in every default.

    :param raw: the mapping read from YAML (after overrides).
    :param where: name used in error messages (e.g. the file).
    :return: the fully resolved, JSON/YAML-serialisable spec.
    :raises ValueError: on an unknown key, a missing required key or a bad value.
    """
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a mapping, got {type(raw).__name__}.")
    _check_keys(raw, SPEC_KEYS, where)
    tasks, task_env, listed_count = resolve_tasks(raw, where)  # (None, None, None) without tasks
    for key in ("schedule",) if tasks else ("env_id", "num_tasks", "schedule"):
        if key not in raw:
            raise ValueError(f"{where} needs the key {key!r} (valid keys: {list(SPEC_KEYS)}).")
    if tasks is None and not isinstance(raw["env_id"], str):
        raise ValueError(f"{where}: env_id must be a Gymnasium id string, got {raw['env_id']!r}.")
    if tasks is None:
        check_gym_id(raw["env_id"], f"{where}: env_id")
    num_tasks = listed_count or positive_int(raw["num_tasks"], f"{where}: num_tasks")
    metric = raw.get("metric", "return")
    if metric not in METRICS:
        raise unknown(f"metric in {where}:", metric, METRICS)
    env_kwargs = raw.get("env_kwargs") or {}
    if not isinstance(env_kwargs, Mapping):
        raise ValueError(f"{where}: env_kwargs must be a mapping, got {env_kwargs!r}.")
    variant_seed = raw.get("variant_seed", 0)
    if isinstance(variant_seed, bool) or not isinstance(variant_seed, int):
        raise ValueError(f"{where}: variant_seed must be an integer, got {variant_seed!r}.")

    variants = raw.get("variants") or []
    if not isinstance(variants, list):
        raise ValueError(f"{where}: variants must be a list of {{family: ...}} entries, got {variants!r}.")
    for entry in variants:
        check_family_spec(entry)

    coordinate = raw.get("coordinate", False)
    if not isinstance(coordinate, bool):
        raise ValueError(f"{where}: coordinate must be true or false, got {coordinate!r}.")
    if coordinate:
        reporting = [e["family"] for e in variants if FAMILIES[e["family"]].reports_coordinate]
        if not reporting:
            raise ValueError(
                f"{where}: coordinate: true needs a variant family that reports a continuous task "
                f"coordinate ({', '.join(coordinate_families())}), but the variants are "
                f"{[e['family'] for e in variants]}: add a drift entry or set coordinate: false."
            )
        if len(reporting) > 1:
            raise ValueError(
                f"{where}: coordinate: true needs exactly one variant entry that reports a coordinate, "
                f"found {len(reporting)} ({reporting}): drive every drifting attribute from one drift "
                "entry with attributes: {name: [low, high], ...}."
            )

    schedule = raw["schedule"]
    if not isinstance(schedule, Mapping):
        raise ValueError(
            f"{where}: schedule must be a mapping, e.g. {{kind: sequential, steps_per_task: 50000}}."
        )
    _check_keys(schedule, SCHEDULE_KEYS, f"{where} schedule")
    if "steps_per_task" not in schedule:
        raise ValueError(f"{where}: schedule needs 'steps_per_task' (environment steps per task).")
    resolved_schedule = {
        "kind": schedule.get("kind", "sequential"),
        "steps_per_task": positive_int(schedule["steps_per_task"], f"{where}: schedule.steps_per_task"),
        "cycles": positive_int(schedule.get("cycles", 1), f"{where}: schedule.cycles"),
        "seed": int(schedule.get("seed", 0)),
    }
    if resolved_schedule["kind"] not in SCHEDULE_KINDS:
        raise unknown(f"schedule kind in {where}:", resolved_schedule["kind"], SCHEDULE_KINDS)

    normalize = raw.get("normalize") or {"kind": "none"}
    if not isinstance(normalize, Mapping):
        raise ValueError(f"{where}: normalize must be a mapping, e.g. {{kind: fixed, max: 500}}.")
    kind = normalize.get("kind", "none")
    if kind not in NORMALIZE_KEYS:
        raise unknown(f"normalize kind in {where}:", kind, NORMALIZE_KEYS)
    _check_keys(normalize, NORMALIZE_KEYS[kind], f"{where} normalize ({kind})")
    resolved_normalize: dict[str, Any] = {"kind": kind}
    if kind == "fixed":
        if "max" not in normalize:
            raise ValueError(f"{where}: normalize kind 'fixed' needs 'max' (the best possible return).")
        resolved_normalize["min"] = _per_task(normalize.get("min", 0.0), num_tasks, f"{where}: normalize.min")
        resolved_normalize["max"] = _per_task(normalize["max"], num_tasks, f"{where}: normalize.max")
        low, high = resolved_normalize["min"], resolved_normalize["max"]
    elif kind == "reference":
        for key in ("random", "reference"):
            if key not in normalize:
                raise ValueError(
                    f"{where}: normalize kind 'reference' needs {key!r} (a number or one per task)."
                )
        low = resolved_normalize["random"] = _per_task(
            normalize["random"], num_tasks, f"{where}: normalize.random"
        )
        high = resolved_normalize["reference"] = _per_task(
            normalize["reference"], num_tasks, f"{where}: normalize.reference"
        )
    else:
        low, high = [0.0] * num_tasks, [1.0] * num_tasks
    if any(h == lo for lo, h in zip(low, high)):
        raise ValueError(f"{where}: normalize bounds must differ (0 and 1 map to the same return).")
    if metric == "success" and kind != "none":
        raise ValueError(
            f"{where}: with metric: success the performance matrix holds success rates, which need no "
            "normalisation: set normalize: {kind: none} or metric: return."
        )

    return {
        "description": str(raw.get("description", "")),
        "env_id": raw.get("env_id"),
        "env_kwargs": copy.deepcopy(dict(env_kwargs)),
        "num_tasks": num_tasks,
        "variant_seed": int(variant_seed),
        "variants": copy.deepcopy([dict(v) for v in variants]),
        "schedule": resolved_schedule,
        "normalize": resolved_normalize,
        "coordinate": coordinate,
        "tasks": tasks,
        "task_env": task_env,
        "metric": metric,
    }


# ------------------------------------------------------------------------------------------- suite
class Suite:
    """A family of ``K`` environment variants with a schedule and a return normalisation.

    Build it with :func:`load_suite` (from a YAML preset), or directly from a spec mapping.

    :param spec: a suite spec (see the module docstring); it is checked and completed.
    :param name: the suite name (file stem for presets).
    """

    def __init__(self, spec: Mapping[str, Any], name: str = "custom") -> None:
        self.name = name
        self.spec: dict[str, Any] = resolve_spec(spec, where=f"suite {name!r}")

    def __repr__(self) -> str:
        return f"Suite(name={self.name!r}, env_id={self.env_id!r}, num_tasks={self.num_tasks})"

    @property
    def num_tasks(self) -> int:
        """Number of tasks ``K``."""
        return int(self.spec["num_tasks"])

    @property
    def coordinate(self) -> bool:
        """Whether the observations carry ``"coord"``, the continuous task coordinate (spec key ``coordinate``)."""
        return bool(self.spec["coordinate"])

    @property
    def env_id(self) -> str:
        """The base Gymnasium id (a suite with ``tasks``: the id of task 0)."""
        return str(self.spec["env_id"] if self.spec["tasks"] is None else self.spec["tasks"][0]["env_id"])

    @property
    def metric(self) -> str:
        """What the performance matrix holds: ``return`` (normalised returns) or ``success`` (success rates)."""
        return str(self.spec["metric"])

    @property
    def total_timesteps(self) -> int:
        """Length of the whole schedule in environment steps."""
        return self.make_schedule().total_timesteps

    def _check_task(self, task: Any) -> int:
        return check_task(task, self.num_tasks, where=f"suite {self.name!r}")

    def make_schedule(self) -> TaskSchedule:
        """The suite's task schedule."""
        s = self.spec["schedule"]
        return make_schedule(
            s["kind"], self.num_tasks, steps_per_task=s["steps_per_task"], cycles=s["cycles"], seed=s["seed"]
        )

    def make_env(self, task: int, seed: int | None = None, render_mode: str | None = None) -> TaskObservation:
        """One environment running variant ``task``, with ``{"obs", "task"}`` observations (and ``"coord"``
        with ``coordinate: true``) and ``set_task``.

        :param task: the initial task in ``[0, K)``.
        :param seed: if given, the environment is reset with it once and its action space is seeded.
        :param render_mode: passed to ``gym.make``.
        :return: the environment.
        """
        task = self._check_task(task)
        if self.spec["tasks"] is not None:
            env = make_tasks_env(self.spec["tasks"], self.spec["task_env"], task, self.num_tasks, render_mode)
        else:
            env = make_variant_env(
                self.env_id,
                self.spec["variants"],
                task=task,
                num_tasks=self.num_tasks,
                seed=self.spec["variant_seed"],
                env_kwargs=self.spec["env_kwargs"],
                render_mode=render_mode,
                coordinate=self.spec["coordinate"],
            )
        if seed is not None:
            env.reset(seed=seed)
            env.action_space.seed(seed)
        return env

    def make_vec_env(
        self,
        n_envs: int = 1,
        seed: int = 0,
        vec_env_cls: type[VecEnv] | None = None,
        initial_tasks: list[int] | None = None,
        monitor_dir: str | Path | None = None,
    ) -> VecEnv:
        """A VecEnv of ``n_envs`` sub-envs, each wrapped in SB3's ``Monitor`` (outside the task wrapper, so
        ``info["episode"]`` exists and also holds ``task_id``).

        :param n_envs: number of sub-environments.
        :param seed: sub-env ``i`` is seeded with ``seed + i`` at its first reset.
        :param vec_env_cls: ``DummyVecEnv`` (default) or ``SubprocVecEnv``.
        :param initial_tasks: the task of each sub-env; default: the schedule's first tasks (task 0 for
            sequential, ``i mod K`` for parallel, ...).
        :param monitor_dir: if given, each Monitor writes ``<monitor_dir>/<i>.monitor.csv``.
        :return: the VecEnv.
        """
        tasks = initial_tasks_for(
            self.num_tasks, n_envs, self.make_schedule(), initial_tasks, where=f"suite {self.name!r}"
        )
        return task_vec_env(self.make_env, tasks, seed, vec_env_cls, monitor_dir)

    def make_eval_envs(self, seed: int = 0) -> list[VecEnv]:
        """One single-env ``DummyVecEnv`` per task, fixed to that task (index = task).

        :param seed: the seed of every evaluation env's first reset.
        :return: ``K`` VecEnvs.
        """
        return [self.make_vec_env(1, seed=seed, initial_tasks=[k]) for k in range(self.num_tasks)]

    def normalize(self, task: int, ret: float | np.ndarray) -> float | np.ndarray:
        """Normalise a return of a task: random (or ``min``) -> 0, reference (or ``max``) -> 1.

        :param task: the task.
        :param ret: a return or an array of returns.
        :return: the normalised value(s), same shape.
        """
        task = self._check_task(task)
        norm = self.spec["normalize"]
        if norm["kind"] == "fixed":
            low, high = norm["min"][task], norm["max"][task]
        elif norm["kind"] == "reference":
            low, high = norm["random"][task], norm["reference"][task]
        else:
            low, high = 0.0, 1.0
        out = (np.asarray(ret, dtype=np.float64) - low) / (high - low)
        return float(out) if out.ndim == 0 else out


def load_suite(
    name_or_path: str | Path,
    *,
    num_tasks: int | None = None,
    steps_per_task: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Suite:
    """Load a suite by name (file stem in ``envs/``) or from a YAML path.

    Example::

        suite = load_suite("cartpole-physics", steps_per_task=10_000, overrides={"schedule.cycles": 2})

    :param name_or_path: e.g. ``"cartpole-permuted"`` or ``"my/suite.yaml"``.
    :param num_tasks: override ``num_tasks``.
    :param steps_per_task: override ``schedule.steps_per_task``.
    :param overrides: keys to replace (nested mappings merge; ``"a.b"`` addresses a nested key).
    :return: the suite.
    :raises ValueError: on an unknown suite (with the closest name) or an invalid spec.
    """
    path = find_yaml("envs", name_or_path)
    raw = load_yaml(path)
    if overrides:
        raw = _merge(raw, overrides)
    if num_tasks is not None:
        raw["num_tasks"] = num_tasks
    if steps_per_task is not None:
        raw = _merge(raw, {"schedule": {"steps_per_task": steps_per_task}})
    return Suite(raw, name=path.stem)
