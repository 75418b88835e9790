"""The modes of a network: how its layers use the task id, as registered layer factories (the
:class:`~psp_rl.nn.config.NetworkConfig` of a network names its mode), and the split-complex activation.

* ``psp``       -- every layer superposed (:class:`~psp_rl.nn.layers.SuperposedLinear`/``Conv2d``);
* ``shared``    -- one plain network, the task id ignored (fine-tuning);
* ``onehot``    -- plain network, the task one-hot concatenated to its input (done by the extractor);
* ``multihead`` -- plain shared trunk, one output head per task (Continual World's setup);
* ``separate``  -- K independent networks (:class:`~psp_rl.nn.layers.TaskLinear`): K× the parameters; with
  ``drift_context=binned``, ``M`` independent networks, one per bin of the coordinate (the phase of a
  drift; :class:`~psp_rl.nn.task_layers.BinnedLinear`, vector observations);
* ``psp-heads`` -- superposed hidden layers, one output layer per task (:class:`~psp_rl.nn.layers.TaskLinear`):
  a new task starts from a freshly initialised output layer instead of the old tasks' trained one
  (seen through its key), and training it moves no other task's outputs through the last layer.
* ``psp-inputs`` -- one first layer per task (:class:`~psp_rl.nn.layers.TaskLinear`), the layers after it
  superposed. On a low-dimensional observation (CartPole's 4 numbers) a first superposed layer has only 4
  key entries to separate tasks by (binary keys: sign flips, ~1/2 of each task's update reaches another);
  a per-task first layer isolates it completely for ``obs_dim × width`` parameters per task, learns at the
  rate of SB3's own first layer, and needs no input lifting.
* ``mask``      -- modulating masks (:mod:`psp_rl.nn.masks`): a fixed random backbone, one learned binary mask
  per task per layer, the task one-hot appended to the input (Ben-Iwhiwhu et al. 2023, MASK RI).
* ``mask-lc``   -- ``mask`` where task ``k`` thresholds a learned combination of the scores of tasks
  ``0..k`` (the earlier ones held constant; MASK LC of the same paper).

:func:`register_mode` adds more (a diagnostic network, another baseline) without touching this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from psp_rl.nn.contexts import layer_id
from psp_rl.nn.conv import SuperposedConv2d, TaskConv2d
from psp_rl.nn.layers import SuperposedLinear, TaskLinear
from psp_rl.nn.masks import mask_conv, mask_lc_conv, mask_lc_linear, mask_linear
from psp_rl.nn.task_layers import BinnedLinear

if TYPE_CHECKING:
    from psp_rl.nn.config import NetworkConfig

__all__ = [
    "MODES",
    "Mode",
    "SplitComplex",
    "available_modes",
    "plain_conv",
    "plain_linear",
    "register_mode",
    "superposed_conv",
    "superposed_linear",
    "task_conv",
    "task_linear",
]


#: ``factory(config, name, in_features, out_features, head) -> module``
LinearFactory = Callable[["NetworkConfig", str, int, int, bool], nn.Module]
#: ``factory(config, name, in_channels, out_channels, kernel_size, stride) -> module``
ConvFactory = Callable[["NetworkConfig", str, int, int, int, int], nn.Module]


@dataclass(frozen=True)
class Mode:
    """How the layers of a network use the task id: a registered pair of layer factories.

    :param linear: builds every linear layer.
    :param conv: builds every convolution.
    :param superposed: the layers superpose tasks with context keys (complex keys give complex
        activations).
    :param lift_inputs: low-dimensional vector observations are lifted by a fixed random projection
        before the first layer (see ``psp_rl.policies.TaskFeaturesExtractor``).
    :param onehot_inputs: the task's one-hot vector is appended to the features.
    :param coord_bins: with ``drift_context=binned`` its layers keep one set of weights per bin of the
        coordinate instead of one per task (``separate``: one network per phase bin).
    """

    linear: LinearFactory
    conv: ConvFactory
    superposed: bool = False
    lift_inputs: bool = False
    onehot_inputs: bool = False
    coord_bins: bool = False


_MODES: dict[str, Mode] = {}


def register_mode(name: str, mode: Mode, *, overwrite: bool = False) -> None:
    """Make a mode available as ``NetworkConfig(mode=name)`` and ``policy_kwargs.mode``.

    A mode is the supported way to build a network variant (a baseline, a diagnostic) without
    touching the library: its factories build every layer from the layer's name and sizes.

    Example::

        def per_task_first_layer(config, name, n_in, n_out, head):
            if name.endswith("/0"):
                return TaskLinear(n_in, n_out, config.num_tasks)
            return superposed_linear(config, name, n_in, n_out, head)

        register_mode("psp-taskin", Mode(per_task_first_layer, superposed_conv, superposed=True))

    :param name: the mode's name.
    :param mode: its factories and flags.
    :param overwrite: replace a mode of the same name.
    :raises ValueError: when the name is taken and ``overwrite`` is false.
    """
    if name in _MODES and not overwrite:
        raise ValueError(f"mode {name!r} is already registered: pick another name or pass overwrite=True.")
    _MODES[name] = mode


def available_modes() -> tuple[str, ...]:
    """:return: the names of every registered mode (the built-in ones first)."""
    return tuple(_MODES)


def superposed_linear(config: NetworkConfig, name: str, n_in: int, n_out: int, head: bool) -> nn.Module:
    """The ``psp`` linear layer: :class:`SuperposedLinear` keyed by the layer's name."""
    return SuperposedLinear(
        n_in,
        n_out,
        config.num_tasks,
        context=config.context,
        seed=config.context_seed,
        layer_index=layer_id(name),
        task_bias=config.task_bias,
        weight_multiplier=config.multiplier(n_in),
        drift_context=config.drift_context,
        drift_keys=config.drift_keys,
    )


