"""Training configuration: the schema (:class:`TrainConfig`), agent presets (``agents/*.yaml``) and
``--set`` overrides. :mod:`~psp_rl.training.validation` checks a config, :mod:`~psp_rl.training.build`
turns it into Stable-Baselines3 objects.

A preset is a zoo-style YAML mapping::

    description: PPO with binary PSP contexts
    algo: ppo                 # ppo | a2c | dqn | sac | td3
    policy: psp               # the PSP policy of the algorithm, or an SB3 alias such as MultiInputPolicy
    n_envs: 8
    policy_kwargs: {context: binary, net_arch: [64, 64], activation_fn: tanh}
    hyperparams: {learning_rate: 1.0e-3, n_steps: 128, batch_size: 256}
    eval: {episodes: 10, eval_freq: 0}
    checkpoint: {freq: 0, keep: 2}

It is resolved into a :class:`TrainConfig`: the preset, then the explicit command-line options
(``--seed``, ``--n-envs``, ...), then ``--set key.sub=value`` overrides (values parsed with
``yaml.safe_load``). Every key is checked; an unknown key is an error naming the closest valid key.

Example::

    >>> cfg = resolve_config("ppo-psp", suite="cartpole-permuted", sets=["hyperparams.learning_rate=1e-3"])
    >>> cfg.hyperparams["learning_rate"]
    0.001
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import yaml

from psp_rl.nn.config import NETWORK_OPTIONS
from psp_rl.resources import find_yaml, load_yaml
from psp_rl.utils import did_you_mean

if TYPE_CHECKING:
    from psp_rl.envs.schedules import TaskSchedule
    from psp_rl.envs.suites import Suite

__all__ = [
    "ACTIVATIONS",
    "ALGOS",
    "DEVICES",
    "TrainConfig",
    "apply_overrides",
    "load_preset",
    "parse_overrides",
    "resolve_config",
]

#: algorithm name -> (SB3 class name, PSP policy class name in ``psp_rl.policies``)
ALGOS: dict[str, tuple[str, str]] = {
    "ppo": ("PPO", "PSPActorCriticPolicy"),
    "a2c": ("A2C", "PSPActorCriticPolicy"),
    "dqn": ("DQN", "PSPDQNPolicy"),
    "sac": ("SAC", "PSPSACPolicy"),
    "td3": ("TD3", "PSPTD3Policy"),
}

#: activation names accepted in ``policy_kwargs.activation_fn`` -> ``torch.nn`` class name
ACTIVATIONS: dict[str, str] = {
    "tanh": "Tanh",
    "relu": "ReLU",
    "elu": "ELU",
    "leaky_relu": "LeakyReLU",
    "gelu": "GELU",
    "silu": "SiLU",
    "sigmoid": "Sigmoid",
    "identity": "Identity",
}

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

#: policy_kwargs the PSP policies understand (on top of their SB3 base class arguments): the widths, the
#: activation and the network options (listed once, in psp_rl.nn.config)
PSP_POLICY_KEYS: tuple[str, ...] = ("net_arch", "activation_fn", *NETWORK_OPTIONS)
#: what each evaluation covers (preset key ``eval.matrix``, see ``ContinualEvalCallback``)
EVAL_MATRIX: tuple[str, ...] = ("full", "diagonal")

EVAL_DEFAULTS: dict[str, Any] = {
    "episodes": 10,
    "eval_freq": 0,
    "deterministic": True,
    "n_envs": None,
    "matrix": "full",
}
CHECKPOINT_DEFAULTS: dict[str, Any] = {"freq": 0, "keep": 2, "save_replay_buffer": True}
EWC_DEFAULTS: dict[str, Any] = {"lambda": 0.0, "fisher_samples": 512, "critic": False}
#: off-policy replay at a task switch (see ``psp_rl.training.replay``)
REPLAY_DEFAULTS: dict[str, Any] = {"at_switch": "reset", "learning_starts": "once"}
#: the optimizers' state at a task switch (see ``psp_rl.training.optimizer_reset``)
OPTIMIZER_DEFAULTS: dict[str, Any] = {"at_switch": "keep"}
#: DQN / SAC / TD3: distillation of earlier tasks' outputs (see ``psp_rl.training.rehearsal``); coef 0 = off
REHEARSAL_DEFAULTS: dict[str, Any] = {
    "coef": 0.0,
    "target": "outputs",
    "margin": 1.0,
    "states_per_task": 5000,
    "batch_size": 256,
    "when": "interleaved",
    "ratio": 1.0,
    "consolidation_steps": 2000,
}
#: end each phase on its best-scoring weights (see ``psp_rl.training.keep_best``); freq 0 = off
KEEP_BEST_DEFAULTS: dict[str, Any] = {"freq": 0, "episodes": 5, "start": 0.5}

#: keys a preset file may hold
PRESET_KEYS: tuple[str, ...] = (
    "description",
    "algo",
    "policy",
    "suite",
    "n_envs",
    "num_tasks",
    "steps_per_task",
    "policy_kwargs",
    "hyperparams",
    "eval",
    "checkpoint",
    "normalize",
    "suite_overrides",
    "reference",
    "ewc",
    "restart_schedules",
    "replay",
    "optimizer",
    "rehearsal",
    "keep_best",
)

# Algorithm arguments that the training loop sets itself.
RESERVED_HYPERPARAMS: dict[str, str] = {
    "policy": "the top-level key `policy`",
    "env": "the suite (--suite)",
    "policy_kwargs": "the top-level key `policy_kwargs`",
    "tensorboard_log": "the run folder (--run-dir)",
    "seed": "--seed",
    "device": "--device",
    "verbose": "nothing (the progress bar replaces it)",
    "_init_setup_model": "nothing",
}

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def coerce_number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` as a string; turn number-looking strings into numbers."""
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            return float(text)
    return value


