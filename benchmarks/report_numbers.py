"""The numbers of the report's tables: run ordering and grouping, mean ± std, forward transfer, mean
curves, and their text (table cells, markdown tables, figure links)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: agents in tables and plots: PSP first, then the baselines from the weakest to the upper bound
AGENT_ORDER = (
    "psp",
    "psp-binary",
    "psp-complex",
    "psp-rotation",
    "psp-nolift",
    "psp-taskin",
    "shared",
    "onehot",
    "multihead",
    "ewc",
    "separate",
)


def _agent_rank(agent: Any) -> tuple[int, str]:
    full = str(agent)
    name = full.split("@")[0]  # a label with overrides (psp-binary@lr=7.5e-5) sorts after its agent
    if name != full:
        rank, key = _agent_rank(name)
        return rank, f"{key}@{full}"
    if name in AGENT_ORDER:
        return AGENT_ORDER.index(name), name
    if name.startswith("ewc-"):
        return AGENT_ORDER.index("ewc"), f"{float(name[4:]):020.6f}" if name[4:].replace(
            ".", ""
        ).isdigit() else name
    return len(AGENT_ORDER), name


def _sorted_groups(groups: Mapping[tuple, Any], agent_index: int) -> list[tuple[tuple, Any]]:
    """Groups ordered by their other keys (as first seen) and then by :data:`AGENT_ORDER`."""
    firsts: dict[tuple, int] = {}
    for key in groups:
        firsts.setdefault(key[:agent_index] + key[agent_index + 1 :], len(firsts))
    return sorted(
        groups.items(),
        key=lambda kv: (
            firsts[kv[0][:agent_index] + kv[0][agent_index + 1 :]],
            _agent_rank(kv[0][agent_index]),
        ),
    )


def mean_std(values: Iterable[float | None]) -> tuple[float, float, int]:
    """Mean, standard deviation (population) and count of the values that are not ``None``/``nan``.

    :param values: the values.
    :return: ``(mean, std, n)``; ``(nan, nan, 0)`` when none is finite.

    Example::

        >>> mean_std([1.0, None, 3.0])
        (2.0, 1.0, 2)
    """
    finite = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not finite:
        return math.nan, math.nan, 0
    return float(np.mean(finite)), float(np.std(finite)), len(finite)


def _fmt(values: Iterable[float | None], digits: int = 3) -> str:
    mean, std, n = mean_std(values)
    if n == 0:
        return "n/a"
    return f"{mean:.{digits}f}" if n == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _fmt_int(values: Iterable[float | None]) -> str:
    mean, _, n = mean_std(values)
    return "n/a" if n == 0 else f"{int(round(mean)):,}"


def group_runs(
    runs: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> dict[tuple, list[Mapping[str, Any]]]:
    """Group runs by the values of ``keys``, in first-seen order.

    :param runs: run records.
    :param keys: record fields, e.g. ``("num_tasks", "width", "agent")``.
    :return: ``{(values...): [runs]}``.
    """
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for run in runs:
        groups.setdefault(tuple(run.get(k) for k in keys), []).append(run)
    return groups


def forward_transfer_of(run: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> float | None:
    """Mean forward transfer of a run against the ``separate`` runs of the same K and width.

    The reference of task ``j`` is the AUC of task ``j`` in the ``separate`` run of the same seed, or the
    mean over the ``separate`` seeds when that seed is missing. Tasks whose reference AUC is 1 are skipped.
    A label with overrides (``psp@lr=1.5e-4``) takes ``separate`` with the same overrides as its reference
    when the experiment has it, and plain ``separate`` otherwise.

    :param run: the run.
    :param runs: every run of the experiment.
    :return: the mean forward transfer, ``None`` without a reference or AUCs.
    """

    def references(agent: str) -> list[Mapping[str, Any]]:
        return [
            r
            for r in runs
            if r.get("agent") == agent
            and r.get("num_tasks") == run.get("num_tasks")
            and r.get("width") == run.get("width")
            and r.get("task_auc")
        ]

    overrides = str(run.get("agent", "")).partition("@")[2]
    refs = (references(f"separate@{overrides}") if overrides else []) or references("separate")
    if not refs or not run.get("task_auc"):
        return None
    same_seed = [r for r in refs if r.get("seed") == run.get("seed")]
    ref_runs = same_seed or refs
    k = len(run["task_auc"])
    values = []
    for j in range(k):
        ref_j = mean_std(r["task_auc"][j] for r in ref_runs if j < len(r["task_auc"]))[0]
        auc_j = run["task_auc"][j]
        if auc_j is None or math.isnan(ref_j) or ref_j >= 1.0:
            continue
        values.append((float(auc_j) - ref_j) / (1.0 - ref_j))
    return float(np.mean(values)) if values else None


def _mean_curve(runs: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, mean over seeds of the per-task normalized returns ``(S, K)``, and their std."""
    histories = [r["history"] for r in runs if r.get("history") and r["history"].get("step")]
    if not histories:
        return np.zeros(0), np.zeros((0, 0)), np.zeros((0, 0))
    length = min(len(h["step"]) for h in histories)
    steps = np.asarray(histories[0]["step"][:length], dtype=float)
    values = np.asarray([np.asarray(h["normalized"][:length], dtype=float) for h in histories])
    return steps, values.mean(axis=0), values.std(axis=0)


