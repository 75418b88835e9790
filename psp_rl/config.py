"""Training configuration: agent presets (``agents/*.yaml``), validation and ``--set`` overrides.

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

import contextlib
import copy
import dataclasses
import difflib
import inspect
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from psp_rl.resources import find_yaml, load_yaml

__all__ = [
    "ACTIVATIONS",
    "ALGOS",
    "DEVICES",
    "TrainConfig",
    "algo_class",
    "apply_overrides",
    "build_hyperparams",
    "build_policy_kwargs",
    "closest",
    "load_preset",
    "parse_overrides",
    "policy_class",
    "resolve_config",
    "validate_config",
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

#: policy_kwargs the PSP policies understand (on top of their SB3 base class arguments)
PSP_POLICY_KEYS: tuple[str, ...] = (
    "context",
    "context_seed",
    "net_arch",
    "activation_fn",
    "task_bias",
    "mode",
)
CONTEXT_KINDS: tuple[str, ...] = ("binary", "complex", "rotation")
PSP_MODES: tuple[str, ...] = ("psp", "shared", "onehot", "multihead", "separate")
#: what each evaluation covers (preset key ``eval.matrix``, see ``ContinualEvalCallback``)
EVAL_MATRIX: tuple[str, ...] = ("full", "diagonal")

EVAL_DEFAULTS: dict[str, Any] = {
    "episodes": 10,
    "eval_freq": 0,
    "deterministic": True,
    "n_envs": None,
    "matrix": "full",
}
CHECKPOINT_DEFAULTS: dict[str, Any] = {"freq": 0, "keep": 2, "save_replay_buffer": False}
EWC_DEFAULTS: dict[str, Any] = {"lambda": 0.0, "fisher_samples": 512, "critic": False}

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
)

# Algorithm arguments that the training loop sets itself.
_RESERVED_HYPERPARAMS: dict[str, str] = {
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


def closest(name: str, valid: Iterable[str]) -> str:
    """A hint naming the closest valid name, for error messages.

    :param name: the unknown name.
    :param valid: the valid names.
    :return: ``" Did you mean 'x'?"`` or ``""``, followed by the list of valid names.

    Example::

        >>> closest("learning_rat", ["learning_rate", "gamma"])
        " Did you mean 'learning_rate'? Valid: gamma, learning_rate."
    """
    valid = sorted(set(valid))
    match = difflib.get_close_matches(name, valid, n=1, cutoff=0.4)
    hint = f" Did you mean {match[0]!r}?" if match else ""
    return f"{hint} Valid: {', '.join(valid)}."


def _coerce_number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` as a string; turn number-looking strings into numbers."""
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            return float(text)
    return value


def _coerce_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _coerce_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_coerce_tree(v) for v in value]
    return _coerce_number(value)


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
    :param checkpoint: ``freq`` (env steps, 0 = only at phase ends), ``keep``, ``save_replay_buffer``.
    :param normalize: ``False``, ``True`` or VecNormalize arguments (observations under ``"obs"`` only).
    :param suite_overrides: overrides passed to ``load_suite``.
    :param reference: single-task reference run (run folder or ``metrics.json``), or a list of AUCs
        per task, for forward transfer.
    :param ewc: elastic weight consolidation (PPO/A2C, a baseline for ``policy_kwargs.mode: shared``):
        ``lambda`` (penalty strength, 0 = off), ``fisher_samples`` (observations per Fisher estimate)
        and ``critic`` (also consolidate the value network; default: the actor only).
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
        unknown = [k for k in data if k not in names and k not in record_only]
        if unknown:
            raise ValueError(f"Unknown config key {unknown[0]!r}.{closest(unknown[0], names)}")
        kwargs = {k: copy.deepcopy(v) for k, v in data.items() if k in names}
        cfg = cls(**kwargs)
        cfg.eval = {**EVAL_DEFAULTS, **(cfg.eval or {})}
        cfg.checkpoint = {**CHECKPOINT_DEFAULTS, **(cfg.checkpoint or {})}
        cfg.ewc = _coerce_tree({**EWC_DEFAULTS, **(cfg.ewc or {})})
        cfg.policy_kwargs = dict(cfg.policy_kwargs or {})
        cfg.hyperparams = _coerce_tree(dict(cfg.hyperparams or {}))
        cfg.suite_overrides = dict(cfg.suite_overrides or {})
        validate_config(cfg)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """:return: a plain, YAML-safe dict of every field."""
        return copy.deepcopy(dataclasses.asdict(self))