def superposed_conv(
    config: NetworkConfig, name: str, c_in: int, c_out: int, kernel_size: int, stride: int
) -> nn.Module:
    """The ``psp`` convolution: :class:`SuperposedConv2d` keyed by the layer's name."""
    return SuperposedConv2d(
        c_in,
        c_out,
        kernel_size,
        config.num_tasks,
        stride=stride,
        context=config.context,
        seed=config.context_seed,
        layer_index=layer_id(name),
        task_bias=config.task_bias,
        weight_multiplier=config.multiplier(c_in * kernel_size * kernel_size),
        drift_context=config.drift_context,
        drift_keys=config.drift_keys,
    )


def plain_linear(config: NetworkConfig, name: str, n_in: int, n_out: int, head: bool) -> nn.Module:
    """A task-blind ``nn.Linear``."""
    return nn.Linear(n_in, n_out)


def plain_conv(
    config: NetworkConfig, name: str, c_in: int, c_out: int, kernel_size: int, stride: int
) -> nn.Module:
    """A task-blind ``nn.Conv2d``."""
    return nn.Conv2d(c_in, c_out, kernel_size, stride=stride)


def task_linear(config: NetworkConfig, name: str, n_in: int, n_out: int, head: bool) -> nn.Module:
    """Independent weights per task: :class:`TaskLinear`."""
    return TaskLinear(n_in, n_out, config.num_tasks)


def task_conv(
    config: NetworkConfig, name: str, c_in: int, c_out: int, kernel_size: int, stride: int
) -> nn.Module:
    """Independent kernels per task: :class:`TaskConv2d`."""
    return TaskConv2d(c_in, c_out, kernel_size, config.num_tasks, stride=stride)


def _separate_linear(config: NetworkConfig, name: str, n_in: int, n_out: int, head: bool) -> nn.Module:
    if config.drift_context == "binned":
        return BinnedLinear(n_in, n_out, config.drift_keys, config.num_tasks)
    return task_linear(config, name, n_in, n_out, head)


