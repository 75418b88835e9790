"""Normalize-and-project: layers that feed a LayerNorm keep the norm of their parameters.

A parameter-free LayerNorm makes the layer before it *scale-free*: multiplying that layer's weight and
biases by any ``α > 0`` multiplies its pre-activations by ``α`` and leaves the LayerNorm's output, and so
the network's function, unchanged (up to the LayerNorm's ``eps``), for every task at once. The gradient of
such a layer is orthogonal to its parameters, so every optimiser step *grows* them, and Adam, which moves
each weight by about the learning rate whatever its gradient, grows them fast: a 256×256 layer gains about
``sqrt(256·256·T)·lr`` in norm over ``T`` steps (from 9 to about 55 in one 25k-step DQN phase at a rate
decaying from 2.3e-3). A step of fixed size then turns the function less and less: the *effective*
learning rate falls as ``1 / ||W||²`` within a phase and from one task phase to the next, so later tasks
train ever slower.

Projecting each such layer back to a fixed norm after every optimiser step (Lyle et al., 2024,
"Normalization and effective learning rates in reinforcement learning", NaP) leaves the function as it
is and keeps the effective learning rate at its value at the start of training, for the first task and
for every later one.

Example::

    >>> from psp_rl.nn import NetworkConfig, TaskMLP
    >>> cfg = NetworkConfig(num_tasks=2, layer_norm=True, weight_projection=True)
    >>> net = TaskMLP(4, [64, 64], cfg, "q", out_dim=2)
    >>> [name for name, _ in net.projected_layers()]
    ['layers.0', 'layers.3']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["NormProjection", "ProjectNormsHook", "scale_free_indices"]


def scale_free_indices(layers: list[nn.Module]) -> list[int]:
    """Indices of the layers whose output goes straight into a parameter-free LayerNorm.

    :param layers: the layers of a stack, in order
    """
    return [
        i
        for i, (layer, after) in enumerate(zip(layers[:-1], layers[1:]))
        if isinstance(after, nn.LayerNorm)
        and not after.elementwise_affine
        and any(True for _ in layer.parameters(recurse=False))
    ]


class NormProjection(nn.Module):
    """The target norms of a stack's scale-free layers, and their projection.

    The norm of each layer (all its parameters together: weight and every task's bias) is held in the
    persistent buffer ``targets``, so saved models and resumed runs keep it; :meth:`record` sets it from the
    layers as they are (their initialisation), :meth:`project` rescales the layers back to it.

    :param count: the number of scale-free layers
    """

    targets: torch.Tensor

    def __init__(self, count: int) -> None:
        super().__init__()
        self.register_buffer("targets", torch.zeros(count))

    @staticmethod
    def _norm(params: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p) for p in params]))

    @torch.no_grad()
    def record(self, layers: Iterable[nn.Module]) -> None:
        """Take each layer's current norm as its target (call after (re-)initialising the layers).

        :param layers: the scale-free layers, in the order of ``targets``
        """
        for index, layer in enumerate(layers):
            self.targets[index] = self._norm(list(layer.parameters(recurse=False)))

    @torch.no_grad()
    def project(self, layers: Iterable[nn.Module]) -> None:
        """Rescale each layer's parameters to its target norm (on the device, no host synchronisation).

        :param layers: the scale-free layers, in the order of ``targets``
        """
        for index, layer in enumerate(layers):
            params = list(layer.parameters(recurse=False))
            norm = self._norm(params)
            scale = self.targets[index] / norm.clamp_min(torch.finfo(norm.dtype).tiny)
            for p in params:
                p.mul_(scale)


class ProjectNormsHook:
    """An optimiser post-step hook that projects the scale-free layers of the given stacks.

    A callable object (not a closure), so a deep copy of a policy together with its optimiser projects
    the copied stacks.

    :param stacks: modules with a ``project_norms()`` method (e.g. :class:`~psp_rl.nn.TaskMLP`)
    """

    def __init__(self, stacks: list[Any]) -> None:
        self.stacks = stacks

    def __call__(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        for stack in self.stacks:
            stack.project_norms()
