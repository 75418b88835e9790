"""Per-sample task ids: their check, and products with one matrix per task (rotation keys, per-task
weights) for a batch that may mix tasks, without host synchronisation on accelerators.
"""

from __future__ import annotations

import torch

__all__ = [
    "ROTATION_CHUNK_ELEMENTS",
    "broadcast_rows",
    "check_task_ids",
    "grouped_matmul",
    "per_sample_matmul",
    "single_task",
]

# On accelerators, per-task matrices (rotation keys, per-task weights) are gathered per sample in chunks
# holding at most this many elements, so a batch never materialises a B × N × N tensor at once.
ROTATION_CHUNK_ELEMENTS = 1 << 22


# Integer dtypes a task id may have; the per-task parameters are indexed with int64/int32 ids only.
_INTEGER_DTYPES = tuple(
    getattr(torch, name)
    for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
    if hasattr(torch, name)
)
_INDEX_DTYPES = (torch.int64, torch.int32)


def check_task_ids(task: torch.Tensor, num_tasks: int, batch_size: int) -> torch.Tensor:
    """Check that ``task`` is a batch of ids in ``[0, num_tasks)`` and return them as index ids.

    Ids of any integer dtype are accepted; the range check runs on CPU tensors only (it would force a
    device synchronisation elsewhere). Floating-point and boolean ids are refused.

    :param task: ``(B,)`` integer task ids
    :param num_tasks: number of tasks ``K`` the layer holds
    :param batch_size: the batch size ``B`` of the inputs
    :return: the ids as ``int64`` (or ``int32``) tensor, which ``index_select`` takes
    :raises ValueError: naming ``K`` for an id out of range, or the fix for a wrong dtype or shape
    """
    if task.dtype not in _INTEGER_DTYPES:
        raise ValueError(
            f"task ids must be an integer tensor (one id in 0..{num_tasks - 1} per sample), got dtype "
            f"{task.dtype}: pass integer ids, e.g. torch.as_tensor(ids, dtype=torch.long)."
        )
    if task.shape != (batch_size,):
        raise ValueError(
            f"task ids must have shape ({batch_size},), one per sample; got {tuple(task.shape)}."
        )
    if task.device.type == "cpu" and task.numel() > 0:
        if task.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            low, high = int(task.min()), int(task.max())
        else:  # uint16/32/64 have no min/max kernels
            values = task.tolist()
            low, high = min(values), max(values)
        if low < 0 or high >= num_tasks:
            bad = low if low < 0 else high
            raise ValueError(
                f"task id {bad} is out of range: this network holds K={num_tasks} tasks, valid ids are "
                f"0..{num_tasks - 1}. Build the policy on an observation space whose 'task' is "
                f"Discrete(K) with K large enough."
            )
    return task if task.dtype in _INDEX_DTYPES else task.long()


def single_task(task: torch.Tensor) -> int | None:
    """The task of a batch whose samples all share one, read on the host where that is free.

    Layers compute a one-task batch with that task's key and bias as views instead of gathering them per
    sample (see :meth:`psp_rl.nn.layers.SuperposedLinear.compute`). On an accelerator the ids are not read
    (that would synchronise host and device) and the answer is ``None``, as for a mixed batch.

    :param task: ``(B,)`` checked task ids
    :return: the shared task id, or ``None`` (mixed tasks, an empty batch, ids on an accelerator)
    """
    if task.device.type != "cpu" or task.numel() == 0:
        return None
    low, high = torch.aminmax(task)
    first = int(low)
    return first if first == int(high) else None


def per_sample_matmul(
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
        return grouped_matmul(x, mats, task)
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


def grouped_matmul(x: torch.Tensor, mats: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
    """:func:`per_sample_matmul` as one product per task present: sort, multiply, unsort."""
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


def broadcast_rows(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Shape per-sample rows ``(B, D)`` to broadcast against ``x`` of shape ``(B, D)`` or ``(B, L, D)``."""
    return values if x.dim() == 2 else values.unsqueeze(1)
