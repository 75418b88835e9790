"""The lifelong-RL metrics of the MG10 protocol (Ben-Iwhiwhu et al., TMLR 2023; ``deep_rl/utils/trainer_ll.py``
of github.com/dlpbc/mask-lrl), from a run's evaluation history.

Every ``eval_interval`` training iterations the protocol evaluates every task; the *instant cumulative
return* (ICR) of that evaluation is the sum over tasks of the mean episode return, and the *total performance
over time* (TPOT) is the sum of the ICRs of every evaluation so far. The protocol's first evaluation comes
after its first ``eval_interval`` iterations, so the evaluation before any training (step 0) is not counted.

Example::

    >>> history = [{"step": 0, "returns": [0.0, 0.0]}, {"step": 10, "returns": [0.5, 0.0]},
    ...            {"step": 20, "returns": [0.9, 0.4]}]
    >>> icr_tpot(history)
    ([0.5, 1.3], 1.8)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["icr_tpot"]


def icr_tpot(
    history: Sequence[Mapping[str, Any]], every: int | None = None, key: str = "returns"
) -> tuple[list[float], float]:
    """ICR of every evaluation after step 0, and their sum (TPOT).

    :param history: evaluations in step order, each ``{"step": int, key: [one value per task]}`` (a run's
        ``metrics.json["eval_history"]``); an evaluation that left a task out (``None``/``nan``) is skipped,
        since the protocol evaluates every task every time.
    :param every: keep only evaluations at multiples of this many env steps (the protocol's interval, e.g.
        10240 = 20 iterations of 4 x 128 steps); ``None`` keeps every one after step 0.
    :param key: ``"returns"`` (raw mean returns, as the protocol sums) or ``"normalized"``.
    :return: ``(ICR per evaluation, TPOT)``.
    :raises ValueError: for a non-positive ``every``.
    """
    if every is not None and every <= 0:
        raise ValueError(f"every must be a positive number of env steps, got {every}.")
    icr: list[float] = []
    for entry in history:
        step = int(entry["step"])
        if step <= 0 or (every is not None and step % every != 0):
            continue
        values = entry[key]
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
            continue
        icr.append(float(sum(values)))
    return icr, float(sum(icr))
