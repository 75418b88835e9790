"""The task-layer contract and per-task weights.

* :class:`TaskLayer` -- the base of every task-conditioned layer: ``forward(x, task)`` with one task id
  per sample, checked once, then :meth:`~TaskLayer.compute`.
* :class:`TaskLinear` -- independent weights per task, ``y = W[task] x + b[task]``: the building block of
  the ``separate`` (every layer) and ``multihead`` (output layers) baselines.
* :class:`BinnedLinear` -- independent weights per bin of the continuous task coordinate ``s`` (the phase of
  a drift): ``separate`` with ``drift_context=binned``, one network per phase bin.

The superposed layer is :class:`psp_rl.nn.layers.SuperposedLinear`; the convolutions of both are in
:mod:`psp_rl.nn.conv`.

Example::

    >>> layer = TaskLinear(8, 4, num_tasks=3)
    >>> layer(torch.randn(5, 8), torch.tensor([0, 2, 1, 0, 2])).shape
    torch.Size([5, 4])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from psp_rl.nn.drift import phase_bins
from psp_rl.nn.pertask import broadcast_rows, check_task_ids, per_sample_matmul, single_task

__all__ = ["BinnedLinear", "TaskLayer", "TaskLinear"]


class TaskLayer(nn.Module):
    """Base of the task-conditioned layers: ``forward(x, task)``; knows its number of tasks.

    ``forward`` checks the task ids, then calls :meth:`compute`. A network that checked its task ids
    once for all its layers calls :meth:`compute` directly.
    """

    num_tasks: int

    def forward(self, x: torch.Tensor, task: torch.Tensor, coord: torch.Tensor | None = None) -> torch.Tensor:
        """The layer's output for each sample's task.

        :param x: inputs, batch first
        :param task: ``(B,)`` integer task ids in ``[0, K)``
        :param coord: ``(B,)`` continuous task coordinates in ``[0, 1)`` (layers with a drifting context)
        """
        task = check_task_ids(task, self.num_tasks, x.shape[0])
        return self.compute(x, task, coord, single_task(task))

    def compute(
        self,
        x: torch.Tensor,
        task: torch.Tensor,
        coord: torch.Tensor | None = None,
        single: int | None = None,
    ) -> torch.Tensor:
        """The layer's output for task ids already known to be valid.

        :param x: inputs, batch first
        :param task: ``(B,)`` checked integer task ids
        :param coord: ``(B,)`` continuous task coordinates (layers with a drifting context)
        :param single: the task every sample has, when known (:func:`~psp_rl.nn.pertask.single_task`);
            ``None`` for a mixed batch or when not known. It picks the faster strategy, not the result.
        """
        raise NotImplementedError

    def mix(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The output with the tasks mixed by ``weights`` instead of picked by id (task inference).

        :param x: inputs, batch first
        :param weights: ``(K,)`` for the whole batch, or ``(B, K)`` per sample
        """
        raise ValueError(
            f"{type(self).__name__} cannot mix tasks with weights (task inference by the entropy "
            "gradient): use task ids, or the score-based inference (method='score')."
        )

    def reset_parameters(self, gain: float | None = None) -> None:
        """Re-initialise the weights: ``gain=None`` uses PyTorch's ``nn.Linear`` default, a number
        gives (semi-)orthogonal weights with that gain and zero biases (SB3's ``ortho_init``).

        :param gain: orthogonal gain, or ``None`` for the default init
        """
        raise NotImplementedError


