"""Modulating masks: a fixed random backbone per layer and one learned binary mask per task.

Ben-Iwhiwhu et al., "Lifelong Reinforcement Learning with Modulating Masks" (TMLR 2023; code
github.com/dlpbc/mask-lrl), after SupSup (Wortsman et al., NeurIPS 2020; github.com/RAIVNLab/supsup).
A layer computes ``y = (W ⊙ m_k) x`` where

* ``W`` is a fixed backbone, never trained: the *signed constant* ``±sqrt(2 / fan_in)`` (Kaiming's ReLU
  std of the fan-in) with fair random signs. The signs follow the ``(seed, layer)`` rule of the context
  keys (:mod:`psp_rl.nn.contexts`), so a backbone is reproduced from its layer's name; it is still a
  persistent buffer, so SB3's ``save``/``load`` and target networks carry it, and the optimiser never sees it;
* ``m_k = 1[s_k >= 0]`` is task ``k``'s binary mask, thresholded from learned real scores ``s_k`` (one
  ``out × in`` table per task, initialised ``U(±1/sqrt(fan_in))``); the gradient goes straight through the
  threshold to the scores (``∂m/∂s = 1``).

A batch may mix tasks: each sample uses its own task's mask. A one-task batch costs one masked weight and
one product; a mixed batch builds the ``K`` masked weights and multiplies per task present on CPU, without
host synchronisation elsewhere. The gradient of a task's loss reaches only that task's scores, so the other
tasks' outputs do not move under an optimiser that does not step on a zero gradient (RMSprop without
momentum, the MG10 protocol's; SGD); Adam's moments go on moving a finished task's scores (flipping mask
bits) for a while after its phase, as for any per-task parameter, unless the optimiser is reset there.

Where this follows the authors' code and where it differs (``deep_rl/mask_modules/mmn/mask_nets.py``):

* ``MultitaskMaskLinear`` with ``discrete=True`` (the mask of their MiniGrid and CT-graph runs: threshold at
  0, ``GetSubnetDiscrete``; not the top-k ``MultitaskMaskLinearSparse``), ``bias=False``, ``signed_constant``
  backbone, ``mask_init`` scores (``kaiming_uniform_(a=sqrt(5))``, i.e. ``U(±1/sqrt(fan_in))``);
* the backbone's signs come from the ``(seed, layer)`` rule, not from the global torch generator; the
  scores are one ``(K, out, in)`` parameter, not a list of ``K`` (every task's scores are drawn at
  construction, the authors' "random init" for a new task, MASK RI);
* the task is picked per sample from the observation, not set on the module (``set_task``);
* SB3's orthogonal re-initialisation (:meth:`reset_parameters` with a gain) draws the scores again and
  leaves the backbone alone: the authors initialise every masked layer alike, output layers included;
* their convolutional bodies are plain; :class:`MaskedConv2d` masks a kernel as SupSup does
  (``MultitaskMaskConv``), with the same backbone and scores along the kernel's fan-in ``C·kh·kw``.

``linear_comb`` (mode ``mask-lc``, the authors' MASK LC, ``new_mask_type='linear_comb'``): task ``k``
thresholds ``Σ_{j<k} α_kj s_j + α_kk s_k``, ``α_k = softmax(β_k[0..k])`` with ``β`` learned (zeros at the
start: the uniform mean), the earlier tasks' scores held constant. The authors compute the combination while
``k`` is a new task and write it into ``s_k`` at the end of its phase (``consolidate_mask``), training ``s_k``
alone afterwards; here it is computed at every forward (a layer holds no phase state). That is the same
function as long as the earlier tasks' scores stay as they were, as when each task trains in one phase in
id order (MG10's schedule); training an earlier task again moves the later tasks' masks.

Example::

    >>> layer = MaskedLinear(8, 4, num_tasks=3)
    >>> layer(torch.randn(5, 8), torch.tensor([0, 2, 1, 0, 2])).shape
    torch.Size([5, 4])
"""

