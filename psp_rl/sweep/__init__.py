"""Sweeps: grids of training runs on Ray Tune (``psp-rl sweep``), local by default, the same code on a
cluster.

- :mod:`~psp_rl.sweep.grid` — :class:`SweepSpec`, ``--grid`` items, the YAML sweep file, grid expansion;
- :mod:`~psp_rl.sweep.trial` — one run in its own folder (skip / resume / start), evaluation reports;
- :mod:`~psp_rl.sweep.engine` — Ray and the Tune trials, retries (imports Ray: the ``ray`` extra);
- :mod:`~psp_rl.sweep.summary` — mean, IQM and bootstrap intervals (rliable), the table and the plot;
- :mod:`~psp_rl.sweep.run` — :func:`run_sweep`: the sweep folder from start to summary;
- :mod:`~psp_rl.sweep.extra` — whether the extra is installed (``pip install "psp-rl[ray]"``).

Importing this package needs neither Ray nor rliable; running a sweep does.
"""

from psp_rl.sweep.extra import require_sweep_extra
from psp_rl.sweep.grid import SweepSpec, expand_grid, load_sweep_file, parse_grid_item
from psp_rl.sweep.run import SweepResult, run_sweep

__all__ = [
    "SweepResult",
    "SweepSpec",
    "expand_grid",
    "load_sweep_file",
    "require_sweep_extra",
    "parse_grid_item",
    "run_sweep",
]
