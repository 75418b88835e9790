"""The heat map of a performance matrix (rows = phases, columns = tasks), drawn with matplotlib."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def matrix_figure(
    R: np.ndarray | None, num_tasks: int, phase_labels: Sequence[str], title: str | None, annotate_max: int
) -> Any:
    """Draw ``R`` as a heat map; matrices up to ``annotate_max`` tasks and phases get one labelled,
    annotated cell per entry, larger ones (K = 50, 100) keep a bounded size.

    :param R: the matrix, ``(phases, tasks)``, ``nan`` where not measured; ``None`` while empty.
    :param num_tasks: number of tasks (columns).
    :param phase_labels: one label per row.
    :param title: figure title (default: a description of ``R``).
    :param annotate_max: the largest size drawn with labelled cells.
    :return: a ``matplotlib.figure.Figure`` (not attached to pyplot; nothing to close).
    """
    from matplotlib.figure import Figure

    phases = len(phase_labels)
    small = num_tasks <= annotate_max and phases <= annotate_max
    width = 1.2 + 0.9 * min(num_tasks, annotate_max)
    height = 1.2 + 0.7 * min(phases, annotate_max)
    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    data = R if R is not None else np.full((1, num_tasks), np.nan)
    image = ax.imshow(data, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    if small:
        if R is not None:
            for i in range(R.shape[0]):
                for j in range(num_tasks):
                    value = R[i, j]
                    if not math.isnan(value):
                        color = "black" if value > 0.6 else "white"
                        ax.text(j, i, f"{value:.2f}", ha="center", va="center", color=color, fontsize=8)
        ax.set_xticks(range(num_tasks), labels=[str(k) for k in range(num_tasks)])
        ax.set_yticks(range(phases), labels=list(phase_labels))
    ax.set_xlabel("evaluated task j")
    ax.set_ylabel("after phase i")
    ax.set_title(title or "performance matrix R[i, j] (normalized)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig
