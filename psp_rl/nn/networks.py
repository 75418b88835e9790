"""Task-conditioned networks: MLP and CNN stacks built from one :class:`NetworkConfig`.

The config's ``mode`` picks how a network uses the task id (``psp``, ``shared``, ``onehot``,
``multihead``, ``separate``, or a registered one: see :mod:`psp_rl.nn.modes`); every mode uses the
same widths.

Networks pass a :class:`TaskBatch` ``(x, task)`` from layer to layer. A *trunk* (no output size) maps a
``TaskBatch`` to a ``TaskBatch``; a *head* (with an output size) maps it to a real tensor.

Example::

    >>> cfg = NetworkConfig(num_tasks=3)
    >>> head = TaskMLP(4, [64, 64], cfg, "q", out_dim=2)
    >>> head(TaskBatch(torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]))).shape
    torch.Size([5, 2])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, cast

import torch
from torch import nn

from psp_rl.nn.config import NetworkConfig
from psp_rl.nn.layers import SuperposedLinear
from psp_rl.nn.modes import (  # noqa: F401 (re-exported: the modes used to live here)
    MODES,
    Mode,
    SplitComplex,
    available_modes,
    register_mode,
    superposed_conv,
    superposed_linear,
)
from psp_rl.nn.pertask import check_task_ids, single_task
from psp_rl.nn.projection import NormProjection, scale_free_indices
from psp_rl.nn.task_layers import TaskLayer


class TaskBatch(NamedTuple):
    """A batch of features with the task id of every sample.

    ``checked`` marks task ids known to be in range (e.g. decoded from a one-hot vector), so the layers
    skip the range check. ``coord`` holds each sample's continuous task coordinate in ``[0, 1)`` when
    the observation carries one (layers with a drifting context pick their keys from it).

    ``weights`` (task inference): real weights ``α`` over the ``K`` tasks, ``(K,)`` for the whole batch
    or ``(B, K)`` per sample. When set, task-conditioned layers mix their tasks with them
    (:meth:`~psp_rl.nn.layers.TaskLayer.mix`: key ``Σ α_k c_k``, bias ``Σ α_k b_k``) and ``task`` is
    not used by the layers; a one-hot ``α`` computes what the id path computes.

    ``single`` is the task of every sample when a checked batch has one (set with ``checked``; see
    :func:`~psp_rl.nn.pertask.single_task`): the layers then compute with that task's key and bias for
    the whole batch, without a gather per sample.

    ``lift`` is a fixed matrix ``R`` the features still need (``x @ R.T``, the input lifting of
    :class:`~psp_rl.policies.extractor.TaskFeaturesExtractor`): a network whose first layer is superposed
    hands it to that layer (:meth:`~psp_rl.nn.layers.SuperposedLinear.lifted`, which folds it into the
    weight where that is cheaper); anything else that reads ``x`` applies it with :meth:`lifted`.
    """

    x: torch.Tensor
    task: torch.Tensor
    checked: bool = False
    coord: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    single: int | None = None
    lift: torch.Tensor | None = None

    def lifted(self) -> TaskBatch:
        """The batch with its pending lifting applied (``x @ lift.T``); unchanged without one."""
        return self if self.lift is None else self._replace(x=self.x @ self.lift.T, lift=None)


def check_task_weights(weights: torch.Tensor, num_tasks: int, batch_size: int) -> torch.Tensor:
    """Check task-mixing weights: real, ``(K,)`` or ``(B, K)``.

    :param weights: the weights ``α``
    :param num_tasks: number of tasks ``K`` the network holds
    :param batch_size: the batch size ``B``
    :return: the weights unchanged
    :raises ValueError: naming the expected shape or dtype
    """
    if not weights.is_floating_point():
        raise ValueError(f"task weights must be a real floating-point tensor, got dtype {weights.dtype}.")
    if tuple(weights.shape) not in ((num_tasks,), (batch_size, num_tasks)):
        raise ValueError(
            f"task weights must have shape ({num_tasks},) or ({batch_size}, {num_tasks}) (K={num_tasks}), "
            f"got {tuple(weights.shape)}."
        )
    return weights


class TaskStack(nn.Module):
    """Layers applied in order to a :class:`TaskBatch`; task-conditioned ones receive the task ids.

    The task ids are checked once for the whole stack.

    :param layers: the layers, in order
    :param project_norms: keep the norm of every layer that feeds a parameter-free LayerNorm
        (:mod:`psp_rl.nn.projection`; applied by :meth:`project_norms` after each optimiser step)
    """

    def __init__(self, layers: list[nn.Module], project_norms: bool = False) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self._scale_free = scale_free_indices(layers) if project_norms else []
        self.norm_projection = NormProjection(len(self._scale_free)) if self._scale_free else None
        self.record_norms()
        self._task_aware = [isinstance(layer, TaskLayer) for layer in layers]
        self._first_superposed = bool(layers) and isinstance(layers[0], SuperposedLinear)
        self.num_tasks = next((layer.num_tasks for layer in layers if isinstance(layer, TaskLayer)), None)

    def projected_layers(self) -> list[tuple[str, nn.Module]]:
        """The layers whose norm :meth:`project_norms` keeps, with their names in this stack."""
        return [(f"layers.{i}", self.layers[i]) for i in self._scale_free]

    def record_norms(self) -> None:
        """Take the current norm of each layer that feeds a LayerNorm as the one :meth:`project_norms` keeps
        (done at construction; again after re-initialising the weights, as the policies do)."""
        if self.norm_projection is not None:
            self.norm_projection.record(self.layers[i] for i in self._scale_free)

    def project_norms(self) -> None:
        """Rescale each layer that feeds a LayerNorm to its recorded norm (a no-op without projection)."""
        if self.norm_projection is not None:
            self.norm_projection.project(self.layers[i] for i in self._scale_free)

    def run(self, batch: TaskBatch) -> torch.Tensor:
        """Apply the layers and return the last output.

        The task ids are checked once (unless the batch says they are), and a batch of one task is found
        once for all the layers. Task-conditioned layers get the ids (:meth:`~TaskLayer.compute`), or the
        mixing weights when the batch has them (:meth:`~TaskLayer.mix`); a pending lifting goes to the
        first layer if it is superposed, else it is applied first.
        """
        if batch.lift is not None and not self._first_superposed:
            batch = batch.lifted()
        x, task, coord, weights, lift = batch.x, batch.task, batch.coord, batch.weights, batch.lift
        single = batch.single if batch.checked else None
        if self.num_tasks is not None:
            if weights is not None:
                weights = check_task_weights(weights, self.num_tasks, x.shape[0])
            elif not batch.checked:
                task = check_task_ids(task, self.num_tasks, x.shape[0])
                single = single_task(task)
        for layer, task_aware in zip(self.layers, self._task_aware):
            if lift is not None:  # the first layer, superposed: it takes the pending lifting
                x = cast(SuperposedLinear, layer).lifted(x, lift, task, coord, single, weights)
                lift = None
            elif not task_aware:
                x = layer(x)
            elif weights is not None:
                x = cast(TaskLayer, layer).mix(x, weights)
            else:
                x = cast(TaskLayer, layer).compute(x, task, coord, single)
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
            norm = config.normalization(n_out, first=i == 0)
            layers += [
                config.linear(f"{name}/{i}", n_in, n_out),
                *([norm] if norm else []),
                config.activation(activation_fn),
            ]
        if out_dim is not None:
            layers.append(config.linear(f"{name}/{len(hidden)}", sizes[-1], out_dim, head=True))
        super().__init__(layers, project_norms=config.weight_projection)
        self.is_head = out_dim is not None
        self.squash = squash
        self.output_dim = out_dim if out_dim is not None else sizes[-1]

    def forward(self, batch: TaskBatch) -> TaskBatch | torch.Tensor:
        """:param batch: features and task ids
        :return: a :class:`TaskBatch` for a trunk; the real output tensor for a head
        """
        y = self.run(batch)
        if not self.is_head:
            return TaskBatch(y, batch.task, batch.checked, batch.coord, batch.weights, batch.single)
        if y.is_complex():
            y = y.real
        return torch.tanh(y) if self.squash else y


#: NatureCNN's convolutions (Mnih et al., 2015): ``(out_channels, kernel, stride)``
NATURE_CONVS: tuple[tuple[int, int, int], ...] = ((32, 8, 4), (64, 4, 2), (64, 3, 1))


class TaskCNN(TaskStack):
    """A CNN trunk for ``(C, H, W)`` images, task-conditioned: convolutions, each followed by a ReLU, then a
    linear layer to ``features_dim`` and a ReLU. NatureCNN (Mnih et al., 2015) by default.

    :param image_shape: ``(C, H, W)`` of the (channel-first) images
    :param config: the network config
    :param features_dim: size of the output features
    :param name: the network's unique name in its policy
    :param convs: ``(out_channels, kernel, stride)`` of each convolution
    """

    def __init__(
        self,
        image_shape: tuple[int, ...],
        config: NetworkConfig,
        features_dim: int = 512,
        name: str = "cnn",
        convs: Sequence[tuple[int, int, int]] = NATURE_CONVS,
    ) -> None:
        channels, height, width = image_shape
        layers: list[nn.Module] = []
        for i, (out_c, k, s) in enumerate(convs):
            if height < k or width < k:
                raise ValueError(
                    f"Images of {image_shape} are too small for this CNN trunk (layer {i} needs {k}x{k}); "
                    "use images of at least 36x36 for NatureCNN, or a vector observation."
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
        return batch._replace(x=self.run(batch), lift=None)


class TaskDuelingHead(nn.Module):
    """A dueling Q head (Wang et al., 2016): ``Q = V + A - mean(A)`` over a task-conditioned trunk.

    Under superposition the interference a layer receives is proportional to the size of the outputs
    it stores; a separate advantage stream stores only the action gaps, so the greedy action of an old
    task is disturbed in proportion to its gaps rather than to the whole Q-value.

    :param in_dim: input size
    :param hidden: hidden layer sizes of the trunk
    :param n_actions: number of actions
    :param config: the network config
    :param name: the network's unique name in its policy
    :param activation_fn: hidden activation class
    """

    def __init__(
        self,
        in_dim: int,
        hidden: list[int],
        n_actions: int,
        config: NetworkConfig,
        name: str,
        activation_fn: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.trunk = TaskMLP(in_dim, hidden, config, name, activation_fn=activation_fn)
        self.value = TaskMLP(self.trunk.output_dim, [], config, f"{name}/value", out_dim=1)
        self.advantage = TaskMLP(self.trunk.output_dim, [], config, f"{name}/advantage", out_dim=n_actions)

    def forward(self, batch: TaskBatch) -> torch.Tensor:
        """:param batch: features and task ids
        :return: ``(B, n_actions)`` Q-values
        """
        latent = self.trunk(batch)
        advantage = self.advantage(latent)
        return self.value(latent) + advantage - advantage.mean(dim=1, keepdim=True)


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
