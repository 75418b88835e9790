"""Acting with folded weights: while a policy acts (SB3's evaluation mode, no gradients) its weights do not
change, so a superposed layer can keep each task's weight with the key folded in, ``W diag(c_k)`` (rotation
``W C_k``), and act in one task with one plain product per layer.

The kept weight is exactly the operand the layer would otherwise build for the same batch, so acting
gives the same numbers bit for bit with or without it:

* when the layer folds the key into the weight anyway (fewer outputs than the batch has rows), the fold
  (and a pending input lifting, ``(W diag c_k) R``) is kept, for every context kind;
* when the key goes onto the inputs, only binary keys are kept (``(c ⊙ x)`` and ``diag(c) W`` give the
  same products, signs being exact); the lifting is then applied to the inputs first, as without it.
  Complex and rotation keys on the inputs are computed as usual (folding would change the rounding).

A layer keeps a task's weight from its second call with unchanged parameters, so acting between every two
updates (off-policy training with ``train_freq=1``) folds nothing; the parameters' and keys' version
counters, the weight's storage and the weight multiplier tell when to rebuild. Policies switch this on for
their acting networks only (:meth:`psp_rl.policies.common.PSPPolicyMixin.set_training_mode`): SB3 moves
target networks through ``.data``, which version counters do not see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch

if TYPE_CHECKING:
    from psp_rl.nn.layers import SuperposedLinear

__all__ = ["ActingWeights"]


class ActingWeights:
    """The folded weights one :class:`~psp_rl.nn.layers.SuperposedLinear` keeps per task while acting."""

    def __init__(self) -> None:
        # (task, folded with the batch's rows) -> (stamp, weight or None (seen once), bias row, lifting)
        self._kept: dict[tuple[int, bool], tuple] = {}

    def tasks(self) -> set[int]:
        """The tasks with a kept folded weight."""
        return {task for (task, _), entry in self._kept.items() if entry[1] is not None}

    def weights(
        self, layer: SuperposedLinear, single: int, fold: bool, lift: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None] | None:
        """Task ``single``'s kept weight and bias row, or ``None`` when the caller computes as usual (the first
        call with these parameters, or keys on the inputs that are not binary).

        :param layer: the layer
        :param single: the task of every sample
        :param fold: whether the layer folds the key into the weight for this batch
        :param lift: a pending input lifting, folded in with the key when ``fold``
        """
        if not fold and layer.context_kind != "binary":
            return None
        weight = cast(torch.Tensor, layer._parameters["weight"])
        bias, keys = layer._parameters["bias"], cast(torch.Tensor, layer._buffers["context"])
        stamp = (
            weight._version,
            -1 if bias is None else bias._version,
            keys._version,
            weight.data_ptr(),
            layer.multiplier,
        )
        lift = lift if fold else None
        kept = self._kept.get((single, fold))
        if kept is None or kept[0] != stamp or kept[3] is not lift:
            self._kept[(single, fold)] = (stamp, None, None, lift)  # seen once with these parameters
            return None
        if kept[1] is None:  # the second call: build it as the layer would
            folded = layer.folded(layer.effective_weight(), keys[single], lift)
            row = bias[single] if bias is not None and layer.task_bias else bias
            kept = (stamp, folded, row, lift)
            self._kept[(single, fold)] = kept
        return kept[1], kept[2]
