"""Task-conditioned networks: MLP and CNN stacks built from one :class:`NetworkConfig`.

The config's ``mode`` picks how a network uses the task id; every mode uses the same widths:

* ``psp``       -- every layer superposed (:class:`~psp_rl.nn.layers.SuperposedLinear`/``Conv2d``);
* ``shared``    -- one plain network, the task id ignored (fine-tuning);
* ``onehot``    -- plain network, the task one-hot concatenated to its input (done by the extractor);
* ``multihead`` -- plain shared trunk, one output head per task (Continual World's setup);
* ``separate``  -- K independent networks (:class:`~psp_rl.nn.layers.TaskLinear`): K× the parameters.

Each mode is a registered :class:`Mode` (a pair of layer factories); :func:`register_mode` adds more
(a diagnostic network, another baseline) without touching this module.

Networks pass a :class:`TaskBatch` ``(x, task)`` from layer to layer. A *trunk* (no output size) maps a
``TaskBatch`` to a ``TaskBatch``; a *head* (with an output size) maps it to a real tensor.

Example::

    >>> cfg = NetworkConfig(num_tasks=3)
    >>> head = TaskMLP(4, [64, 64], cfg, "q", out_dim=2)
    >>> head(TaskBatch(torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]))).shape
    torch.Size([5, 2])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import nn

from psp_rl.nn.contexts import check_context_kind, layer_id
from psp_rl.nn.layers import (
    SuperposedConv2d,
    SuperposedLinear,
    TaskConv2d,
    TaskLayer,
    TaskLinear,
    check_task_ids,
)
from psp_rl.utils import did_you_mean


class TaskBatch(NamedTuple):
    """A batch of features with the task id of every sample.

    ``checked`` marks task ids known to be in range (e.g. decoded from a one-hot vector), so the layers
    skip the range check.
    """

    x: torch.Tensor
    task: torch.Tensor
    checked: bool = False


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
        layer_index=layer_id(name), task_bias=config.task_bias,
    )  # fmt: skip


def superposed_conv(
    config: NetworkConfig, name: str, c_in: int, c_out: int, kernel_size: int, stride: int
) -> nn.Module:
    """The ``psp`` convolution: :class:`SuperposedConv2d` keyed by the layer's name."""
    return SuperposedConv2d(
        c_in, c_out, kernel_size, config.num_tasks, stride=stride, context=config.context,
        seed=config.context_seed, layer_index=layer_id(name), task_bias=config.task_bias,
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


register_mode("psp", Mode(superposed_linear, superposed_conv, superposed=True, lift_inputs=True))
register_mode("shared", Mode(plain_linear, plain_conv))
register_mode("onehot", Mode(plain_linear, plain_conv, onehot_inputs=True))
register_mode("multihead", Mode(_multihead_linear, plain_conv))
register_mode("separate", Mode(task_linear, task_conv))

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
    """

    num_tasks: int
    mode: str = "psp"
    context: str = "binary"
    context_seed: int = 0
    task_bias: bool = True

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(
                f"Unknown mode {self.mode!r} (policy_kwargs['mode']).{did_you_mean(self.mode, _MODES)}"
            )
        check_context_kind(self.context)
        if self.num_tasks < 1:
            raise ValueError(f"num_tasks must be at least 1, got {self.num_tasks}.")

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


class SplitComplex(nn.Module):
    """Apply a real activation to a tensor, or to the real and imaginary parts of a complex one.

    :param activation: the real activation module
    """

    def __init__(self, activation: nn.Module) -> None:
        super().__init__()
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if x.is_complex():
            return torch.complex(self.activation(x.real), self.activation(x.imag))
        return self.activation(x)


class TaskStack(nn.Module):
    """Layers applied in order to a :class:`TaskBatch`; task-conditioned ones receive the task ids.

    The task ids are checked once for the whole stack.
    """

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self._task_aware = [isinstance(layer, TaskLayer) for layer in layers]
        self.num_tasks = next((layer.num_tasks for layer in layers if isinstance(layer, TaskLayer)), None)

    def run(self, batch: TaskBatch) -> torch.Tensor:
        """Apply the layers and return the last output."""
        x, task, checked = batch
        if self.num_tasks is not None and not checked:
            check_task_ids(task, self.num_tasks, x.shape[0])
        for layer, task_aware in zip(self.layers, self._task_aware):
            x = layer.compute(x, task) if task_aware else layer(x)
        return x


class TaskMLP(TaskStack):
    """A task-conditioned MLP: a trunk (``out_dim=None``) or a head.

    :param in_dim: input size
    :param hidden: hidden layer sizes
    :param config: the network config (mode, context, K)
    :param name: the network's unique name in its policy (e.g. ``"pi"``, ``"qf0"``)
    :param out_dim: output size for a head; ``None`` for a trunk
    :param activation_fn: hidden activation class
    :param squash: ``tanh`` on the head's output (TD3 actor)
    """

    def __init__(
        self,
        in_dim: int,
        hidden: list[int],
        config: NetworkConfig,
        name: str,
        out_dim: int | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        squash: bool = False,
    ) -> None:
        layers: list[nn.Module] = []
        sizes = [in_dim, *hidden]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers += [config.linear(f"{name}/{i}", n_in, n_out), config.activation(activation_fn)]
        if out_dim is not None:
            layers.append(config.linear(f"{name}/{len(hidden)}", sizes[-1], out_dim, head=True))
        super().__init__(layers)
        self.is_head = out_dim is not None
        self.squash = squash
        self.output_dim = out_dim if out_dim is not None else sizes[-1]

    def forward(self, batch: TaskBatch) -> TaskBatch | torch.Tensor:
        """:param batch: features and task ids
        :return: a :class:`TaskBatch` for a trunk; the real output tensor for a head
        """
        y = self.run(batch)
        if not self.is_head:
            return TaskBatch(y, batch.task, batch.checked)
        if y.is_complex():
            y = y.real
        return torch.tanh(y) if self.squash else y


class TaskCNN(TaskStack):
    """A NatureCNN-like trunk (Mnih et al., 2015) for ``(C, H, W)`` images, task-conditioned.

    :param image_shape: ``(C, H, W)`` of the (channel-first) images
    :param config: the network config
    :param features_dim: size of the output features
    :param name: the network's unique name in its policy
    """

    def __init__(
        self, image_shape: tuple[int, ...], config: NetworkConfig, features_dim: int = 512, name: str = "cnn"
    ) -> None:
        channels, height, width = image_shape
        convs = [(32, 8, 4), (64, 4, 2), (64, 3, 1)]
        layers: list[nn.Module] = []
        for i, (out_c, k, s) in enumerate(convs):
            if height < k or width < k:
                raise ValueError(
                    f"Images of {image_shape} are too small for the NatureCNN trunk (layer {i} needs "
                    f"{k}x{k}); use images of at least 36x36 or a vector observation."
                )
            layers += [config.conv(f"{name}/{i}", channels, out_c, k, s), config.activation(nn.ReLU)]
            channels, height, width = out_c, (height - k) // s + 1, (width - k) // s + 1
        layers += [
            nn.Flatten(),
            config.linear(f"{name}/{len(convs)}", channels * height * width, features_dim),
        ]
        layers.append(config.activation(nn.ReLU))
        super().__init__(layers)
        self.features_dim = features_dim

    def forward(self, batch: TaskBatch) -> TaskBatch:
        """:param batch: images (float, normalised) and task ids"""
        return TaskBatch(self.run(batch), batch.task, batch.checked)


class TaskMlpExtractor(nn.Module):
    """The policy and value trunks of an actor-critic policy (SB3's ``MlpExtractor``, task-conditioned).

    :param feature_dim: size of the extracted features
    :param net_arch: ``[64, 64]`` (same for both) or ``dict(pi=[...], vf=[...])``
    :param activation_fn: hidden activation class
    :param config: the network config
    """

    def __init__(
        self,
        feature_dim: int,
        net_arch: list[int] | dict[str, list[int]],
        activation_fn: type[nn.Module],
        config: NetworkConfig,
    ) -> None:
        super().__init__()
        if isinstance(net_arch, dict):
            pi_arch, vf_arch = list(net_arch.get("pi", [])), list(net_arch.get("vf", []))
        else:
            pi_arch = vf_arch = list(net_arch)
        self.policy_net = TaskMLP(feature_dim, pi_arch, config, "pi", activation_fn=activation_fn)
        self.value_net = TaskMLP(feature_dim, vf_arch, config, "vf", activation_fn=activation_fn)
        self.latent_dim_pi = self.policy_net.output_dim
        self.latent_dim_vf = self.value_net.output_dim

    def forward(self, features: TaskBatch) -> tuple[TaskBatch, TaskBatch]:
        """:return: the policy latent and the value latent"""
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: TaskBatch) -> TaskBatch:  # noqa: D102
        return self.policy_net(features)  # type: ignore[return-value]

    def forward_critic(self, features: TaskBatch) -> TaskBatch:  # noqa: D102
        return self.value_net(features)  # type: ignore[return-value]