class TaskLinear(TaskLayer):
    """A linear layer with independent weights per task: ``y = W[task] x + b[task]``.

    :param in_features: fan-in
    :param out_features: number of outputs
    :param num_tasks: number of tasks ``K``
    :param bias: whether to add a (per-task) bias
    """

    def __init__(self, in_features: int, out_features: int, num_tasks: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.num_tasks = num_tasks
        self.weight = nn.Parameter(torch.empty(num_tasks, out_features, in_features))
        if bias:
            self.bias: nn.Parameter | None = nn.Parameter(torch.empty(num_tasks, out_features))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self, gain: float | None = None) -> None:  # noqa: D102
        bound = 1.0 / math.sqrt(self.in_features)
        with torch.no_grad():
            for k in range(self.weight.shape[0]):
                if gain is None:
                    self.weight[k].uniform_(-bound, bound)
                else:
                    nn.init.orthogonal_(self.weight[k], gain=gain)
            if self.bias is not None:
                if gain is None:
                    self.bias.uniform_(-bound, bound)
                else:
                    self.bias.zero_()

    def compute(
        self,
        x: torch.Tensor,
        task: torch.Tensor,
        coord: torch.Tensor | None = None,
        single: int | None = None,
    ) -> torch.Tensor:
        """``W[task] x + b[task]`` for checked task ids.

        :param x: ``(B, N)`` or ``(B, L, N)`` inputs
        :param task: ``(B,)`` integer task ids
        :param coord: ignored (independent weights per task id)
        :param single: the task of every sample, when the batch has one: one plain product
        """
        if single is not None:
            return F.linear(x, self.weight[single], None if self.bias is None else self.bias[single])
        y = per_sample_matmul(x, self.weight, task)
        if self.bias is None:
            return y
        return y + broadcast_rows(self.bias.index_select(0, task), y)

    def mix(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``Σ α_k (W_k x + b_k)``: the tasks' outputs mixed by ``weights``.

        :param x: ``(B, N)`` or ``(B, L, N)`` inputs
        :param weights: ``(K,)`` for the whole batch, or ``(B, K)`` per sample
        """
        alpha = weights.to(x.dtype)
        if alpha.dim() == 1:
            y = x @ torch.einsum("k,kmn->mn", alpha, self.weight).T
        else:
            y = torch.einsum("bmn,b...n->b...m", torch.einsum("bk,kmn->bmn", alpha, self.weight), x)
        if self.bias is None:
            return y
        rows = alpha @ self.bias
        return y + (rows if rows.dim() == 1 else broadcast_rows(rows, y))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, num_tasks={self.num_tasks}"


class BinnedLinear(TaskLinear):
    """A linear layer with independent weights per bin of the coordinate: ``y = W[b] x + b[b]`` with
    ``b = ⌊M s⌋`` (:func:`~psp_rl.nn.drift.phase_bins`, the bins of the ``binned`` drifting keys).

    Every layer of a network binned this way (mode ``separate``, ``drift_context=binned``) makes ``M``
    independent networks, one per phase bin: training on one bin moves no other bin's outputs. The task
    id is not used (the layer keeps ``num_tasks`` only for the network's check of the ids).

    :param in_features: fan-in
    :param out_features: number of outputs
    :param num_bins: ``M``, the number of bins (``drift_keys``)
    :param num_tasks: number of tasks ``K`` of the observation
    :param bias: whether to add a (per-bin) bias
    """

    def __init__(
        self, in_features: int, out_features: int, num_bins: int, num_tasks: int = 1, bias: bool = True
    ) -> None:
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
            raise ValueError(f"drift_keys (the number of bins) must be a positive integer, got {num_bins!r}.")
        super().__init__(in_features, out_features, num_bins, bias)
        self.num_bins, self.num_tasks = num_bins, num_tasks

    def compute(
        self,
        x: torch.Tensor,
        task: torch.Tensor,
        coord: torch.Tensor | None = None,
        single: int | None = None,
    ) -> torch.Tensor:
        """``W[b] x + b[b]`` with ``b`` each sample's bin of ``coord``.

        :param x: ``(B, N)`` or ``(B, L, N)`` inputs
        :param task: ignored (the bins follow the coordinate)
        :param coord: ``(B,)`` coordinates in ``[0, 1)``
        :param single: ignored (a batch of one task may span several bins)
        :raises ValueError: without coordinates
        """
        if coord is None:
            raise ValueError(
                "this layer keeps one set of weights per bin of the continuous coordinate (mode separate, "
                "drift_context binned) but the batch has none: the observation needs a 'coord' entry (a "
                "suite with coordinate: true)."
            )
        return super().compute(x, phase_bins(coord.reshape(-1), self.num_bins), None, None)

    def mix(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return TaskLayer.mix(self, x, weights)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, num_bins={self.num_bins}"
