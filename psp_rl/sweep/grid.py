"""The definition of a sweep: :class:`SweepSpec`, ``--grid KEY=V1,V2`` items, the YAML sweep file and
the expansion of the grid into points and trials (one validated :class:`~psp_rl.training.TrainConfig`
per grid point and seed).

A sweep file holds the same keys as the command line (``yaml.safe_load``; an unknown key is an error
naming the closest valid one)::

    agent: ppo-psp
    suite: cartpole-permuted
    seeds: [0, 1, 2]
    grid:                          # every combination of these values is a grid point
      policy_kwargs.mode: [psp, shared]
      hyperparams.learning_rate: [3.0e-4, 1.0e-4]
    set: [eval.episodes=5]         # overrides shared by every run (or a mapping key: value)
    arms:                          # named sets of overrides, each crossed with the grid (optional)
      psp: []
      ewc: [policy_kwargs.mode=shared, ewc.lambda=100]
    num_tasks: 5
    steps_per_task: 20000
    workers: 4                     # execution: Ray CPUs when local, resources per run, cluster address
    gpus_per_run: 0.25

Example::

    >>> parse_grid_item("policy_kwargs.net_arch=[64, 64],[256, 256]")
    ('policy_kwargs.net_arch', [[64, 64], [256, 256]])
    >>> expand_grid({"a.b": [1, 2], "c": ["x"]})
    [{'a.b': 1, 'c': 'x'}, {'a.b': 2, 'c': 'x'}]
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from psp_rl.training.config import TrainConfig, coerce_tree, resolve_config
from psp_rl.utils import did_you_mean

__all__ = [
    "ARM_KEY",
    "DEFINITION_KEYS",
    "EXECUTION_KEYS",
    "FILE_KEYS",
    "SweepSpec",
    "check_grid_key",
    "expand_grid",
    "load_sweep_file",
    "override_items",
    "parse_grid",
    "parse_grid_item",
    "point_label",
    "set_items",
    "split_values",
    "trial_id",
    "value_text",
]

#: what defines a sweep (saved in ``DIR/sweep.yaml``; a resumed sweep keeps it)
DEFINITION_KEYS: tuple[str, ...] = (
    "agent",
    "suite",
    "seeds",
    "grid",
    "set",
    "num_tasks",
    "steps_per_task",
    "description",
    "arms",
)
#: how it runs (may change between launches of one sweep)
EXECUTION_KEYS: tuple[str, ...] = ("workers", "cpus_per_run", "gpus_per_run", "address", "max_failures")
#: every key a sweep file may hold
FILE_KEYS: tuple[str, ...] = (*DEFINITION_KEYS, *EXECUTION_KEYS, "out")
#: the key of a point that names its arm
ARM_KEY = "arm"
#: config keys the sweep sets itself
_OWN_KEYS = {"seed": "--seeds (the sweep's seeds)", "run_dir": "--out (runs go to OUT/runs/)"}
_OPEN, _CLOSE = "[{(", "]})"


@dataclasses.dataclass
class SweepSpec:
    """A grid of training runs: every grid point (one combination of the grid's values) x every seed.

    :param agent: agent preset name or YAML path.
    :param suite: task suite (``None``: the preset's).
    :param seeds: the seeds of every grid point.
    :param grid: dotted config key -> the values it takes (parsed, as ``--set`` reads them).
    :param arms: named sets of ``KEY=VALUE`` overrides (a comparison's arms, each the preset plus a few
        keys); every arm is crossed with the grid, and a point's ``arm`` names its arm.
    :param set: ``KEY=VALUE`` overrides shared by every run.
    :param num_tasks: number of task variants (``None``: the suite's).
    :param steps_per_task: env steps per task phase (``None``: the suite's).
    :param description: a line for the record.
    :param workers: Ray CPUs of a local sweep (``None``: every CPU); ignored on a cluster.
    :param cpus_per_run: CPUs Ray reserves for each run.
    :param gpus_per_run: GPUs Ray reserves for each run (fractions share a GPU).
    :param address: a running Ray cluster (``None``: ``RAY_ADDRESS``, else a local Ray).
    :param max_failures: how often a failed run is retried (from its last checkpoint).
    """

    agent: str = "ppo-psp"
    suite: str | None = None
    seeds: list[int] = dataclasses.field(default_factory=lambda: [0])
    grid: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    set: list[str] = dataclasses.field(default_factory=list)
    arms: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    num_tasks: int | None = None
    steps_per_task: int | None = None
    description: str = ""
    workers: int | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    address: str | None = None
    max_failures: int = 2

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Check the fields (not the configs: :meth:`points` resolves those).

        :raises ValueError: naming the field and the fix.
        """
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"--seeds must be one or more distinct integers, got {self.seeds}.")
        for key, values in self.grid.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"--grid {key}: give at least one value, e.g. --grid {key}=A,B.")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise ValueError(f"--workers must be a positive integer, got {self.workers!r}.")
        if not isinstance(self.max_failures, int) or self.max_failures < 0:
            raise ValueError(f"--max-failures must be a non-negative integer, got {self.max_failures!r}.")
        if self.cpus_per_run <= 0 or self.gpus_per_run < 0:
            raise ValueError("--cpus-per-run must be > 0 and --gpus-per-run >= 0 (fractions allowed).")

    def definition(self) -> dict[str, Any]:
        """:return: the keys that define the sweep (what ``DIR/sweep.yaml`` records)."""
        return {k: getattr(self, k) for k in DEFINITION_KEYS}

    def points(self) -> list[dict[str, Any]]:
        """:return: the grid points in order: ``{key: value}`` overrides, one mapping per point (with
        arms, ``{"arm": name, key: value, ...}``, every arm crossed with the grid)."""
        grid = expand_grid(self.grid)
        if not self.arms:
            return grid
        return [{ARM_KEY: name, **point} for name in self.arms for point in grid]

    def point_sets(self, point: Mapping[str, Any]) -> list[str]:
        """:param point: one of :meth:`points`. :return: its overrides as ``KEY=VALUE`` items (its arm's first)."""
        arm = self.arms.get(point[ARM_KEY], []) if ARM_KEY in point else []
        return [*arm, *override_items({k: v for k, v in point.items() if k != ARM_KEY})]

    def configs(self, run_root: str | Path) -> list[list[TrainConfig]]:
        """Resolve and validate the config of every run: per grid point, one per seed.

        :param run_root: parent folder of the runs (``cfg.run_dir`` is set per run by the engine).
        :return: ``configs[point][seed index]``.
        :raises ValueError: an invalid key or value, named with the closest valid one.
        """
        for item in self.set:
            key = item.partition("=")[0].strip()
            if key.split(".")[0] in _OWN_KEYS:
                raise ValueError(f"--set {key}: the sweep sets it; use {_OWN_KEYS[key.split('.')[0]]}.")
        # the shared overrides alone first, so that their errors are not blamed on a grid point
        self._resolve(self.seeds[0], run_root, [])
        out = []
        for point in self.points():
            sets = self.point_sets(point)
            try:
                out.append([self._resolve(seed, run_root, sets) for seed in self.seeds])
            except ValueError as error:
                raise ValueError(f"grid point {point_label(point)}: {error}") from error
        return out

    def _resolve(self, seed: int, run_root: str | Path, sets: list[str]) -> TrainConfig:
        return resolve_config(
            self.agent,
            self.suite,
            seed=seed,
            num_tasks=self.num_tasks,
            steps_per_task=self.steps_per_task,
            run_dir=str(run_root),
            sets=[*self.set, *sets],
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "the sweep") -> SweepSpec:
        """Build a spec from a mapping of :data:`FILE_KEYS` (``out`` is ignored here).

        :param data: e.g. a sweep file's content.
        :param source: named in error messages.
        :raises ValueError: an unknown key (with the closest valid one) or a bad value.
        """
        for key in data:
            if key not in FILE_KEYS:
                raise ValueError(f"Unknown key {key!r} in {source}.{did_you_mean(key, FILE_KEYS)}")
        kwargs = {k: v for k, v in data.items() if k != "out" and v is not None}
        if "seeds" in kwargs:
            seeds = kwargs["seeds"]
            kwargs["seeds"] = [seeds] if isinstance(seeds, int) else list(seeds)
            if not all(isinstance(s, int) and not isinstance(s, bool) for s in kwargs["seeds"]):
                raise ValueError(f"{source}: seeds must be integers, got {seeds!r}.")
        if "set" in kwargs:
            kwargs["set"] = set_items(kwargs["set"], source)
        if "arms" in kwargs:
            arms = kwargs["arms"]
            if not isinstance(arms, Mapping):
                raise ValueError(
                    f"{source}: arms must map arm names to lists of KEY=VALUE overrides, got {arms!r}."
                )
            kwargs["arms"] = {
                str(name): set_items(items or [], f"{source}, arm {name!r}") for name, items in arms.items()
            }
        if "grid" in kwargs:
            grid = kwargs["grid"]
            if not isinstance(grid, Mapping):
                raise ValueError(f"{source}: grid must map dotted keys to lists of values, got {grid!r}.")
            kwargs["grid"] = {str(k): _grid_values(str(k), v, source) for k, v in grid.items()}
            for key in kwargs["grid"]:
                check_grid_key(key)
        for key in ("cpus_per_run", "gpus_per_run"):
            if key in kwargs:
                kwargs[key] = float(kwargs[key])
        return cls(**kwargs)


def set_items(value: Any, source: str = "the sweep") -> list[str]:
    """The ``set`` key of a sweep file as ``KEY=VALUE`` items.

    :param value: a list of ``KEY=VALUE`` strings, one such string, or a mapping ``{key: value}``.
    :param source: named in the error message.
    :raises ValueError: any other shape.
    """
    if isinstance(value, Mapping):
        return override_items(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"{source}: set must be a list of KEY=VALUE strings or a mapping, got {value!r}.")


def _grid_values(key: str, values: Any, source: str) -> list[Any]:
    if not isinstance(values, list) or not values:
        raise ValueError(f"{source}: grid key {key!r} needs a non-empty list of values, got {values!r}.")
    return [coerce_tree(v) for v in values]


def check_grid_key(key: str) -> None:
    """Check a grid key's form and its top-level name (deeper names are checked with the config).

    :param key: a dotted config key.
    :raises ValueError: an empty part, a key the sweep sets itself, or an unknown top-level key.
    """
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ValueError(f"Bad --grid key {key!r}: a dotted config key, e.g. policy_kwargs.mode.")
    if parts[0] in _OWN_KEYS:
        raise ValueError(f"--grid {key}: the sweep sets it; use {_OWN_KEYS[parts[0]]}.")
    names = TrainConfig.field_names()
    if parts[0] not in names:
        raise ValueError(f"Unknown --grid key {key!r}.{did_you_mean(parts[0], names)}")


def split_values(text: str) -> list[str]:
    """Split ``V1,V2,...`` at the commas outside brackets and quotes (``[64, 64],[32]`` is two values).

    :param text: the text after ``KEY=``.
    :return: the stripped value texts.
    :raises ValueError: unbalanced brackets or quotes.
    """
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
            if depth < 0:
                break
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if depth != 0 or quote:
        raise ValueError(f"unbalanced brackets or quotes in {text!r}")
    parts.append(text[start:].strip())
    return parts


def parse_grid_item(item: str) -> tuple[str, list[Any]]:
    """Parse one ``--grid KEY=V1,V2,...`` (each value read with ``yaml.safe_load``, as ``--set`` does).

    :param item: the text after ``--grid``.
    :return: the key and its values.
    :raises ValueError: naming the item and the form it needs.
    """
    key, sep, text = item.partition("=")
    key = key.strip()
    form = "expected KEY=V1,V2,... e.g. --grid policy_kwargs.mode=psp,shared"
    if not sep or not key:
        raise ValueError(f"Bad --grid {item!r}: {form}.")
    check_grid_key(key)
    try:
        texts = split_values(text)
    except ValueError as error:
        raise ValueError(f"Bad --grid {item!r}: {error}; {form}.") from error
    if any(not t for t in texts):
        raise ValueError(f"Bad --grid {item!r}: an empty value; {form} (quote an empty string: '').")
    values = []
    for t in texts:
        try:
            values.append(coerce_tree(yaml.safe_load(t)))
        except yaml.YAMLError as error:
            raise ValueError(f"Bad --grid {item!r}: {t!r} is not valid YAML ({error}).") from error
    return key, values


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """Parse every ``--grid`` item; a key given twice is an error.

    :param items: the texts after ``--grid``.
    :return: key -> values, in the order given.
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, values = parse_grid_item(item)
        if key in grid:
            raise ValueError(f"--grid {key} is given twice: list all its values in one --grid {key}=A,B.")
        grid[key] = values
    return grid


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values (the first key varies slowest); ``[{}]`` for no grid.

    :param grid: key -> values.
    :return: one ``{key: value}`` mapping per grid point.
    """
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def value_text(value: Any) -> str:
    """A value as ``--set`` text that reads back as the same value: a plain string as it is, else JSON.

    :param value: a parsed value.
    """
    if isinstance(value, str):
        try:
            if coerce_tree(yaml.safe_load(value)) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value)


def override_items(point: Mapping[str, Any]) -> list[str]:
    """A grid point's overrides as ``KEY=VALUE`` items (what ``--set`` takes).

    :param point: key -> value.
    """
    return [f"{key}={value_text(value)}" for key, value in point.items()]


def point_label(point: Mapping[str, Any]) -> str:
    """A short label of a grid point: ``mode=psp lr=1e-4`` (last part of each key; ``(base)`` if empty).

    :param point: the point's overrides.
    """
    if not point:
        return "(base)"
    return " ".join(f"{k.split('.')[-1]}={value_text(v)}" for k, v in point.items())


def trial_id(index: int, point: Mapping[str, Any], seed: int) -> str:
    """The folder-safe name of a run: ``g00_mode-psp__s0`` (grid index, point label, seed).

    :param index: the grid point's index.
    :param point: its overrides.
    :param seed: the seed.
    """
    slug = re.sub(r"[^A-Za-z0-9._+-]+", "-", point_label(point) if point else "base").strip("-")[:48]
    return f"g{index:02d}_{slug}__s{seed}"


def load_sweep_file(path: str | Path) -> dict[str, Any]:
    """Read a sweep file (``yaml.safe_load``) and check its keys.

    :param path: the YAML file.
    :return: its mapping.
    :raises FileNotFoundError: no such file.
    :raises ValueError: not a mapping, or an unknown key (with the closest valid one).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--file {path}: no such sweep file.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"--file {path}: not valid YAML ({error}).") from error
    if not isinstance(data, dict):
        raise ValueError(f"--file {path}: a sweep file is a mapping of {', '.join(FILE_KEYS)}.")
    for key in data:
        if key not in FILE_KEYS:
            raise ValueError(f"Unknown key {key!r} in sweep file {path}.{did_you_mean(key, FILE_KEYS)}")
    return data
