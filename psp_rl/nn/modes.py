"""The modes of a network: how its layers use the task id, as registered layer factories, and
:class:`NetworkConfig`, which picks a mode, a context kind and the width rule.

* ``psp``       -- every layer superposed (:class:`~psp_rl.nn.layers.SuperposedLinear`/``Conv2d``);
* ``shared``    -- one plain network, the task id ignored (fine-tuning);
* ``onehot``    -- plain network, the task one-hot concatenated to its input (done by the extractor);
* ``multihead`` -- plain shared trunk, one output head per task (Continual World's setup);
* ``separate``  -- K independent networks (:class:`~psp_rl.nn.layers.TaskLinear`): K× the parameters;
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
from dataclasses import asdict, dataclass

import torch
from torch import nn

from psp_rl.nn.contexts import check_context_kind, layer_id
from psp_rl.nn.conv import SuperposedConv2d, TaskConv2d
from psp_rl.nn.drift import check_drift_context
from psp_rl.nn.layers import SuperposedLinear, TaskLinear
from psp_rl.nn.masks import mask_conv, mask_lc_conv, mask_lc_linear, mask_linear
from psp_rl.utils import did_you_mean

__all__ = [
    "MODES",
    "Mode",
    "NetworkConfig",
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
    """

    linear: LinearFactory
    conv: ConvFactory
    superposed: bool = False
    lift_inputs: bool = False
    onehot_inputs: bool = False


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
        n_in, n_out, config.num_tasks, context=config.context, seed=config.context_seed,
        layer_index=layer_id(name), task_bias=config.task_bias, weight_multiplier=config.multiplier(n_in),
        drift_context=config.drift_context, drift_keys=config.drift_keys,
    )  # fmt: skip


def superposed_conv(
    config: NetworkConfig, name: str, c_in: int, c_out: int, kernel_size: int, stride: int
) -> nn.Module:
    """The ``psp`` convolution: :class:`SuperposedConv2d` keyed by the layer's name."""
    return SuperposedConv2d(
        c_in, c_out, kernel_size, config.num_tasks, stride=stride, context=config.context,
        seed=config.context_seed, layer_index=layer_id(name), task_bias=config.task_bias,
        weight_multiplier=config.multiplier(c_in * kernel_size * kernel_size),
        drift_context=config.drift_context, drift_keys=config.drift_keys,
    )  # fmt: skip


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
register_mode("separate", Mode(task_linear, task_conv))
register_mode("psp-heads", Mode(_psp_heads_linear, superposed_conv, superposed=True, lift_inputs=True))
register_mode("psp-inputs", Mode(_psp_inputs_linear, superposed_conv, superposed=True))
register_mode("mask", Mode(mask_linear, mask_conv, onehot_inputs=True))
register_mode("mask-lc", Mode(mask_lc_linear, mask_lc_conv, onehot_inputs=True))

#: the built-in modes
MODES: tuple[str, ...] = available_modes()