from __future__ import annotations

import math
import zlib
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from psp_rl.nn.contexts import layer_id
from psp_rl.nn.pertask import per_sample_matmul
from psp_rl.nn.task_layers import TaskLayer

if TYPE_CHECKING:
    from psp_rl.nn.config import NetworkConfig

__all__ = [
    "MaskedConv2d",
    "MaskedLinear",
    "binary_mask",
    "mask_conv",
    "mask_lc_conv",
    "mask_lc_linear",
    "mask_linear",
    "mask_parameter_counts",
    "masked",
    "per_sample_conv",
    "signed_constant",
]

# The backbone's random stream: (seed, layer index, this tag), apart from every task's key stream.
_BACKBONE_STREAM = zlib.crc32(b"mask-backbone")


def signed_constant(out_features: int, fan_in: int, seed: int = 0, layer_index: int = 0) -> torch.Tensor:
    """A fixed backbone: fair random signs times ``sqrt(2 / fan_in)``, a function of ``(seed, layer_index)``.

    :param out_features: rows
    :param fan_in: columns (a convolution's ``C·kh·kw``)
    :param seed: the context seed
    :param layer_index: the layer's index (see :func:`~psp_rl.nn.contexts.layer_id`)
    :return: ``(out_features, fan_in)`` float32
    """
    if seed < 0:
        raise ValueError(f"context_seed must be a non-negative integer, got {seed}.")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(layer_index), _BACKBONE_STREAM]))
    signs = rng.integers(0, 2, size=(out_features, fan_in)).astype(np.float32) * 2.0 - 1.0
    return torch.from_numpy(signs * np.float32(math.sqrt(2.0 / fan_in)))