def _with_defaults(section: Any, defaults: Mapping[str, Any]) -> Any:
    """A config section merged over its defaults (left as it is when it is not a mapping, so that
    validation names the wrong value)."""
    return {**defaults, **section} if isinstance(section, Mapping) else section


def coerce_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: coerce_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [coerce_tree(v) for v in value]
    return coerce_number(value)


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs; written to ``config.yaml`` in the run folder.

    :param agent: preset name (or path) it was built from.
    :param suite: task-suite name or path (``envs/``).
    :param seed: random seed (model, envs, evaluation).
    :param device: ``auto``, ``cpu`` or ``cuda``.
    :param algo: ``ppo``, ``a2c``, ``dqn``, ``sac`` or ``td3``.
    :param policy: ``psp`` (the PSP policy of ``algo``) or an SB3 policy alias such as ``MultiInputPolicy``.
    :param n_envs: number of parallel training envs.
    :param num_tasks: number of task variants (``None``: the suite's).
    :param steps_per_task: env steps per task phase (``None``: the suite's).
    :param policy_kwargs: policy arguments; ``activation_fn`` is a name (``tanh``, ``relu``, ...).
    :param hyperparams: algorithm arguments (``learning_rate``, ``n_steps``, ...).
    :param eval: ``episodes``, ``eval_freq`` (env steps, 0 = only at phase ends), ``deterministic``,
        ``n_envs`` (parallel evaluation envs per task; ``None``: ``min(episodes, 10)``), ``matrix``
        (``full``: every task at every evaluation; ``diagonal``: the current task, at phase ends
        also the next one, and every task at the last phase end; for large K).
    :param checkpoint: ``freq`` (env steps, 0 = only at phase ends), ``keep``, ``save_replay_buffer``
        (default ``true``: off-policy algorithms save their replay buffer with every checkpoint, so a
        resumed run trains on the same data; ignored by PPO/A2C).
    :param normalize: ``False``, ``True`` or VecNormalize arguments (observations under ``"obs"`` only).
    :param suite_overrides: overrides passed to ``load_suite``.
    :param reference: single-task reference run (run folder or ``metrics.json``), or a list of AUCs
        per task, for forward transfer.
    :param ewc: elastic weight consolidation (PPO/A2C, a baseline for ``policy_kwargs.mode: shared``):
        ``lambda`` (penalty strength, 0 = off), ``fisher_samples`` (observations per Fisher estimate)
        and ``critic`` (also consolidate the value network; default: the actor only).
    :param restart_schedules: the SB3 schedules that restart with every task phase instead of running
        once over the whole run: ``exploration`` (DQN's ε; default), ``learning_rate``, ``clip_range``,
        ``clip_range_vf`` (see :mod:`psp_rl.training.phase_schedules`).
    :param replay: off-policy algorithms: ``at_switch`` ``reset`` (default: emptied when a new task starts)
        or ``keep``; ``learning_starts`` ``once`` (default, SB3's) or ``each_phase`` (an emptied buffer
        takes ``hyperparams.learning_starts`` transitions first; see :mod:`psp_rl.training.replay`).
    :param optimizer: ``at_switch`` is ``keep`` (default: the optimizers' moments carry over to the
        next task) or ``reset`` (cleared at every task switch; see :mod:`psp_rl.training.optimizer_reset`).
    :param rehearsal: DQN, SAC, TD3: distillation of earlier tasks' outputs (``coef``: 0 = off, the
        default), see :mod:`psp_rl.training.rehearsal` for its keys.
    :param keep_best: end each phase on its best weights by validation scores of the current task
        (``freq``: 0 = off, the default), see :mod:`psp_rl.training.keep_best` for its keys.
    :param grown: tasks added to the run after it started (``psp-rl train --resume RUN --num-tasks K2``,
        see :func:`grow_config`): one ``{from_tasks, num_tasks, steps_per_task}`` entry per growth, in
        order. The suite's own schedule covers the first ``from_tasks`` tasks of the first entry; each
        added task then trains for one phase of ``steps_per_task`` steps. Written by the run, not by
        presets.
    :param run_dir: parent folder of the run folders.
    :param description: one line shown by ``psp-rl list``.
    """

    agent: str = "custom"
    suite: str = "cartpole-permuted"
    seed: int = 0
    device: str = "auto"
    algo: str = "ppo"
    policy: str = "psp"
    n_envs: int = 1
    num_tasks: int | None = None
    steps_per_task: int | None = None
    policy_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    hyperparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    eval: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(EVAL_DEFAULTS))
    checkpoint: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(CHECKPOINT_DEFAULTS))
    normalize: bool | dict[str, Any] = False
    suite_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    reference: str | list[float] | None = None
    ewc: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(EWC_DEFAULTS))
    restart_schedules: list[str] = dataclasses.field(default_factory=lambda: ["exploration"])
    replay: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(REPLAY_DEFAULTS))
    optimizer: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(OPTIMIZER_DEFAULTS))
    rehearsal: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(REHEARSAL_DEFAULTS))
    keep_best: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(KEEP_BEST_DEFAULTS))
    grown: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    run_dir: str = "runs"
    description: str = ""

    @classmethod
    def field_names(cls) -> list[str]:
        """:return: the valid top-level keys."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build and validate a config from a mapping (e.g. a run's ``config.yaml``).

        Keys the run folder adds for the record (``suite_spec``, ``total_timesteps``...) are ignored.

        :param data: the mapping.
        :return: the validated config.
        :raises ValueError: on an unknown key or an invalid value.
        """
        names = cls.field_names()
        record_only = {"suite_spec", "total_timesteps", "phase_boundaries", "phase_tasks", "run_path"}
        extra = [k for k in data if k not in names and k not in record_only]
        if extra:
            raise ValueError(f"Unknown config key {extra[0]!r}.{did_you_mean(extra[0], names)}")
        kwargs = {k: copy.deepcopy(v) for k, v in data.items() if k in names}
        from psp_rl.training.validation import check_fields, validate_config  # needs SB3: imported on use

        check_fields(cls, kwargs)  # the value types, before the sections are merged with their defaults
        cfg = cls(**kwargs)
        cfg.eval = {**EVAL_DEFAULTS, **(cfg.eval or {})}
        cfg.checkpoint = {**CHECKPOINT_DEFAULTS, **(cfg.checkpoint or {})}
        cfg.ewc = coerce_tree({**EWC_DEFAULTS, **(cfg.ewc or {})})
        cfg.replay = _with_defaults(cfg.replay, REPLAY_DEFAULTS)
        cfg.optimizer = _with_defaults(cfg.optimizer, OPTIMIZER_DEFAULTS)
        cfg.rehearsal = coerce_tree(_with_defaults(cfg.rehearsal, REHEARSAL_DEFAULTS))
        cfg.keep_best = coerce_tree(_with_defaults(cfg.keep_best, KEEP_BEST_DEFAULTS))
        cfg.policy_kwargs = coerce_tree(dict(cfg.policy_kwargs or {}))
        cfg.hyperparams = coerce_tree(dict(cfg.hyperparams or {}))
        cfg.suite_overrides = dict(cfg.suite_overrides or {})
        validate_config(cfg)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """:return: a plain, YAML-safe dict of every field."""
        return copy.deepcopy(dataclasses.asdict(self))

    def load_suite(self) -> Suite:
        """The task suite this config trains on (its ``suite``, ``num_tasks``, ``steps_per_task`` and
        ``suite_overrides``).

        :return: the suite.
        """
        from psp_rl.envs.suites import load_suite

        return load_suite(
            self.suite,
            num_tasks=self.num_tasks,
            steps_per_task=self.steps_per_task,
            overrides=self.suite_overrides or None,
        )

    def make_schedule(self, suite: Suite) -> TaskSchedule:
        """The run's task schedule: the suite's, followed by the phases of the tasks added later (``grown``).

        :param suite: the suite of this config (:meth:`load_suite`).
        :return: the schedule.
        """
        schedule = suite.make_schedule()
        if not self.grown:
            return schedule
        schedule = dataclasses.replace(schedule, num_tasks=int(self.grown[0]["from_tasks"]))
        for stage in self.grown:
            schedule = schedule.grow(int(stage["num_tasks"]), int(stage["steps_per_task"]))
        return schedule


def load_preset(name: str) -> dict[str, Any]:
    """Read an agent preset by name (``ppo-psp``) or path, checking its keys.

    :param name: preset name (file stem in ``agents/``) or a path to a YAML file.
    :return: the preset mapping.
    :raises ValueError: unknown preset (with the closest name) or unknown key.
    """
    data = load_yaml(find_yaml("agents", name))
    for key in data:
        if key not in PRESET_KEYS:
            raise ValueError(f"Unknown key {key!r} in agent preset {name!r}.{did_you_mean(key, PRESET_KEYS)}")
    return data


def parse_overrides(items: Sequence[str] | None) -> list[tuple[list[str], Any]]:
    """Parse ``--set`` items of the form ``key.sub=value`` (value read with ``yaml.safe_load``).

    :param items: the strings given after ``--set``.
    :return: ``(key path, value)`` pairs.
    :raises ValueError: when an item is not ``KEY=VALUE``.

    Example::

        >>> parse_overrides(["hyperparams.learning_rate=1e-3", "policy_kwargs.net_arch=[32, 32]"])
        [(['hyperparams', 'learning_rate'], 0.001), (['policy_kwargs', 'net_arch'], [32, 32])]
    """
    pairs: list[tuple[list[str], Any]] = []
    for item in items or []:
        key, sep, text = item.partition("=")
        path = key.strip().split(".")
        if not sep or not key.strip() or any(not part for part in path):
            raise ValueError(
                f"Bad --set {item!r}: expected KEY=VALUE with a dotted key, "
                "e.g. --set hyperparams.learning_rate=1e-3 or --set policy_kwargs.context=complex."
            )
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as error:
            raise ValueError(f"Bad --set {item!r}: the value is not valid YAML ({error}).") from error
        pairs.append((path, coerce_tree(value)))
    return pairs


def apply_overrides(config: dict[str, Any], overrides: Sequence[tuple[list[str], Any]]) -> dict[str, Any]:
    """Set dotted keys in a config dict (in place). Top-level and section keys are checked later by
    :func:`validate_config`; the top-level key is checked here so typos fail early.

    :param config: a config mapping (as from :meth:`TrainConfig.to_dict`).
    :param overrides: pairs from :func:`parse_overrides`.
    :return: ``config``.
    :raises ValueError: unknown top-level key, or a sub-key under a non-mapping key.
    """
    names = TrainConfig.field_names()
    for path, value in overrides:
        if path[0] not in names:
            raise ValueError(f"Unknown --set key {'.'.join(path)!r}.{did_you_mean(path[0], names)}")
        node = config
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None or child is False or child is True:
                child = {}
                node[part] = child
            if not isinstance(child, dict):
                raise ValueError(
                    f"--set {'.'.join(path)}: {'.'.join(path[: depth + 1])!r} is not a mapping "
                    f"(it is {child!r}); set it directly instead."
                )
            node = child
        node[path[-1]] = value
    return config


def resolve_config(
    agent: str,
    suite: str | None = None,
    *,
    seed: int | None = None,
    device: str | None = None,
    n_envs: int | None = None,
    steps_per_task: int | None = None,
    num_tasks: int | None = None,
    run_dir: str | None = None,
    sets: Sequence[str] | None = None,
) -> TrainConfig:
    """Preset, then explicit options (those not ``None``), then ``--set`` overrides.

    :param agent: preset name or path.
    :param suite: suite name or path (default: the preset's ``suite`` key, else ``cartpole-permuted``).
    :param seed: random seed.
    :param device: ``auto``, ``cpu`` or ``cuda``.
    :param n_envs: parallel training envs.
    :param steps_per_task: env steps per task phase.
    :param num_tasks: number of task variants.
    :param run_dir: parent folder for run folders.
    :param sets: ``KEY=VALUE`` override strings.
    :return: the validated config.
    """
    preset = load_preset(agent)
    data = TrainConfig().to_dict()
    for key, value in preset.items():
        if key in ("eval", "checkpoint") and isinstance(value, dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = copy.deepcopy(value)
    data["agent"] = str(agent)
    explicit = {
        "suite": suite,
        "seed": seed,
        "device": device,
        "n_envs": n_envs,
        "steps_per_task": steps_per_task,
        "num_tasks": num_tasks,
        "run_dir": run_dir,
    }
    data.update({k: v for k, v in explicit.items() if v is not None})
    apply_overrides(data, parse_overrides(sets))
    return TrainConfig.from_dict(data)