def load_preset(name: str) -> dict[str, Any]:
    """Read an agent preset by name (``ppo-psp``) or path, checking its keys.

    :param name: preset name (file stem in ``agents/``) or a path to a YAML file.
    :return: the preset mapping.
    :raises ValueError: unknown preset (with the closest name) or unknown key.
    """
    data = load_yaml(find_yaml("agents", name))
    for key in data:
        if key not in PRESET_KEYS:
            raise ValueError(f"Unknown key {key!r} in agent preset {name!r}.{closest(key, PRESET_KEYS)}")
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
        pairs.append((path, _coerce_tree(value)))
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
            raise ValueError(f"Unknown --set key {'.'.join(path)!r}.{closest(path[0], names)}")
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


def _check_keys(kind: str, given: Iterable[str], valid: Iterable[str]) -> None:
    valid = list(valid)
    for key in given:
        if key not in valid:
            raise ValueError(f"Unknown {kind} key {key!r}.{closest(key, valid)}")


def _init_params(cls: type, skip: Iterable[str] = ()) -> list[str]:
    """Named ``__init__`` arguments of ``cls``, following ``**kwargs`` up the MRO."""
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in klass.__dict__ or klass is object:
            continue
        params = inspect.signature(klass.__dict__["__init__"]).parameters.values()
        names += [p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    skip = set(skip) | {"self"}
    return [n for n in dict.fromkeys(names) if n not in skip]


def _check_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def validate_config(cfg: TrainConfig) -> TrainConfig:
    """Check every field of a config; raise a ``ValueError`` naming the fix on the first problem.

    :param cfg: the config.
    :return: ``cfg``.
    """
    if cfg.algo not in ALGOS:
        raise ValueError(f"Unknown algo {cfg.algo!r}.{closest(str(cfg.algo), ALGOS)}")
    if cfg.device not in DEVICES:
        raise ValueError(f"Unknown device {cfg.device!r}.{closest(str(cfg.device), DEVICES)}")
    _check_int("seed", cfg.seed, 0)
    _check_int("n_envs", cfg.n_envs, 1)
    _check_int("num_tasks", cfg.num_tasks, 1, allow_none=True)
    _check_int("steps_per_task", cfg.steps_per_task, 1, allow_none=True)
    if not isinstance(cfg.suite, str) or not cfg.suite:
        raise ValueError(f"suite must be a suite name or path, got {cfg.suite!r}.")

    _check_keys("eval", cfg.eval, EVAL_DEFAULTS)
    _check_int("eval.episodes", cfg.eval["episodes"], 1)
    _check_int("eval.eval_freq", cfg.eval["eval_freq"], 0)
    _check_int("eval.n_envs", cfg.eval["n_envs"], 1, allow_none=True)
    if cfg.eval["matrix"] not in EVAL_MATRIX:
        raise ValueError(
            f"Unknown eval.matrix {cfg.eval['matrix']!r}.{closest(str(cfg.eval['matrix']), EVAL_MATRIX)}"
        )
    _check_keys("checkpoint", cfg.checkpoint, CHECKPOINT_DEFAULTS)
    _check_int("checkpoint.freq", cfg.checkpoint["freq"], 0)
    _check_int("checkpoint.keep", cfg.checkpoint["keep"], 1)
    _check_keys("ewc", cfg.ewc, EWC_DEFAULTS)
    _check_int("ewc.fisher_samples", cfg.ewc["fisher_samples"], 1)
    if not isinstance(cfg.ewc["critic"], bool):
        raise ValueError(f"ewc.critic must be true or false, got {cfg.ewc['critic']!r}.")
    ewc_lambda = cfg.ewc["lambda"]
    if isinstance(ewc_lambda, bool) or not isinstance(ewc_lambda, (int, float)) or ewc_lambda < 0:
        raise ValueError(f"ewc.lambda must be a number >= 0 (0 turns EWC off), got {ewc_lambda!r}.")
    if ewc_lambda > 0 and cfg.algo not in ("ppo", "a2c"):
        raise ValueError(
            f"EWC is implemented for ppo and a2c, not {cfg.algo}: set ewc.lambda=0 or algo ppo/a2c."
        )

    algo_cls = algo_class(cfg.algo)
    valid_hp = _init_params(algo_cls)
    for key in cfg.hyperparams:
        if key in _RESERVED_HYPERPARAMS:
            raise ValueError(
                f"hyperparams.{key} is set by the training loop: use {_RESERVED_HYPERPARAMS[key]}."
            )
    _check_keys(
        f"hyperparams ({cfg.algo})", cfg.hyperparams, [k for k in valid_hp if k not in _RESERVED_HYPERPARAMS]
    )

    pk = cfg.policy_kwargs
    if cfg.policy == "psp":
        valid_pk = list(PSP_POLICY_KEYS)
        with contextlib.suppress(ImportError):  # policies not importable: check the PSP keys only
            valid_pk += _init_params(
                policy_class(cfg.algo, "psp"), skip=("observation_space", "action_space", "lr_schedule")
            )
        if "context" in pk and pk["context"] not in CONTEXT_KINDS:
            raise ValueError(
                f"Unknown policy_kwargs.context {pk['context']!r}.{closest(str(pk['context']), CONTEXT_KINDS)}"
            )
        if "mode" in pk and pk["mode"] not in PSP_MODES:
            raise ValueError(
                f"Unknown policy_kwargs.mode {pk['mode']!r}.{closest(str(pk['mode']), PSP_MODES)}"
            )
    else:
        aliases = getattr(algo_cls, "policy_aliases", {})
        if cfg.policy not in aliases:
            raise ValueError(
                f"Unknown policy {cfg.policy!r} for {cfg.algo}.{closest(str(cfg.policy), ['psp', *aliases])}"
            )
        valid_pk = _init_params(
            aliases[cfg.policy], skip=("observation_space", "action_space", "lr_schedule")
        )
    _check_keys(f"policy_kwargs ({cfg.policy})", pk, valid_pk)
    if "activation_fn" in pk and pk["activation_fn"] not in ACTIVATIONS:
        raise ValueError(
            f"Unknown policy_kwargs.activation_fn {pk['activation_fn']!r}."
            f"{closest(str(pk['activation_fn']), ACTIVATIONS)}"
        )

    if isinstance(cfg.normalize, dict):
        from stable_baselines3.common.vec_env import VecNormalize

        _check_keys("normalize", cfg.normalize, _init_params(VecNormalize, skip=("venv", "norm_obs_keys")))
    elif not isinstance(cfg.normalize, bool):
        raise ValueError(
            f"normalize must be true, false or a mapping of VecNormalize arguments, got {cfg.normalize!r}."
        )
    if cfg.reference is not None and not isinstance(cfg.reference, (str, list)):
        raise ValueError(
            f"reference must be a run folder, a metrics.json path or a list of AUCs, got {cfg.reference!r}."
        )
    if cfg.algo in ("sac", "td3", "dqn") and not isinstance(cfg.checkpoint["save_replay_buffer"], bool):
        raise ValueError("checkpoint.save_replay_buffer must be true or false.")
    return cfg


def algo_class(algo: str) -> type:
    """The SB3 algorithm class of an algorithm name.

    :param algo: ``ppo``, ``a2c``, ``dqn``, ``sac`` or ``td3``.
    :return: the class, e.g. ``stable_baselines3.PPO``.
    """
    if algo not in ALGOS:
        raise ValueError(f"Unknown algo {algo!r}.{closest(algo, ALGOS)}")
    import stable_baselines3

    return getattr(stable_baselines3, ALGOS[algo][0])


def policy_class(algo: str, policy: str = "psp") -> type | str:
    """The policy to hand to the algorithm.

    :param algo: algorithm name.
    :param policy: ``psp`` for the PSP policy of ``algo``, else an SB3 alias (returned unchanged).
    :return: a policy class, or the SB3 alias string.
    """
    if policy != "psp":
        return policy
    import psp_rl.policies as policies

    return getattr(policies, ALGOS[algo][1])


def build_policy_kwargs(policy_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Turn the YAML-level policy arguments into Python objects (``activation_fn`` name -> class).

    :param policy_kwargs: arguments as in the config.
    :return: arguments for the policy constructor.
    """
    import torch.nn as nn

    out = dict(policy_kwargs)
    if "activation_fn" in out:
        name = out["activation_fn"]
        if name not in ACTIVATIONS:
            raise ValueError(
                f"Unknown policy_kwargs.activation_fn {name!r}.{closest(str(name), ACTIVATIONS)}"
            )
        out["activation_fn"] = getattr(nn, ACTIVATIONS[name])
    return out


def _schedule(value: Any, key: str) -> Any:
    """``lin_3e-4`` -> a linear schedule from 3e-4 to 0 (zoo convention)."""
    if isinstance(value, str) and value.startswith("lin_"):
        from stable_baselines3.common.utils import LinearSchedule

        start = _coerce_number(value[len("lin_") :])
        if not isinstance(start, (int, float)):
            raise ValueError(f"hyperparams.{key}: {value!r} is not lin_<number>, e.g. lin_3e-4.")
        return LinearSchedule(float(start), 0.0, 1.0)
    return value


def build_hyperparams(hyperparams: Mapping[str, Any], action_space: Any = None) -> dict[str, Any]:
    """Turn YAML-level algorithm arguments into Python objects.

    ``lin_<x>`` learning rates / clip ranges become linear schedules, ``train_freq: [1, episode]``
    a tuple, ``action_noise: {type: normal|ornstein-uhlenbeck, sigma: 0.1}`` an SB3 action noise.

    :param hyperparams: arguments as in the config.
    :param action_space: the env's action space (needed for ``action_noise``).
    :return: arguments for the algorithm constructor.
    """
    out = dict(hyperparams)
    for key in ("learning_rate", "clip_range", "clip_range_vf"):
        if key in out:
            out[key] = _schedule(out[key], key)
    if isinstance(out.get("train_freq"), list):
        out["train_freq"] = tuple(out["train_freq"])
    noise = out.get("action_noise")
    if isinstance(noise, dict):
        import numpy as np
        from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

        _check_keys("hyperparams.action_noise", noise, ["type", "sigma"])
        if action_space is None or not hasattr(action_space, "shape"):
            raise ValueError("hyperparams.action_noise needs a continuous (Box) action space.")
        kinds = {"normal": NormalActionNoise, "ornstein-uhlenbeck": OrnsteinUhlenbeckActionNoise}
        kind = noise.get("type", "normal")
        if kind not in kinds:
            raise ValueError(f"Unknown hyperparams.action_noise.type {kind!r}.{closest(str(kind), kinds)}")
        dim = int(np.prod(action_space.shape))
        sigma = float(noise.get("sigma", 0.1))
        out["action_noise"] = kinds[kind](mean=np.zeros(dim), sigma=sigma * np.ones(dim))
    return out
