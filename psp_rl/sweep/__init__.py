"""Sweeps: grids of training runs on Ray Tune (``psp-rl sweep``), local by default, the same code on a
cluster.

- :mod:`~psp_rl.sweep.grid` — :class:`SweepSpec`, ``--grid`` items, the YAML sweep file, grid expansion;
- :mod:`~psp_rl.sweep.trial` — one run in its own folder (skip / resume / start), evaluation reports;
- :mod:`~psp_rl.sweep.engine` — Ray and the Tune trials, retries (imports Ray: the ``ray`` extra);
- :mod:`~psp_rl.sweep.summary` — mean, IQM and bootstrap intervals (rliable), the table and the plot;
- :mod:`~psp_rl.sweep.run` — :func:`run_sweep`: the sweep folder from start to summary;
- :mod:`~psp_rl.sweep.extra` — whether the extra is installed (``pip install "psp-rl[ray]"``);
- :mod:`~psp_rl.sweep.space` — the search space of ``psp-rl tune``: defaults per algorithm, the YAML file;
- :mod:`~psp_rl.sweep.tune` — :func:`run_tune`: TPE search (Optuna) with early stopping on Ray Tune;
- :mod:`~psp_rl.sweep.tune_output` — the tune's ``best.yaml`` preset and its plot of the trials;
- :mod:`~psp_rl.sweep.tune_cli` — the options of ``psp-rl tune`` and the command.

Importing this package needs neither Ray nor rliable; running a sweep does. Its names load on first use
(so that ``psp-rl``'s parser, which imports :mod:`~psp_rl.sweep.tune_cli`, stays light).
"""

import importlib
from typing import Any

_HOMES = {
    "SweepResult": "run",
    "SweepSpec": "grid",
    "expand_grid": "grid",
    "load_sweep_file": "grid",
    "parse_grid_item": "grid",
    "require_sweep_extra": "extra",
    "run_sweep": "run",
    "TuneSpec": "tune",
    "run_tune": "tune",
}

__all__ = [
    "SweepResult",
    "SweepSpec",
    "expand_grid",
    "load_sweep_file",
    "require_sweep_extra",
    "parse_grid_item",
    "run_sweep",
    "run_tune",
    "TuneSpec",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'psp_rl.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(f"psp_rl.sweep.{_HOMES[name]}"), name)
