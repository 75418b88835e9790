"""Task-conditioned layers: every forward takes ``(x, task)`` with one task id per sample.

* :class:`SuperposedLinear` -- Parameter Superposition: ``W (c[task] ⊙ x) + b``.
* :class:`TaskLinear` -- independent weights per task (the ``separate`` and ``multihead`` baselines):
  ``W[task] x + b[task]``.

Their convolutions (the same maps over image patches) are in :mod:`psp_rl.nn.conv`.

A batch may mix tasks: each sample uses its own key (or weights), and the result equals running each
task alone. Forward passes never synchronise host and device (no ``.item()``, no loop over samples), so
they run unchanged on CUDA. Per-task matrices (rotation keys, per-task weights) are the one place where
the strategy depends on the device: on CPU one product per task present in the batch, elsewhere a
per-sample gather (see :func:`psp_rl.nn.pertask.per_sample_matmul`). Task ids are range-checked where that is free (CPU
tensors); on an accelerator the ids come from SB3's one-hot preprocessing of the ``Discrete`` task space,
which cannot produce an id outside ``[0, K)``.

Task mixing (task inference): :meth:`TaskLayer.mix` takes weights ``α`` over the ``K`` tasks instead
of ids, ``(K,)`` for the whole batch or ``(B, K)`` per sample, and computes with the mixed key
``Σ α_k c_k`` (rotation: ``Σ α_k R_k``) and mixed bias ``Σ α_k b_k``; a one-hot ``α`` gives the id path.

Complex context (pspComplex): weights are complex, ``c_k = exp(iφ)``, and a hidden layer returns a
complex tensor. Networks apply their nonlinearity to the real and imaginary parts separately
(split-complex activation, see :class:`psp_rl.nn.networks.SplitComplex`) and heads return the real part.

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

from psp_rl.nn.acting import ActingWeights
from psp_rl.nn.contexts import check_context_kind, make_context
from psp_rl.nn.drift import DriftingKeys
from psp_rl.nn.pertask import broadcast_rows, check_task_ids, per_sample_matmul, single_task


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


class TaskLayer(nn.Module):
    """Base of the task-conditioned layers: ``forward(x, task)``; knows its number of tasks.

    ``forward`` checks the task ids, then calls :meth:`compute`. A network that checked its task ids
    once for all its layers calls :meth:`compute` directly.
    """

    num_tasks: int

    def forward(self, x: torch.Tensor, task: torch.Tensor, coord: torch.Tensor | None = None) -> torch.Tensor:
        """:param x: inputs, batch first
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

        :param single: the task every sample has, when known (:func:`~psp_rl.nn.pertask.single_task`);
            ``None`` for a mixed batch or when not known. It picks the faster strategy, not the result.
        """
        raise NotImplementedError

    def mix(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The output with the tasks mixed by ``weights`` (``(K,)`` shared, or ``(B, K)``), not picked by id."""
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


