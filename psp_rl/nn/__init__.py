"""Task-conditioned neural networks in plain PyTorch (no Stable-Baselines3, no Gymnasium).

- :mod:`~psp_rl.nn.contexts` — context keys (binary, complex, rotation) and retrieval maths;
- :mod:`~psp_rl.nn.drift` — keys that follow a continuous task coordinate (power, geodesic, interpolate,
  binned);
- :mod:`~psp_rl.nn.pertask` — per-sample task ids: their check, products with per-task matrices;
- :mod:`~psp_rl.nn.layers` — the superposed linear layer; :mod:`~psp_rl.nn.task_layers` — the base of
  task-conditioned layers and per-task weights; :mod:`~psp_rl.nn.conv` — their convolutions;
- :mod:`~psp_rl.nn.masks` — modulating masks: a fixed random backbone, one learned binary mask per task;
- :mod:`~psp_rl.nn.modes` — the modes (``psp`` and the baselines) as registered layer factories;
- :mod:`~psp_rl.nn.config` — :class:`NetworkConfig`: the one list of network options, the width rule;
- :mod:`~psp_rl.nn.networks` — MLP, CNN and dueling stacks;
- :mod:`~psp_rl.nn.projection` — normalize-and-project: layers that feed a LayerNorm kept at their norm.
"""

from psp_rl.nn.config import NetworkConfig
from psp_rl.nn.contexts import CONTEXT_KINDS, check_context_kind, layer_id, make_context
from psp_rl.nn.conv import SuperposedConv2d, TaskConv2d
from psp_rl.nn.layers import SuperposedLinear, TaskLayer, TaskLinear
from psp_rl.nn.masks import MaskedConv2d, MaskedLinear, mask_parameter_counts
from psp_rl.nn.modes import MODES, Mode, SplitComplex, available_modes, register_mode
from psp_rl.nn.networks import TaskBatch, TaskCNN, TaskDuelingHead, TaskMLP, TaskMlpExtractor

__all__ = [
    "CONTEXT_KINDS",
    "MODES",
    "MaskedConv2d",
    "MaskedLinear",
    "Mode",
    "NetworkConfig",
    "SplitComplex",
    "SuperposedConv2d",
    "SuperposedLinear",
    "TaskBatch",
    "TaskCNN",
    "TaskConv2d",
    "TaskDuelingHead",
    "TaskLayer",
    "TaskLinear",
    "TaskMLP",
    "TaskMlpExtractor",
    "available_modes",
    "check_context_kind",
    "layer_id",
    "make_context",
    "mask_parameter_counts",
    "register_mode",
]