def _separate_conv(
    config: NetworkConfig, name: str, c_in: int, c_out: int, kernel_size: int, stride: int
) -> nn.Module:
    if config.drift_context == "binned":
        raise ValueError(
            "mode separate with drift_context binned has one network per phase bin for vector observations "
            "only: use drift_context null (one network per task) or mode psp for image observations."
        )
    return task_conv(config, name, c_in, c_out, kernel_size, stride)


def _multihead_linear(config: NetworkConfig, name: str, n_in: int, n_out: int, head: bool) -> nn.Module:
    return (task_linear if head else plain_linear)(config, name, n_in, n_out, head)


def _real_task_linear(config: NetworkConfig, mode: str, which: str) -> None:
    """Per-task layers are real: a complex context cannot pass through one."""
    if config.is_complex:
        raise ValueError(
            f"mode {mode} has real per-task {which} layers; complex contexts need mode psp "
            "(or use context binary or rotation)."
        )


def _psp_heads_linear(config: NetworkConfig, name: str, n_in: int, n_out: int, head: bool) -> nn.Module:
    if not head:
        return superposed_linear(config, name, n_in, n_out, head)
    _real_task_linear(config, "psp-heads", "output")
    return task_linear(config, name, n_in, n_out, head)


def _psp_inputs_linear(config: NetworkConfig, name: str, n_in: int, n_out: int, head: bool) -> nn.Module:
    if not name.endswith("/0"):
        return superposed_linear(config, name, n_in, n_out, head)
    _real_task_linear(config, "psp-inputs", "first")
    return task_linear(config, name, n_in, n_out, head)


register_mode("psp", Mode(superposed_linear, superposed_conv, superposed=True, lift_inputs=True))
register_mode("shared", Mode(plain_linear, plain_conv))
register_mode("onehot", Mode(plain_linear, plain_conv, onehot_inputs=True))
register_mode("multihead", Mode(_multihead_linear, plain_conv))
register_mode("separate", Mode(_separate_linear, _separate_conv, coord_bins=True))
register_mode("psp-heads", Mode(_psp_heads_linear, superposed_conv, superposed=True, lift_inputs=True))
register_mode("psp-inputs", Mode(_psp_inputs_linear, superposed_conv, superposed=True))
register_mode("mask", Mode(mask_linear, mask_conv, onehot_inputs=True))
register_mode("mask-lc", Mode(mask_lc_linear, mask_lc_conv, onehot_inputs=True))

#: the built-in modes
MODES: tuple[str, ...] = available_modes()


# Activations that act on every entry alone: on a complex tensor they can run once over its interleaved
# real and imaginary parts (``view_as_real``), which is the split-complex activation in one kernel.
ELEMENTWISE_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softplus,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Tanhshrink,
    nn.Identity,
)


class SplitComplex(nn.Module):
    """Apply a real activation to a tensor, or to the real and imaginary parts of a complex one.

    An elementwise activation (:data:`ELEMENTWISE_ACTIVATIONS`) runs once over the complex tensor's real
    view, its real and imaginary parts side by side; any other activation runs on each part.

    :param activation: the real activation module
    """

    def __init__(self, activation: nn.Module) -> None:
        super().__init__()
        self.activation = activation
        self.elementwise = type(activation) in ELEMENTWISE_ACTIVATIONS

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if not x.is_complex():
            return self.activation(x)
        if self.elementwise:
            return torch.view_as_complex(self.activation(torch.view_as_real(x)))
        return torch.complex(self.activation(x.real), self.activation(x.imag))


def __getattr__(name: str) -> Any:
    """``NetworkConfig`` lived here before :mod:`psp_rl.nn.config`: still importable from this module."""
    if name == "NetworkConfig":
        from psp_rl.nn.config import NetworkConfig

        return NetworkConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
