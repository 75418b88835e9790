"""Task-conditioned convolutions: :class:`SuperposedConv2d` and :class:`TaskConv2d`, computed as the
linear layers of :mod:`psp_rl.nn.layers` and :mod:`psp_rl.nn.task_layers` over image patches (the key
acts along the kernel's fan-in).

Example::

    >>> conv = SuperposedConv2d(3, 8, kernel_size=3, num_tasks=2, stride=2)
    >>> conv(torch.randn(4, 3, 9, 9), torch.tensor([0, 1, 1, 0])).shape
    torch.Size([4, 8, 4, 4])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from psp_rl.nn.layers import SuperposedLinear
from psp_rl.nn.task_layers import TaskLayer, TaskLinear


def _unfold(x: torch.Tensor, kernel_size: int, stride: int, padding: int) -> torch.Tensor:
    """Image patches ``(B, L, C·kh·kw)`` of ``x`` ``(B, C, H, W)``; complex inputs are unfolded per part."""
    if x.is_complex():
        return torch.complex(
            _unfold(x.real, kernel_size, stride, padding), _unfold(x.imag, kernel_size, stride, padding)
        )
    return F.unfold(x, kernel_size, stride=stride, padding=padding).transpose(1, 2)


class _PatchConv2d(TaskLayer):
    """A 2-d convolution computed as a task-conditioned linear map over image patches.

    The kernel's fan-in is ``in_channels × kh × kw``, so a key (or a task's weights) acts along it
    exactly as the paper prescribes for convolutions.
    """

    def __init__(
        self,
        linear: SuperposedLinear | TaskLinear,
        in_channels: int,
        kernel_size: int,
        stride: int,
        padding: int,
    ) -> None:
        super().__init__()
        self.linear = linear
        self.num_tasks = linear.num_tasks
        self.in_channels, self.out_channels = in_channels, linear.out_features
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def reset_parameters(self, gain: float | None = None) -> None:  # noqa: D102
        self.linear.reset_parameters(gain)

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of the output for an input of ``height × width``."""
        k, s, p = self.kernel_size, self.stride, self.padding
        return (height + 2 * p - k) // s + 1, (width + 2 * p - k) // s + 1

    def compute(
        self,
        x: torch.Tensor,
        task: torch.Tensor,
        coord: torch.Tensor | None = None,
        single: int | None = None,
    ) -> torch.Tensor:
        """The linear layer's :meth:`~psp_rl.nn.task_layers.TaskLayer.compute` over every image patch.

        :param x: ``(B, C, H, W)`` images
        :param task: ``(B,)`` integer task ids
        :param coord: ``(B,)`` coordinates (drifting context only)
        :param single: the task of every sample, when the batch has one
        :return: ``(B, out_channels, H', W')``
        """
        return self._over_patches(x, lambda patches: self.linear.compute(patches, task, coord, single))

    def mix(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The linear layer's ``mix`` over every image patch (tasks mixed by ``weights``).

        :param x: ``(B, C, H, W)`` images
        :param weights: ``(K,)`` or ``(B, K)`` real task weights
        """
        return self._over_patches(x, lambda patches: self.linear.mix(patches, weights))

    def _over_patches(self, x: torch.Tensor, linear: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Unfold ``x`` into patches ``(B, L, C·kh·kw)``, apply ``linear``, fold the result into feature maps."""
        h, w = self.output_shape(x.shape[-2], x.shape[-1])
        y = linear(_unfold(x, self.kernel_size, self.stride, self.padding))  # (B, L, out)
        return y.transpose(1, 2).reshape(x.shape[0], self.out_channels, h, w)


class SuperposedConv2d(_PatchConv2d):
    """A superposed convolution: the key multiplies the kernel along its fan-in (``C × kh × kw``).

    :param in_channels: input channels
    :param out_channels: output channels
    :param kernel_size: square kernel size
    :param num_tasks: number of tasks ``K``
    :param stride: stride
    :param padding: zero padding
    :param context: ``"binary"``, ``"complex"`` or ``"rotation"``
    :param seed: context seed
    :param layer_index: this layer's index
    :param task_bias: one bias per task
    :param weight_multiplier: see :class:`SuperposedLinear`
    :param drift_context: see :class:`SuperposedLinear`
    :param drift_keys: see :class:`SuperposedLinear`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_tasks: int,
        stride: int = 1,
        padding: int = 0,
        context: str = "binary",
        seed: int = 0,
        layer_index: int = 0,
        task_bias: bool = True,
        weight_multiplier: float = 1.0,
        drift_context: str | None = None,
        drift_keys: int = 8,
    ) -> None:
        fan_in = in_channels * kernel_size * kernel_size
        linear = SuperposedLinear(
            fan_in,
            out_channels,
            num_tasks,
            context=context,
            seed=seed,
            layer_index=layer_index,
            task_bias=task_bias,
            weight_multiplier=weight_multiplier,
            drift_context=drift_context,
            drift_keys=drift_keys,
        )
        super().__init__(linear, in_channels, kernel_size, stride, padding)


class TaskConv2d(_PatchConv2d):
    """A convolution with independent kernels per task (``separate`` baseline).

    :param in_channels: input channels
    :param out_channels: output channels
    :param kernel_size: square kernel size
    :param num_tasks: number of tasks ``K``
    :param stride: stride
    :param padding: zero padding
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_tasks: int,
        stride: int = 1,
        padding: int = 0,
    ) -> None:
        linear = TaskLinear(in_channels * kernel_size * kernel_size, out_channels, num_tasks)
        super().__init__(linear, in_channels, kernel_size, stride, padding)
