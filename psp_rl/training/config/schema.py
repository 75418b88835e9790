"""The training configuration's schema: :class:`TrainConfig` (every key a run needs, written to
``config.yaml``), the algorithms, activations and reserved keys, and the coercion of YAML 1.1 numbers.
:mod:`~psp_rl.training.config.presets` resolves presets and ``--set`` overrides into it,
:mod:`~psp_rl.training.config.validation` checks it.

Example::

    >>> TrainConfig.from_dict({"algo": "dqn", "rehearsal": {"coef": 1.0}}).continual["rehearsal"]["ratio"]
    1.0
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from psp_rl.nn.config import NETWORK_OPTIONS
from psp_rl.utils import did_you_mean

if TYPE_CHECKING:
    from psp_rl.envs.schedules import TaskSchedule
    from psp_rl.envs.suites import Suite

__all__ = [
    "ACTIVATIONS",
    "ALGOS",
    "CHECKPOINT_DEFAULTS",
    "DEVICES",
    "PRESET_KEYS",
    "PSP_POLICY_KEYS",
    "RESERVED_HYPERPARAMS",
    "TrainConfig",
    "coerce_number",
    "coerce_tree",
    "mechanism_names",
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
CHECKPOINT_DEFAULTS: dict[str, Any] = {"freq": 0, "keep": 2, "save_replay_buffer": True}

#: keys a preset file may hold, besides the sections of the continual mechanisms (:func:`mechanism_names`)
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


def _mechanisms() -> Mapping[str, Any]:
    """The registered continual mechanisms (their preset sections and defaults); imported on use, as they
    need Stable-Baselines3."""
    from psp_rl.continual import MECHANISMS

    return MECHANISMS


def mechanism_names() -> list[str]:
    """:return: the preset sections of the continual mechanisms (``rehearsal``, ``keep_best``, ...)."""
    return list(_mechanisms())


def _eval_defaults() -> dict[str, Any]:
    from psp_rl.evaluation.callback import EVAL_DEFAULTS

    return dict(EVAL_DEFAULTS)


def _continual_defaults() -> dict[str, Any]:
    return {name: cls.merged(None) for name, cls in _mechanisms().items()}


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
    :param continual: the sections of the continual mechanisms, by name (``keep_best``, ``rehearsal``,
        ``ewc``, ``replay``, ``optimizer``, ``restart_schedules``; the registry of :mod:`psp_rl.continual`),
        each over its defaults. A preset and ``config.yaml`` keep them as top-level keys
        (``rehearsal: {coef: 1.0}``, ``--set rehearsal.coef=1``); each mechanism's module documents its keys.
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
    eval: dict[str, Any] = dataclasses.field(default_factory=_eval_defaults)
    checkpoint: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(CHECKPOINT_DEFAULTS))
    normalize: bool | dict[str, Any] = False
    suite_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    reference: str | list[float] | None = None
    continual: dict[str, Any] = dataclasses.field(default_factory=_continual_defaults)
    grown: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    run_dir: str = "runs"
    description: str = ""

    @classmethod
    def field_names(cls) -> list[str]:
        """:return: the valid top-level keys (the continual mechanisms' sections are top-level keys)."""
        return [f.name for f in dataclasses.fields(cls) if f.name != "continual"] + mechanism_names()

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
        sections = {k: copy.deepcopy(v) for k, v in data.items() if k in _mechanisms()}
        kwargs = {k: copy.deepcopy(v) for k, v in data.items() if k in names and k not in sections}
        from psp_rl.training.config.validation import (
            check_fields,
            validate_config,
        )  # needs SB3: imported on use

        check_fields(cls, kwargs)  # the value types, before the sections are merged with their defaults
        cfg = cls(**kwargs)
        cfg.eval = {**_eval_defaults(), **(cfg.eval or {})}
        cfg.checkpoint = {**CHECKPOINT_DEFAULTS, **(cfg.checkpoint or {})}
        cfg.continual = {
            name: coerce_tree(mechanism.merged(sections.get(name)))
            for name, mechanism in _mechanisms().items()
        }
        cfg.policy_kwargs = coerce_tree(dict(cfg.policy_kwargs or {}))
        cfg.hyperparams = coerce_tree(dict(cfg.hyperparams or {}))
        cfg.suite_overrides = dict(cfg.suite_overrides or {})
        validate_config(cfg)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """:return: a plain, YAML-safe dict of every field, the continual sections as top-level keys (after
        ``reference``), as presets and ``config.yaml`` write them."""
        data = copy.deepcopy(dataclasses.asdict(self))
        continual = data.pop("continual")
        out: dict[str, Any] = {}
        for key, value in data.items():
            out[key] = value
            if key == "reference":
                out.update(continual)
        return out

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
