"""Superposed layers: one weight matrix holding ``K`` models, ``y = W (c[task] ⊙ x) + b[task]``.

:class:`SuperposedLinear` is Parameter Superposition (Cheung et al., 2019): each task's context key ``c_k``
(a :class:`~psp_rl.nn.contexts.ContextKind`: signs, unit phases or a rotation) is bound to the inputs, so
one shared ``W`` serves every task. The base class of task-conditioned layers and the per-task weights of
the ``separate`` and ``multihead`` baselines are in :mod:`psp_rl.nn.task_layers` (and importable from
here); the convolutions of both in :mod:`psp_rl.nn.conv`.

A batch may mix tasks: each sample uses its own key and bias, and the result equals running each task
alone. Forward passes never synchronise host and device (no ``.item()``, no loop over samples), so they
run unchanged on CUDA; task ids are range-checked where that is free (CPU tensors). On an accelerator the
ids come from SB3's one-hot preprocessing of the ``Discrete`` task space, which cannot produce an id
outside ``[0, K)``.

Complex context (pspComplex): weights are complex, ``c_k = exp(iφ)``, and a hidden layer returns a
complex tensor. Networks apply their nonlinearity to the real and imaginary parts separately
(:class:`psp_rl.nn.modes.SplitComplex`) and heads return the real part.

Example::

    >>> layer = SuperposedLinear(8, 4, num_tasks=3)
    >>> y = layer(torch.randn(5, 8), torch.tensor([0, 2, 1, 0, 2]))
    >>> y.shape
    torch.Size([5, 4])
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from psp_rl.nn.contexts import context_kind, make_context
from psp_rl.nn.drift import DriftingKeys
from psp_rl.nn.pertask import check_task_ids
from psp_rl.nn.task_layers import TaskLayer, TaskLinear

__all__ = ["SuperposedLinear", "TaskLayer", "TaskLinear", "check_task_ids"]


def _orthogonal_(weight: torch.Tensor, gain: float) -> None:
    """Orthogonal init for real weights, its unitary analogue for complex ones."""
    with torch.no_grad():
        if not weight.is_complex():
            nn.init.orthogonal_(weight, gain=gain)
            return
        rows, cols = weight.shape
        z = torch.randn(max(rows, cols), min(rows, cols), dtype=weight.dtype)
        q, r = torch.linalg.qr(z)
        d = torch.diagonal(r)
        q = q * (d / d.abs().clamp_min(1e-12))
        weight.copy_((q if rows >= cols else q.T) * gain)


class SuperposedLinear(TaskLayer):
    """A linear layer holding ``K`` superposed models: ``y = W (c[task] ⊙ x) + b[task]``.

    The forward path (:meth:`compute`) has two strategies with the same result: a batch of one task uses
    that task's key and bias for every sample (:meth:`with_key`, which folds the key into the weight,
    ``(W diag c) x``, when the layer has fewer outputs than the batch has rows); a batch of mixed tasks
    binds each sample's key to its inputs (:meth:`with_rows`). Beside it: :meth:`mix` (tasks mixed by
    weights, for task inference), :meth:`lifted` (inputs still to be lifted by the policies' features
    extractor) and a drifting context (keys that follow a continuous coordinate, :mod:`psp_rl.nn.drift`).

    :param in_features: fan-in ``N``
    :param out_features: number of outputs
    :param num_tasks: number of tasks ``K``
    :param context: ``"binary"`` (default), ``"complex"`` or ``"rotation"``
    :param seed: context seed; keys are a function of ``(seed, layer_index, task)``
    :param layer_index: this layer's index (see :func:`psp_rl.nn.contexts.layer_id`)
    :param bias: whether to add a bias
    :param task_bias: one bias vector per task (default) instead of a shared one; a shared bias moves
        every task's output when one task trains
    :param weight_multiplier: the layer computes with ``m * W`` and stores ``W`` (initialised ``1/m`` times
        larger, so the effective initial weights do not change): an optimiser step of Adam, which moves
        every entry of ``W`` by about the learning rate, moves the effective weights ``m`` times less.
        This is how a wider layer gets a smaller effective learning rate (see
        :attr:`psp_rl.nn.NetworkConfig.width_scaling`). Saved with the weights; ``1`` for state dicts
        saved before it existed.
    :param drift_context: keys that follow the continuous coordinate of each sample instead of its task
        id (``power``, ``geodesic``, ``interpolate``, ``binned``; see :mod:`psp_rl.nn.drift`); biases stay
        per task
    :param drift_keys: ``M`` of the drifting context (frequency range or number of anchors)
    """

    context: torch.Tensor  # the keys: a buffer registered in __init__

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_tasks: int,
        context: str = "binary",
        seed: int = 0,
        layer_index: int = 0,
        bias: bool = True,
        task_bias: bool = True,
        weight_multiplier: float = 1.0,
        drift_context: str | None = None,
        drift_keys: int = 8,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.num_tasks = num_tasks
        self.kind = context_kind(context)
        self.task_bias = task_bias and bias
        dtype = self.kind.weight_dtype
        self.weight = nn.Parameter(torch.empty(out_features, in_features, dtype=dtype))
        if bias:
            shape = (num_tasks, out_features) if task_bias else (out_features,)
            self.bias: nn.Parameter | None = nn.Parameter(torch.empty(shape, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        # Persistent: SB3's save/load and target networks (load_state_dict) carry the keys.
        self.register_buffer("context", make_context(context, num_tasks, in_features, seed, layer_index))
        if not weight_multiplier > 0:
            raise ValueError(f"weight_multiplier must be > 0, got {weight_multiplier}.")
        self.multiplier = float(weight_multiplier)
        self.register_buffer("weight_multiplier", torch.tensor(self.multiplier))
        self.drift: DriftingKeys | None = None
        if drift_context is not None:
            self.drift = DriftingKeys(drift_context, context, in_features, drift_keys, seed, layer_index)
        self.reset_parameters()

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object, **kwargs: object) -> None:
        key = prefix + "weight_multiplier"
        if key not in state_dict:  # saved before the multiplier existed: the weights are the effective ones
            state_dict[key] = torch.tensor(1.0)
        self.multiplier = float(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[arg-type]

    def effective_weight(self) -> torch.Tensor:
        """The weight the layer computes with, ``m * W``."""
        weight = cast(torch.Tensor, self._parameters["weight"])
        return weight if self.multiplier == 1.0 else weight * self.multiplier

    def reset_parameters(self, gain: float | None = None) -> None:  # noqa: D102
        with torch.no_grad():
            if gain is None:
                # nn.Linear's default (kaiming-uniform with a=sqrt(5)) is uniform(-bound, bound); a
                # complex weight draws both parts with the bound scaled by 1/sqrt(2) (same magnitude).
                bound = 1.0 / math.sqrt(self.in_features) / self.multiplier
                if self.weight.is_complex():
                    self.weight.real.uniform_(-bound / math.sqrt(2.0), bound / math.sqrt(2.0))
                    self.weight.imag.uniform_(-bound / math.sqrt(2.0), bound / math.sqrt(2.0))
                else:
                    self.weight.uniform_(-bound, bound)
                if self.bias is not None:
                    self.bias.zero_()
                    self.bias.real.uniform_(-bound * self.multiplier, bound * self.multiplier)
            else:
                _orthogonal_(self.weight, gain / self.multiplier)
                if self.bias is not None:
                    self.bias.zero_()

    # -- the forward path ---------------------------------------------------------------------------

    def compute(
        self,
        x: torch.Tensor,
        task: torch.Tensor,
        coord: torch.Tensor | None = None,
        single: int | None = None,
    ) -> torch.Tensor:
        """``W (c[task] ⊙ x) + b[task]`` for checked task ids.

        :param x: ``(B, N)`` or ``(B, L, N)`` inputs
        :param task: ``(B,)`` integer task ids
        :param coord: ``(B,)`` coordinates (a drifting context picks its keys by them)
        :param single: the task of every sample, when the batch has one: its key and bias serve the whole
            batch (see :meth:`TaskLayer.compute`)
        :return: ``(B, out)`` or ``(B, L, out)``; complex for the complex context
        """
        if self.drift is not None:
            return self.with_rows(self.drift.bind(x, coord), self._bias_rows(task))
        if single is not None:
            return self.with_key(x, self.context[single], self._bias_row(single))
        return self.with_rows(self.kind.bind_tasks(x, self.context, task), self._bias_rows(task))

    def with_key(
        self, x: torch.Tensor, key: torch.Tensor, bias: torch.Tensor | None, lift: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``W (key ⊙ x) + bias`` with one key and bias row for the whole batch.

        The key goes into the weight, ``(W diag key) x``, where the layer has fewer outputs than ``x`` has
        rows (``out·N`` products instead of ``B·N``, and no second product for the input gradient);
        otherwise onto the inputs. Binary keys give the same bits either way; complex and rotation keys
        agree to rounding.

        :param x: ``(B, N)`` or ``(B, L, N)`` inputs (``(B, d)`` before the lifting when ``lift`` is given)
        :param key: one key, ``(N,)`` or ``(N, N)``
        :param bias: one bias row, ``(out,)``, or ``None``
        :param lift: ``(N, d)`` a fixed lifting still to apply to ``x`` (see :meth:`lifted`)
        """
        weight = self.effective_weight()
        if self.out_features < x.shape[:-1].numel():
            folded = self.kind.fold(weight, key)
            if lift is not None:
                folded = folded @ lift.to(folded.dtype)
            return F.linear(x.to(weight.dtype), folded, bias)
        if lift is not None:
            x = x @ lift.T
        return F.linear(self.kind.bind(x, key).to(weight.dtype), weight, bias)

    def with_rows(self, bound: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        """``W bound + b`` for inputs each already bound to its own key.

        :param bound: ``(B, N)`` or ``(B, L, N)`` keyed inputs
        :param rows: ``(B, out)`` one bias row per sample, or ``None`` for the layer's shared bias (if any)
        """
        weight = self.effective_weight()
        bound = bound.to(weight.dtype)
        if rows is None:
            return F.linear(bound, weight, self.bias)
        if bound.dim() == 2:
            return torch.addmm(rows, bound, weight.T)  # one fused kernel
        return F.linear(bound, weight) + rows.unsqueeze(1)

    def _bias_row(self, task: int) -> torch.Tensor | None:
        """The bias of one task (the shared bias without per-task biases)."""
        return self.bias[task] if self.task_bias else self.bias  # type: ignore[index]

    def _bias_rows(self, task: torch.Tensor) -> torch.Tensor | None:
        """Each sample's bias row, or ``None`` for a shared bias."""
        return self.bias.index_select(0, task) if self.task_bias else None  # type: ignore[union-attr]

    # -- beside the forward path: mixed tasks, lifted inputs -----------------------------------------

    def mix(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The layer with key ``Σ α_k c_k`` (rotation ``Σ α_k C_k``) and bias ``Σ α_k b_k``. With ``(K,)``
        weights a one-hot ``α`` computes what :meth:`compute` computes, bit for bit (the same products).

        :param x: ``(B, N)`` or ``(B, L, N)`` inputs
        :param weights: ``(K,)`` or ``(B, K)`` real task weights (may require grad)
        """
        if self.drift is not None:
            raise ValueError("a drifting context picks its keys by coordinate: it cannot mix task ids.")
        key, bias = self._mixed(weights)
        if weights.dim() == 1:
            return self.with_key(x, key, bias)
        return self.with_rows(self.kind.bind_each(x, key), bias)

    def _mixed(self, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The key(s) and bias (rows) of task weights ``(K,)`` (one for the batch) or ``(B, K)`` (per sample)."""
        key = self.kind.mix(weights.to(self.context.dtype), self.context)
        if self.task_bias:
            return key, weights.to(self.weight.dtype) @ self.bias  # type: ignore[operator]
        return key, self.bias if weights.dim() == 1 else None

    def lifted(
        self,
        x: torch.Tensor,
        lift: torch.Tensor,
        task: torch.Tensor,
        coord: torch.Tensor | None = None,
        single: int | None = None,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The layer on ``x @ lift.T``: inputs through a fixed lifting ``R`` of shape ``(N, d)`` (the policies'
        features extractor lifts low-dimensional observations).

        Where the batch has one key -- one task, or ``(K,)`` mixing weights -- and the layer folds it
        (:meth:`with_key`), the lifting goes in too, ``((W diag c) R) x``: ``out·N·d`` products instead of
        ``B·N·(d + out)``. Otherwise ``R`` comes first. Equal to lifting first, to rounding; a one-hot ``α``
        computes what the task id computes, bit for bit.

        :param x: ``(B, d)`` inputs before the lifting
        :param lift: ``(N, d)`` the fixed lifting matrix (no gradient)
        :param task: ``(B,)`` integer task ids
        :param coord: ``(B,)`` coordinates (drifting context only)
        :param single: the task of every sample, when the batch has one
        :param weights: task weights instead of ids (see :meth:`mix`)
        """
        if self.drift is None and weights is not None and weights.dim() == 1:
            return self.with_key(x, *self._mixed(weights), lift=lift)
        if self.drift is None and weights is None and single is not None:
            return self.with_key(x, self.context[single], self._bias_row(single), lift=lift)
        x = x @ lift.T
        return self.compute(x, task, coord, single) if weights is None else self.mix(x, weights)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, num_tasks={self.num_tasks}, "
            f"context={self.kind.name}, task_bias={self.task_bias}, weight_multiplier={self.multiplier:g}"
        )