class _Threshold(torch.autograd.Function):
    """``1[s >= 0]`` forward, the gradient straight through backward (the authors' ``GetSubnetDiscrete``)."""

    @staticmethod
    def forward(ctx: Any, scores: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return (scores >= 0).to(scores.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return grad


def binary_mask(scores: torch.Tensor) -> torch.Tensor:
    """The binary mask ``1[scores >= 0]``, with the straight-through gradient ``∂mask/∂scores = 1``.

    :param scores: real scores of any shape
    """
    return _Threshold.apply(scores)  # type: ignore[no-any-return]


class _MaskedWeight(torch.autograd.Function):
    """``W ⊙ 1[s >= 0]`` in one kernel forward; backward the straight-through gradient ``∂/∂s = grad ⊙ W``
    (what ``W * binary_mask(s)`` gives, without the mask tensor and a second product)."""

    @staticmethod
    def forward(ctx: Any, scores: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(weight)
        return torch.where(scores >= 0, weight, 0.0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        (weight,) = ctx.saved_tensors
        return grad * weight, None


def masked(scores: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The masked weight ``W ⊙ 1[scores >= 0]``, with the straight-through gradient to the scores.

    :param scores: ``(out, in)`` one task's scores, or ``(K, out, in)`` every task's
    :param weight: ``(out, in)`` the fixed backbone
    """
    if not (torch.is_grad_enabled() and scores.requires_grad):
        return torch.where(scores >= 0, weight, 0.0)
    return _MaskedWeight.apply(scores, weight)  # type: ignore[no-any-return]


class MaskedLinear(TaskLayer):
    """A linear layer with a fixed random backbone and one learned binary mask per task:
    ``y = (W ⊙ 1[s_task >= 0]) x`` (no bias).

    :param in_features: fan-in
    :param out_features: number of outputs
    :param num_tasks: number of tasks ``K``
    :param seed: the backbone's seed (the context seed)
    :param layer_index: this layer's index (see :func:`~psp_rl.nn.contexts.layer_id`)
    :param linear_comb: task ``k`` thresholds a learned combination of the scores of tasks ``0..k``,
        ``Σ_{j<k} α_kj s_j + α_kk s_k`` with ``α_k = softmax(β_k[0..k])``, the earlier tasks' scores taken as
        constants (the authors' MASK LC): a new task starts from (a mix of) what the earlier ones learned
    """

    weight: torch.Tensor  # the fixed backbone: a buffer registered in __init__

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_tasks: int,
        seed: int = 0,
        layer_index: int = 0,
        linear_comb: bool = False,
    ) -> None:
        super().__init__()
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be at least 1, got {num_tasks}.")
        self.in_features, self.out_features, self.num_tasks = in_features, out_features, num_tasks
        self.scores = nn.Parameter(torch.empty(num_tasks, out_features, in_features))
        # β: row k weighs tasks 0..k (softmax); zeros give the authors' start, the uniform mean of 0..k
        self.betas = nn.Parameter(torch.zeros(num_tasks, num_tasks)) if linear_comb else None
        # Persistent, not a parameter: saved, copied to target networks, never optimised.
        self.register_buffer("weight", signed_constant(out_features, in_features, seed, layer_index))
        self.reset_parameters()

    def reset_parameters(self, gain: float | None = None) -> None:
        """Draw every task's scores again, ``U(±1/sqrt(fan_in))``; the backbone stays.

        :param gain: ignored (an orthogonal gain has no meaning for scores; the authors initialise every
            masked layer alike)
        """
        bound = 1.0 / math.sqrt(self.in_features)
        with torch.no_grad():
            self.scores.uniform_(-bound, bound)
            if self.betas is not None:
                self.betas.zero_()

    def task_scores(self, task: int) -> torch.Tensor:
        """:param task: a task id
        :return: ``(out, in)`` the scores task ``task`` thresholds (its own, or its combination)"""
        scores = cast(torch.Tensor, self._parameters["scores"])
        if self.betas is None or task == 0:
            return scores[task]
        alpha = torch.softmax(self.betas[task, : task + 1], dim=0)
        earlier = torch.tensordot(alpha[:task], scores[:task].detach(), dims=1)
        return earlier + alpha[task] * scores[task]

    def all_scores(self) -> torch.Tensor:
        """:return: ``(K, out, in)`` :meth:`task_scores` of every task"""
        scores = cast(torch.Tensor, self._parameters["scores"])
        if self.betas is None:
            return scores
        k = self.num_tasks
        lower = torch.ones(k, k, dtype=torch.bool, device=scores.device).tril()
        alpha = torch.softmax(self.betas.masked_fill(~lower, float("-inf")), dim=1)  # row k over 0..k
        earlier, own = alpha.tril(-1), alpha.diagonal()
        return torch.einsum("kj,j...->k...", earlier, scores.detach()) + own[:, None, None] * scores

    def masks(self) -> torch.Tensor:
        """:return: ``(K, out, in)`` every task's binary mask (no gradient)"""
        with torch.no_grad():
            return binary_mask(self.all_scores())

    def masked_weight(self, task: int) -> torch.Tensor:
        """:param task: a task id
        :return: ``(out, in)`` the weight task ``task`` computes with, ``W ⊙ m_task``"""
        return masked(self.task_scores(task), cast(torch.Tensor, self._buffers["weight"]))

    def masked_weights(self) -> torch.Tensor:
        """:return: ``(K, out, in)`` every task's masked weight"""
        return masked(self.all_scores(), cast(torch.Tensor, self._buffers["weight"]))

    def compute(
        self,
        x: torch.Tensor,
        task: torch.Tensor,
        coord: torch.Tensor | None = None,
        single: int | None = None,
    ) -> torch.Tensor:
        """:param x: ``(B, N)`` or ``(B, L, N)`` inputs
        :param task: ``(B,)`` integer task ids
        :param coord: ignored (masks are picked by task id)
        :param single: the task of every sample, when the batch has one: one masked weight, one product
        :return: ``(B, out)`` or ``(B, L, out)``
        """
        if single is not None:
            return F.linear(x, self.masked_weight(single))
        return per_sample_matmul(x, self.masked_weights(), task)

    def mix(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``Σ α_k (W ⊙ m_k) x``: the tasks' outputs mixed by ``weights`` (``(K,)`` or ``(B, K)``)."""
        alpha, masked = weights.to(x.dtype), self.masked_weights()
        if alpha.dim() == 1:
            return x @ torch.einsum("k,kmn->mn", alpha, masked).T
        return torch.einsum("bmn,b...n->b...m", torch.einsum("bk,kmn->bmn", alpha, masked), x)

    def extra_repr(self) -> str:
        comb = ", linear_comb=True" if self.betas is not None else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, num_tasks={self.num_tasks}{comb}"


def per_sample_conv(
    x: torch.Tensor,
    kernels: torch.Tensor,
    task: torch.Tensor,
    stride: int = 1,
    padding: int = 0,
    grouped: bool | None = None,
) -> torch.Tensor:
    """``y[b] = conv2d(x[b], kernels[task[b]])``, as :func:`~psp_rl.nn.pertask.per_sample_matmul` for products.

    * grouped (the default for CPU task ids): one convolution per task present in the batch;
    * all tasks (the default elsewhere): one convolution with every task's kernels stacked, then each sample's
      block gathered: ``K`` times the products, no host synchronisation.

    :param x: ``(B, C, H, W)`` images
    :param kernels: ``(K, out, C, kh, kw)`` one kernel per task
    :param task: ``(B,)`` task ids
    :param stride: stride
    :param padding: zero padding
    :param grouped: force a strategy; ``None`` picks by the device of ``task``
    """
    if grouped is None:
        grouped = task.device.type == "cpu"
    if not grouped:
        y = F.conv2d(x, kernels.flatten(0, 1), None, stride, padding)
        y = y.reshape(x.shape[0], kernels.shape[0], kernels.shape[1], *y.shape[-2:])
        return y.gather(1, task.reshape(-1, 1, 1, 1, 1).expand(-1, 1, *y.shape[2:])).squeeze(1)
    counts = torch.bincount(task, minlength=kernels.shape[0])
    present = counts.nonzero().flatten().tolist()
    if len(present) <= 1:  # one task (or an empty batch)
        return F.conv2d(x, kernels[present[0] if present else 0], None, stride, padding)
    order = torch.argsort(task, stable=True)
    pieces = x.index_select(0, order).split(counts[present].tolist())
    # one gather and an unbind: the backward writes each task's gradient once (see grouped_matmul)
    used = kernels.index_select(0, torch.tensor(present, device=kernels.device)).unbind(0)
    y = torch.cat([F.conv2d(piece, kernel, None, stride, padding) for piece, kernel in zip(pieces, used)])
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order), device=order.device)
    return y.index_select(0, inverse)


class MaskedConv2d(TaskLayer):
    """A convolution with a fixed random kernel and one learned binary mask per task (SupSup's
    ``MultitaskMaskConv``): backbone and scores of a :class:`MaskedLinear` along the kernel's fan-in
    ``C·kh·kw``, applied with :func:`torch.nn.functional.conv2d` (no bias).

    :param in_channels: input channels
    :param out_channels: output channels
    :param kernel_size: square kernel size
    :param num_tasks: number of tasks ``K``
    :param stride: stride
    :param padding: zero padding
    :param seed: the backbone's seed
    :param layer_index: this layer's index
    :param linear_comb: combine the earlier tasks' scores (see :class:`MaskedLinear`)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_tasks: int,
        stride: int = 1,
        padding: int = 0,
        seed: int = 0,
        layer_index: int = 0,
        linear_comb: bool = False,
    ) -> None:
        super().__init__()
        fan_in = in_channels * kernel_size * kernel_size
        self.linear = MaskedLinear(fan_in, out_channels, num_tasks, seed, layer_index, linear_comb)
        self.num_tasks = num_tasks
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def reset_parameters(self, gain: float | None = None) -> None:  # noqa: D102
        self.linear.reset_parameters(gain)

    def _kernels(self, masked: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        return masked.reshape(*masked.shape[:-1], self.in_channels, k, k)

    def _conv(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, kernel, None, self.stride, self.padding)

    def compute(
        self,
        x: torch.Tensor,
        task: torch.Tensor,
        coord: torch.Tensor | None = None,
        single: int | None = None,
    ) -> torch.Tensor:
        """:param x: ``(B, C, H, W)`` images
        :param task: ``(B,)`` integer task ids
        :param coord: ignored
        :param single: the task of every sample, when the batch has one: one masked kernel, one convolution
        :return: ``(B, out_channels, H', W')``
        """
        if single is not None:
            return self._conv(x, self._kernels(self.linear.masked_weight(single)))
        kernels = self._kernels(self.linear.masked_weights())  # (K, out, C, k, k)
        return per_sample_conv(x, kernels, task, self.stride, self.padding)

    def mix(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``Σ α_k conv(x, W ⊙ m_k)``: the tasks' outputs mixed by ``weights`` (``(K,)`` or ``(B, K)``)."""
        kernels = self._kernels(self.linear.masked_weights())
        alpha = weights.to(x.dtype)
        if alpha.dim() == 1:
            return self._conv(x, torch.einsum("k,k...->...", alpha, kernels))
        y = self._conv(x, kernels.flatten(0, 1))
        y = y.reshape(x.shape[0], self.num_tasks, self.out_channels, *y.shape[-2:])
        return torch.einsum("bk,bk...->b...", alpha, y)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, num_tasks={self.num_tasks}"
        )


def mask_linear(
    config: NetworkConfig, name: str, n_in: int, n_out: int, head: bool, linear_comb: bool = False
) -> nn.Module:
    """The ``mask`` linear layer: :class:`MaskedLinear`, its backbone keyed by the layer's name."""
    index = layer_id(name)
    return MaskedLinear(n_in, n_out, config.num_tasks, config.context_seed, index, linear_comb)


def mask_conv(
    config: NetworkConfig,
    name: str,
    c_in: int,
    c_out: int,
    kernel_size: int,
    stride: int,
    linear_comb: bool = False,
) -> nn.Module:
    """The ``mask`` convolution: :class:`MaskedConv2d`, its backbone keyed by the layer's name."""
    return MaskedConv2d(
        c_in,
        c_out,
        kernel_size,
        config.num_tasks,
        stride,
        0,
        config.context_seed,
        layer_id(name),
        linear_comb,
    )


def mask_lc_linear(config: NetworkConfig, name: str, n_in: int, n_out: int, head: bool) -> nn.Module:
    """The ``mask-lc`` linear layer: :func:`mask_linear` combining the earlier tasks' scores."""
    return mask_linear(config, name, n_in, n_out, head, linear_comb=True)


def mask_lc_conv(
    config: NetworkConfig, name: str, c_in: int, c_out: int, kernel_size: int, stride: int
) -> nn.Module:
    """The ``mask-lc`` convolution: :func:`mask_conv` combining the earlier tasks' scores."""
    return mask_conv(config, name, c_in, c_out, kernel_size, stride, linear_comb=True)


def mask_parameter_counts(module: nn.Module) -> dict[str, int]:
    """What the masked layers of a network hold: trained scores and the fixed backbone.

    ``module.parameters()`` counts the scores (``K`` per backbone entry) and every other trained tensor;
    the backbone is a buffer. Only the sign of a score matters once trained: one bit per entry and task.

    :param module: a network (or policy)
    :return: ``{"scores": K·Σ out·in, "backbone": Σ out·in}`` over its :class:`MaskedLinear` layers
    """
    layers = [m for m in module.modules() if isinstance(m, MaskedLinear)]
    return {
        "scores": sum(m.scores.numel() for m in layers),
        "backbone": sum(m.weight.numel() for m in layers),
    }