def _mean_matrix(runs: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
    mats = [np.asarray(r["perf_matrix"], dtype=float) for r in runs if r.get("perf_matrix")]
    if not mats:
        return None
    rows = min(m.shape[0] for m in mats)
    return np.mean([m[:rows] for m in mats], axis=0)


def _curve_auc(steps: np.ndarray, curve: np.ndarray) -> float:
    """Normalized area under a curve over its steps (trapezoids; the mean when it spans no steps)."""
    span = steps[-1] - steps[0]
    area = float(np.sum((steps[1:] - steps[:-1]) * (curve[1:] + curve[:-1]) / 2.0))
    return area / span if span > 0 else float(curve.mean())


def _ints(runs: Iterable[Mapping[str, Any]], field: str) -> list[int]:
    """The distinct values of an integer ``field`` over the runs that have it, sorted."""
    return sorted({int(r[field]) for r in runs if r.get(field) is not None})


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def _width(width: Any) -> str:
    """A width in tables and file names: ``preset`` for a preset's own ``net_arch`` (``None``)."""
    return "preset" if width is None else str(width)


def _combo_order(entry: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The (agent, K) pairs of an experiment: the protocol's ``combos`` first, then any other that ran."""
    order = [(str(c["agent"]), int(c["num_tasks"])) for c in entry.get("protocol", {}).get("combos") or []]
    seen = sorted(
        {(str(r.get("agent")), int(r["num_tasks"])) for r in entry.get("runs", []) if r.get("num_tasks")},
        key=lambda ak: (_agent_rank(ak[0]), ak[1]),
    )
    return order + [ak for ak in seen if ak not in order]


def _one(values: Sequence[Any]) -> str:
    return "n/a" if not values else str(values[0]) if len(values) == 1 else "/".join(map(str, values))


def _protocol_steps(entry: Mapping[str, Any], steps: Sequence[int]) -> bool:
    """Whether runs that trained ``steps`` (their distinct steps per task phase) ran the protocol's: its
    ``steps_per_task`` (none recorded: any), or -- at the full protocol of presets run as they are, where
    a preset's own ``steps_per_task`` wins (a2c-psp: 200k) -- one value.

    :param entry: the experiment's entry of the results file.
    :param steps: the sorted distinct ``steps_per_task`` of some of its runs.
    """
    protocol = (entry.get("protocol") or {}).get("steps_per_task")
    if protocol is None or list(steps) == [protocol]:
        return True
    return bool(entry.get("full_protocol")) and len(steps) == 1
