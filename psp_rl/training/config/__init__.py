"""The training configuration: its schema, the agent presets and ``--set`` overrides, and every check.

- :mod:`~psp_rl.training.config.schema` -- :class:`TrainConfig`, the keys a run needs, and their constants;
- :mod:`~psp_rl.training.config.presets` -- agent presets and ``--set`` overrides resolved into a config;
- :mod:`~psp_rl.training.config.types` -- the expected type of a value, read from constructor type hints;
- :mod:`~psp_rl.training.config.validation` -- every field checked, the fix in the message;
- :mod:`~psp_rl.training.config.ranges` -- the ranges of the algorithms' numeric hyper-parameters;
- :mod:`~psp_rl.training.config.preflight` -- the checks that need the suite (spaces, budgets), before a
  run folder exists.
"""

from psp_rl.training.config.presets import apply_overrides, load_preset, parse_overrides, resolve_config
from psp_rl.training.config.schema import (
    ACTIVATIONS,
    ALGOS,
    CHECKPOINT_DEFAULTS,
    DEVICES,
    PRESET_KEYS,
    PSP_POLICY_KEYS,
    RESERVED_HYPERPARAMS,
    TrainConfig,
    coerce_number,
    coerce_tree,
    mechanism_names,
)

__all__ = [
    "ACTIVATIONS",
    "ALGOS",
    "CHECKPOINT_DEFAULTS",
    "DEVICES",
    "PRESET_KEYS",
    "PSP_POLICY_KEYS",
    "RESERVED_HYPERPARAMS",
    "TrainConfig",
    "apply_overrides",
    "coerce_number",
    "coerce_tree",
    "load_preset",
    "mechanism_names",
    "parse_overrides",
    "resolve_config",
]