@dataclass(frozen=True)
class NetworkConfig:
    """How the layers of a network use the task id.

    :param num_tasks: number of tasks ``K``
    :param mode: a registered mode (:func:`available_modes`; built in: :data:`MODES`)
    :param context: context kind for superposed modes (``"binary"``, ``"complex"``, ``"rotation"``)
    :param context_seed: seed of the context keys
    :param task_bias: one bias per task in superposed layers (default; a shared bias is a path for
        interference between tasks)
    :param width_scaling: the width rule (default on): a superposed layer of fan-in ``N > base_width``
        learns ``base_width / N`` times slower (a weight multiplier, see :class:`SuperposedLinear`), so
        widening a network never increases the interference between tasks. Adam moves every weight by
        about the learning rate, so at a fixed rate a wider layer moves each task's outputs more per step.
    :param base_width: the fan-in up to which layers keep the full learning rate
    :param layer_norm: normalise every hidden layer's pre-activations per sample (a parameter-free
        ``LayerNorm``: nothing in it is shared between tasks). Superposed weights grow over many
        optimiser steps (Adam moves every weight by about the learning rate), and a new task sees the
        old tasks' weights through its key as a random network of that grown scale; normalised hidden
        layers keep the new task's starting features and outputs at the scale of a fresh network.
        ``"skip_first"`` normalises every hidden layer but the first: the first layer's outputs are linear
        in the observation, and on a low-dimensional one (CartPole's 4 numbers) normalising them divides
        out the state's magnitude, which the policy needs.
    :param layer_norm_eps: the LayerNorm's ``eps``, added to each sample's variance over the layer: the
        default (``1e-5``) normalises every scale; a larger one leaves pre-activations of variance well
        below ``eps`` near their own scale (a fresh network's) and normalises only grown ones
    :param weight_projection: after every optimiser step, rescale each layer that feeds a LayerNorm to the
        norm it started training at (normalize-and-project, :mod:`psp_rl.nn.projection`): the function is
        unchanged, and the effective learning rate no longer falls as Adam grows the weights. Needs
        ``layer_norm``
    """

    num_tasks: int
    mode: str = "psp"
    context: str = "binary"
    context_seed: int = 0
    task_bias: bool = True
    width_scaling: bool = True
    base_width: int = 64
    layer_norm: bool | str = False
    drift_context: str | None = None
    drift_keys: int = 8
    coord_input: bool = False
    layer_norm_eps: float = 1e-5
    weight_projection: bool = False

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(
                f"Unknown mode {self.mode!r} (policy_kwargs['mode']).{did_you_mean(self.mode, _MODES)}"
            )
        check_context_kind(self.context)
        if self.num_tasks < 1:
            raise ValueError(f"num_tasks must be at least 1, got {self.num_tasks}.")
        if isinstance(self.base_width, bool) or not isinstance(self.base_width, int) or self.base_width < 1:
            raise ValueError(f"base_width must be a positive integer, got {self.base_width!r}.")
        if self.drift_context is not None:
            if not self.spec.superposed:
                raise ValueError(
                    f"drift_context picks the keys of superposed layers; mode {self.mode!r} has none: use mode "
                    "psp (or coord_input=True to give a plain network the coordinate as an input)."
                )
            check_drift_context(self.drift_context, self.context)
        if self.layer_norm not in (False, True, "skip_first"):
            raise ValueError(
                f"layer_norm must be true, false or 'skip_first' (every hidden layer but the first), "
                f"got {self.layer_norm!r}."
            )
        if isinstance(self.layer_norm_eps, bool) or not (
            isinstance(self.layer_norm_eps, (int, float)) and self.layer_norm_eps > 0
        ):
            raise ValueError(f"layer_norm_eps must be a positive number, got {self.layer_norm_eps!r}.")
        if not isinstance(self.weight_projection, bool):
            raise ValueError(f"weight_projection must be true or false, got {self.weight_projection!r}.")
        if self.weight_projection and not self.layer_norm:
            raise ValueError(
                "weight_projection keeps the norm of the layers that feed a LayerNorm, and this network has "
                "none: set layer_norm: true (or 'skip_first'), or weight_projection: false."
            )
        if self.layer_norm and self.is_complex:
            raise ValueError(
                "layer_norm needs real activations: use context binary or rotation, or layer_norm=False."
            )

    def multiplier(self, fan_in: int) -> float:
        """The weight multiplier of a superposed layer with this fan-in: ``min(1, base_width / fan_in)``
        under the width rule, else 1.

        :param fan_in: the layer's fan-in
        """
        return min(1.0, self.base_width / fan_in) if self.width_scaling else 1.0

    @property
    def spec(self) -> Mode:
        """The registered :class:`Mode` of this config."""
        return _MODES[self.mode]

    @property
    def is_complex(self) -> bool:
        """Whether hidden activations are complex (superposition with complex keys)."""
        return self.spec.superposed and self.context == "complex"

    def policy_kwargs(self) -> dict:
        """The policy keyword arguments that rebuild this config (``num_tasks`` comes from the space)."""
        data = asdict(self)
        del data["num_tasks"]
        return data

    def normalization(self, width: int, first: bool = False) -> nn.Module | None:
        """The per-sample normalisation of a hidden layer of this width (``None`` without ``layer_norm``,
        and for the first layer with ``layer_norm="skip_first"``).

        :param width: the layer's output size
        :param first: the layer is its network's first
        """
        if not self.layer_norm or (first and self.layer_norm == "skip_first"):
            return None
        return nn.LayerNorm(width, eps=float(self.layer_norm_eps), elementwise_affine=False)

    def activation(self, activation_fn: type[nn.Module]) -> nn.Module:
        """A hidden activation: split-complex (:class:`SplitComplex`) when activations are complex.

        :param activation_fn: the real activation class
        """
        return SplitComplex(activation_fn()) if self.is_complex else activation_fn()

    def linear(self, name: str, in_features: int, out_features: int, head: bool = False) -> nn.Module:
        """A linear layer for this mode.

        :param name: the layer's unique name in its policy (seeds its context keys)
        :param in_features: fan-in
        :param out_features: number of outputs
        :param head: whether it is an output layer (per-task in ``multihead``)
        """
        return self.spec.linear(self, name, in_features, out_features, head)

    def conv(
        self, name: str, in_channels: int, out_channels: int, kernel_size: int, stride: int
    ) -> nn.Module:
        """A convolution for this mode (see :meth:`linear`).

        :param name: the layer's unique name in its policy
        :param in_channels: input channels
        :param out_channels: output channels
        :param kernel_size: square kernel size
        :param stride: stride
        """
        return self.spec.conv(self, name, in_channels, out_channels, kernel_size, stride)


# Activations that act on every entry alone: on a complex tensor they can run once over its interleaved
# real and imaginary parts (``view_as_real``), which is the split-complex activation in one kernel.
ELEMENTWISE_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Tanh,
    nn.Sigmoid, nn.Softplus, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Tanhshrink, nn.Identity,
)  # fmt: skip


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
