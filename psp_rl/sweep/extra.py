"""The optional extra of sweeps: whether Ray Tune and rliable import, and the one-line fix when not.

Example::

    from psp_rl.sweep.extra import missing_extra

    problem = missing_extra()   # None when `pip install "psp-rl[ray]"` is done
"""

from __future__ import annotations

import importlib

__all__ = ["INSTALL_HINT", "missing_extra"]

INSTALL_HINT = 'pip install "psp-rl[ray]"'


def missing_extra() -> str | None:
    """Try the imports the sweep engine needs (``ray.tune``, ``rliable``).

    :return: ``None`` when they work, else one line naming what is missing and the install command.
    """
    for module, what in (("ray.tune", "Ray Tune"), ("rliable.library", "rliable")):
        try:
            importlib.import_module(module)
        except ImportError:
            return f"sweeps need the optional extra 'ray' ({what} is not installed): {INSTALL_HINT}"
        except Exception as error:  # an installed but broken dependency (e.g. arch with pandas 3)
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            return f"{what} does not import ({type(error).__name__}: {first}): {INSTALL_HINT} again"
    return None
