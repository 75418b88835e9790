"""Task-conditioned layers: every forward takes ``(x, task)`` with one task id per sample.

* :class:`SuperposedLinear` / :class:`SuperposedConv2d` -- Parameter Superposition: ``W (c[task] ⊙ x) + b``.
* :class:`TaskLinear` / :class:`TaskConv2d` -- independent weights per task (the ``separate`` and
  ``multihead`` baselines): ``W[task] x + b[task]``.

A batch may mix tasks: each sample uses its own key (or weights), and the result equals running each
task alone. Forward passes never synchronise host and device (no ``.item()``, no loop over samples), so
they run unchanged on CUDA. Per-task matrices (rotation keys, per-task weights) are the one place where
the strategy depends on the device: on CPU one product per task present in the batch, elsewhere a
per-sample gather (see :func:`_per_sample_matmul`). Task ids are range-checked where that is free (CPU
tensors); on an accelerator the ids come from SB3's one-hot preprocessing of the ``Discrete`` task space,
which cannot produce an id outside ``[0, K)``.

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

import torch
import torch.nn.functional as F
from torch import nn

from psp_rl.nn.contexts import check_context_kind, make_context

# On accelerators, per-task matrices (rotation keys, per-task weights) are gathered per sample in chunks
# holding at most this many elements, so a batch never materialises a B × N × N tensor at once.
ROTATION_CHUNK_ELEMENTS = 1 << 22


def check_task_ids(task: torch.Tensor, num_tasks: int, batch_size: int) -> None:
    """Raise a ``ValueError`` if ``task`` is not a batch of ids in ``[0, num_tasks)``.

    The range check runs on CPU tensors only (it would force a device synchronisation elsewhere).

    :param task: ``(B,)`` integer task ids
    :param num_tasks: number of tasks ``K`` the layer holds
    :param batch_size: the batch size ``B`` of the inputs
    """
    if task.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f"task ids must be an integer tensor, got dtype {task.dtype}.")
    if task.shape != (batch_size,):
        raise ValueError(
            f"task ids must have shape ({batch_size},), one per sample; got {tuple(task.shape)}."
        )
    if task.device.type == "cpu" and task.numel() > 0:
        low, high = int(task.min()), int(task.max())
        if low < 0 or high >= num_tasks:
            bad = low if low < 0 else high
            raise ValueError(
                f"task id {bad} is out of range: this network holds K={num_tasks} tasks, valid ids are "
                f"0..{num_tasks - 1}. Build the policy on an observation space whose 'task' is "
                f"Discrete(K) with K large enough."
            )


def _per_sample_matmul(
    x: torch.Tensor, mats: torch.Tensor, task: torch.Tensor, grouped: bool | None = None
) -> torch.Tensor:
    """``y[b] = x[b] @ mats[task[b]].T`` for ``x`` of shape ``(B, N)`` or ``(B, L, N)``.

    Two equivalent strategies:

    * grouped (the default for CPU task ids): one matrix product per task present in the batch. A
      batch from one task -- every continual-learning update and evaluation -- costs a single
      ``(B, N) @ (N, N)`` product. Grouping reads the task ids on the host, which is free on CPU.
    * gathered (the default elsewhere): ``mats[task]`` is gathered per sample, in chunks bounded by
      :data:`ROTATION_CHUNK_ELEMENTS`, and multiplied with one batched product; no host
      synchronisation, so it suits accelerators.

    :param x: inputs
    :param mats: ``(K, M, N)`` one matrix per task
    :param task: ``(B,)`` task ids
    :param grouped: force a strategy; ``None`` picks by the device of ``task``
    """
    if grouped is None:
        grouped = task.device.type == "cpu"
    if grouped:
        return _grouped_matmul(x, mats, task)
    squeeze = x.dim() == 2
    x3 = x.unsqueeze(1) if squeeze else x
    per_sample = mats.shape[-1] * mats.shape[-2]
    chunk = max(1, ROTATION_CHUNK_ELEMENTS // per_sample)
    outs = []
    for start in range(0, max(1, x3.shape[0]), chunk):  # an empty batch still yields one (empty) product
        m = mats.index_select(0, task[start : start + chunk])
        outs.append(torch.bmm(x3[start : start + chunk], m.transpose(1, 2).to(x3.dtype)))
    y = outs[0] if len(outs) == 1 else torch.cat(outs)
    return y.squeeze(1) if squeeze else y


def _grouped_matmul(x: torch.Tensor, mats: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
    """:func:`_per_sample_matmul` as one product per task present: sort, multiply, unsort."""
    counts = torch.bincount(task, minlength=mats.shape[0])
    present = counts.nonzero().flatten().tolist()
    if len(present) <= 1:  # one task (or an empty batch): a single product
        return x @ mats[present[0] if present else 0].T.to(x.dtype)
    order = torch.argsort(task, stable=True)
    pieces = x.index_select(0, order).split(counts[present].tolist())
    # One gather and an unbind: their backward writes each task's gradient once, where indexing
    # ``mats[k]`` per task would allocate a full ``(K, M, N)`` gradient for every task present.
    used = mats.index_select(0, torch.tensor(present, device=mats.device)).unbind(0)
    y = torch.cat([piece @ m.T.to(x.dtype) for piece, m in zip(pieces, used)])
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order), device=order.device)
    return y.index_select(0, inverse)


def _broadcast_rows(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Shape per-sample rows ``(B, D)`` to broadcast against ``x`` of shape ``(B, D)`` or ``(B, L, D)``."""
    return values if x.dim() == 2 else values.unsqueeze(1)


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

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """:param x: inputs, batch first
        :param task: ``(B,)`` integer task ids in ``[0, K)``
        """
        check_task_ids(task, self.num_tasks, x.shape[0])
        return self.compute(x, task)

    def compute(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """The layer's output for task ids already known to be valid."""
        raise NotImplementedError

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
    """

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
        self.reset_parameters()

    def reset_parameters(self, gain: float | None = None) -> None:  # noqa: D102
        with torch.no_grad():
            if gain is None:
                # nn.Linear's default (kaiming-uniform with a=sqrt(5)) is uniform(-bound, bound); a
                # complex weight draws both parts with the bound scaled by 1/sqrt(2) (same magnitude).
                bound = 1.0 / math.sqrt(self.in_features)
                if self.weight.is_complex():
                    self.weight.real.uniform_(-bound / math.sqrt(2.0), bound / math.sqrt(2.0))
                    self.weight.imag.uniform_(-bound / math.sqrt(2.0), bound / math.sqrt(2.0))
                else:
                    self.weight.uniform_(-bound, bound)
                if self.bias is not None:
                    self.bias.zero_()
                    self.bias.real.uniform_(-bound, bound)
            else:
                _orthogonal_(self.weight, gain)
                if self.bias is not None:
                    self.bias.zero_()

    def bind(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """Apply each sample's context key to ``x`` (``(B, N)`` or ``(B, L, N)``).

        :param x: inputs
        :param task: ``(B,)`` task ids
        """
        if self.context_kind == "rotation":
            return _per_sample_matmul(x, self.context, task)
        return x * _broadcast_rows(self.context.index_select(0, task), x)

    def compute(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """:param x: ``(B, N)`` or ``(B, L, N)`` inputs
        :param task: ``(B,)`` integer task ids
        :return: ``(B, out)`` or ``(B, L, out)``; complex for the complex context
        """
        bound = self.bind(x, task).to(self.weight.dtype)
        if not self.task_bias:
            return F.linear(bound, self.weight, self.bias)
        rows = self.bias.index_select(0, task)  # type: ignore[union-attr]
        if bound.dim() == 2:
            return torch.addmm(rows, bound, self.weight.T)  # one fused kernel
        return F.linear(bound, self.weight) + rows.unsqueeze(1)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, num_tasks={self.num_tasks}, "
            f"context={self.context_kind}, task_bias={self.task_bias}"
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

    def compute(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """:param x: ``(B, N)`` or ``(B, L, N)`` inputs
        :param task: ``(B,)`` integer task ids
        """
        y = _per_sample_matmul(x, self.weight, task)
        if self.bias is None:
            return y
        return y + _broadcast_rows(self.bias.index_select(0, task), y)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, num_tasks={self.num_tasks}"


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

    def compute(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """:param x: ``(B, C, H, W)`` images
        :param task: ``(B,)`` integer task ids
        :return: ``(B, out_channels, H', W')``
        """
        h, w = self.output_shape(x.shape[-2], x.shape[-1])
        y = self.linear.compute(_unfold(x, self.kernel_size, self.stride, self.padding), task)  # (B, L, out)
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