class SuperposedLinear(TaskLayer):
    """A linear layer holding ``K`` superposed models: ``y = W (c[task] ⊙ x) + b``.

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
        id (``power``, ``geodesic``, ``interpolate``, ``binned``; see :mod:`psp_rl.nn.drift`); biases stay per task
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
        self.context_kind = check_context_kind(context)
        self.task_bias = task_bias and bias
        dtype = torch.complex64 if context == "complex" else torch.float32
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
        self._acting: ActingWeights | None = None  # folded weights per task while acting (set_acting)
        self.drift = (
            None
            if drift_context is None
            else DriftingKeys(drift_context, context, in_features, drift_keys, seed, layer_index)
        )
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

    def bind(self, x: torch.Tensor, task: torch.Tensor, coord: torch.Tensor | None = None) -> torch.Tensor:
        """Apply each sample's context key to ``x`` (``(B, N)`` or ``(B, L, N)``).

        :param x: inputs
        :param task: ``(B,)`` task ids
        :param coord: ``(B,)`` coordinates, needed (and used instead of ``task``) with a drifting context
        """
        if self.drift is not None:
            if coord is None:
                raise ValueError(
                    "this layer's keys follow a continuous coordinate (drift_context) but the batch has none: "
                    "the observation needs a 'coord' entry (a suite with coordinate: true)."
                )
            return self.drift.bind(x, coord)
        if self.context_kind == "rotation":
            return per_sample_matmul(x, self.context, task)
        return x * broadcast_rows(self.context.index_select(0, task), x)

    def compute(
        self,
        x: torch.Tensor,
        task: torch.Tensor,
        coord: torch.Tensor | None = None,
        single: int | None = None,
    ) -> torch.Tensor:
        """:param x: ``(B, N)`` or ``(B, L, N)`` inputs
        :param task: ``(B,)`` integer task ids
        :param coord: ``(B,)`` coordinates (drifting context only)
        :param single: the task of every sample, when the batch has one (see :meth:`TaskLayer.compute`)
        :return: ``(B, out)`` or ``(B, L, out)``; complex for the complex context
        """
        if single is not None and self.drift is None:  # one task: its key and bias are views, no gather
            return self.one_task(x, single)
        weight = self.effective_weight()
        bound = self.bind(x, task, coord).to(weight.dtype)
        rows = self.bias.index_select(0, task) if self.task_bias else None  # type: ignore[union-attr]
        return self._project(bound, weight, rows)

    def compute_lifted(
        self,
        x: torch.Tensor,
        lift: torch.Tensor,
        task: torch.Tensor,
        coord: torch.Tensor | None = None,
        single: int | None = None,
    ) -> torch.Tensor:
        """:meth:`compute` of ``x @ lift.T``: inputs through a fixed lifting ``R`` of shape ``(N, d)``.

        Where a one-task batch folds its key (:meth:`folds`) the lifting goes in too, ``((W diag c_k) R) x``
        (``out·N·d`` products instead of ``B·N·(d + out)``); else ``R`` comes first. Equal to rounding.

        :param x: ``(B, d)`` inputs before the lifting
        :param lift: ``(N, d)`` the fixed lifting matrix (no gradient)
        :param task: ``(B,)`` integer task ids
        :param coord: ``(B,)`` coordinates (drifting context only)
        :param single: the task of every sample, when the batch has one
        """
        if single is None or self.drift is not None:
            return self.compute(x @ lift.T, task, coord, single)
        return self.one_task(x, single, lift)

    def one_task(self, x: torch.Tensor, single: int, lift: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`compute` of a batch of the one (valid) task ``single``: its key and bias as views, no checks,
        parameters read from the module's dictionaries (every update and every acting step of continual
        training goes here); while acting (:meth:`set_acting`) with a kept folded weight. Not for a drifting context.

        :param x: ``(B, N)`` or ``(B, L, N)`` inputs (``(B, d)`` before the lifting when ``lift`` is given)
        :param single: the task id of every sample
        :param lift: ``(N, d)`` a fixed lifting still to apply (see :meth:`compute_lifted`)
        """
        if self._acting is not None and not torch.is_grad_enabled():
            fold = self.folds(x)
            kept = self._acting.weights(self, single, fold, lift)
            if kept is not None:
                x = x @ lift.T if lift is not None and not fold else x
                return F.linear(x if x.dtype == kept[0].dtype else x.to(kept[0].dtype), *kept)
        bias: torch.Tensor | None = self._parameters["bias"]
        if bias is not None and self.task_bias:
            bias = bias[single]
        key = cast(torch.Tensor, self._buffers["context"])[single]
        return self._with_key(x, key, bias, self.effective_weight(), lift)

    def set_acting(self, enabled: bool) -> None:
        """:param enabled: keep the folded weights of the tasks acted in (:class:`~psp_rl.nn.acting.ActingWeights`;
        again ``True`` keeps what is kept), or stop and drop them"""
        if not enabled:
            self._acting = None
        elif self._acting is None:
            self._acting = ActingWeights()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_acting"] = None  # a copy (e.g. a target network made by deepcopy) keeps no folded weights
        return state

    def mix_lifted(self, x: torch.Tensor, lift: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """:meth:`mix` of ``x @ lift.T``, folding the lifting in as :meth:`compute_lifted` does, so that a
        one-hot ``(K,)`` ``α`` still computes what the id path computes, bit for bit.

        :param x: ``(B, d)`` inputs before the lifting
        :param lift: ``(N, d)`` the fixed lifting matrix
        :param weights: ``(K,)`` or ``(B, K)`` real task weights
        """
        if weights.dim() != 1 or self.drift is not None:
            return self.mix(x @ lift.T, weights)
        return self._with_key(x, *self._mixed_key(weights), self.effective_weight(), lift)

    def _with_key(
        self,
        x: torch.Tensor,
        key: torch.Tensor,
        bias: torch.Tensor | None,
        weight: torch.Tensor,
        lift: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``W (key ⊙ x) + b`` (rotation ``W key x + b``) with one key and bias for the batch: the key (and a
        pending lifting, :meth:`compute_lifted`) folded into the weight where :meth:`folds`, else onto the
        inputs. Binary keys give the same bits either way; complex and rotation keys agree to rounding."""
        dtype = weight.dtype
        if self.folds(x):
            return F.linear(x if x.dtype == dtype else x.to(dtype), self.folded(weight, key, lift), bias)
        if lift is not None:
            x = x @ lift.T
        bound = x @ key.T if self.context_kind == "rotation" else x * key
        return F.linear(bound if bound.dtype == dtype else bound.to(dtype), weight, bias)

    def folds(self, x: torch.Tensor) -> bool:
        """Whether one key for the batch ``x`` goes into the weight, ``(W diag key) x``: when the layer has fewer
        outputs than ``x`` has rows (``out·N`` products instead of ``B·N``, no second one for the input gradient)."""
        return self.out_features < x.shape[:-1].numel()

    def folded(self, weight: torch.Tensor, key: torch.Tensor, lift: torch.Tensor | None) -> torch.Tensor:
        """The folded weight ``W diag(key)`` (rotation ``W key``), times a pending lifting ``R`` if any."""
        folded = weight @ key.to(weight.dtype) if self.context_kind == "rotation" else weight * key
        return folded if lift is None else folded @ lift.to(folded.dtype)

    def _mixed_key(self, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The key ``Σ α_k c_k`` (rotation ``Σ α_k C_k``) and bias ``Σ α_k b_k`` of ``(K,)`` weights."""
        alpha, keys = weights.to(self.context.dtype), self.context
        key = torch.einsum("k,kmn->mn", alpha, keys) if self.context_kind == "rotation" else alpha @ keys
        return key, (weights.to(self.weight.dtype) @ self.bias if self.task_bias else self.bias)  # type: ignore[operator]

    def _project(self, bound: torch.Tensor, weight: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        """``W x + b`` for keyed inputs, with one bias row per sample (``rows``) or the shared bias."""
        if rows is None:
            return F.linear(bound, weight, self.bias)
        if bound.dim() == 2:
            return torch.addmm(rows, bound, weight.T)  # one fused kernel
        return F.linear(bound, weight) + rows.unsqueeze(1)

    def mix(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """:meth:`compute` with key ``Σ α_k c_k`` (rotation ``Σ α_k R_k``) and bias ``Σ α_k b_k``; with ``(K,)``
        weights a one-hot ``α`` reproduces :meth:`compute` bit for bit (the same products).

        :param x: ``(B, N)`` or ``(B, L, N)`` inputs
        :param weights: ``(K,)`` or ``(B, K)`` real task weights (may require grad)
        """
        if self.drift is not None:
            raise ValueError("a drifting context picks its keys by coordinate: it cannot mix task ids.")
        keys, weight = self.context, self.effective_weight()
        alpha = weights.to(keys.dtype)
        if alpha.dim() == 1:  # one mixed key and bias for the whole batch: the one-task computation
            return self._with_key(x, *self._mixed_key(weights), weight)
        if self.context_kind != "rotation":
            bound = x * broadcast_rows(alpha @ keys, x)
        else:
            bound = torch.einsum("bmn,b...n->b...m", torch.einsum("bk,kmn->bmn", alpha, keys).to(x.dtype), x)
        rows = weights.to(weight.dtype) @ self.bias if self.task_bias else None  # type: ignore[operator]
        return self._project(bound.to(weight.dtype), weight, rows)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, num_tasks={self.num_tasks}, "
            f"context={self.context_kind}, task_bias={self.task_bias}, weight_multiplier={self.multiplier:g}"
        )


class TaskLinear(TaskLayer):
    """A linear layer with independent weights per task: ``y = W[task] x + b[task]``.

    The building block of the ``separate`` (every layer) and ``multihead`` (output layers) baselines.

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
            for k in range(self.num_tasks):
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
        """:param x: ``(B, N)`` or ``(B, L, N)`` inputs
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
        """``Σ α_k (W_k x + b_k)``: the tasks' outputs mixed by ``weights`` (``(K,)`` or ``(B, K)``)."""
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
