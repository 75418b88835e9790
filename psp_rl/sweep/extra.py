"""The optional extra of sweeps: Ray Tune and rliable, checked before anything starts.

Example::

    from psp_rl.sweep.extra import require_sweep_extra

    require_sweep_extra()   # raises MissingExtraError naming `pip install "psp-rl[ray]"` without the extra
"""

from __future__ import annotations

from psp_rl.utils import require_extra

__all__ = ["require_sweep_extra"]


def require_sweep_extra() -> None:
    """Import what the sweep engine needs (``ray.tune``, ``rliable``).

    :raises MissingExtraError: (a ``ValueError``) in one line naming what is missing and
        ``pip install "psp-rl[ray]"``.
    """
    for module in ("ray.tune", "rliable.library"):
        require_extra(module, "ray", "sweeps")
