"""Small helpers every room of psp_rl shares: "did you mean" hints, atomic file writes, and importing an
optional dependency with the install command in the error.

This module imports nothing beyond the standard library, so ``psp_rl.nn`` and ``psp_rl.envs`` can use
it without depending on each other.

Example::

    >>> did_you_mean("learning_rat", ["learning_rate", "gamma"])
    " Did you mean 'learning_rate'? Valid: gamma, learning_rate."
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "MissingExtraError",
    "did_you_mean",
    "require_extra",
    "unknown",
    "write_atomic",
    "write_json_atomic",
]


class MissingExtraError(ImportError, ValueError):
    """An optional dependency is not installed or does not import (also a ``ValueError``: a user error the
    CLI prints in one line)."""


def require_extra(module: str, extra: str, what: str) -> ModuleType:
    """Import an optional dependency or say which extra of psp-rl installs it.

    :param module: the module to import, e.g. ``"minigrid"`` or ``"ray.tune"``.
    :param extra: the psp-rl extra that installs it, e.g. ``"minigrid"``.
    :param what: what needs it, for the message (``"sweeps"``, ``"the suite 'cw10'"``).
    :return: the imported module.
    :raises MissingExtraError: naming ``pip install "psp-rl[<extra>]"``, also when the package is installed
        but fails to import (a broken dependency of it).
    """
    fix = f'pip install "psp-rl[{extra}]" (or pip install -e ".[{extra}]" in a checkout)'
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"{what} needs the package {module!r}, which is not installed ({error}): install it with {fix}."
        ) from error
    except Exception as error:  # installed but broken, e.g. a dependency of it that does not import
        first = (str(error).splitlines() or [type(error).__name__])[0]
        raise MissingExtraError(
            f"{what} needs the package {module!r}, which does not import ({type(error).__name__}: {first}): "
            f"reinstall it with {fix}."
        ) from error


def did_you_mean(name: Any, valid: Iterable[Any], *, list_valid: bool = True) -> str:
    """A hint for an error message: the closest valid name and, by default, every valid name.

    :param name: the name that was not found.
    :param valid: the valid names.
    :param list_valid: also list every valid name (sorted).
    :return: ``" Did you mean 'x'? Valid: a, b, x."`` (parts left out when empty).
    """
    options = sorted({str(v) for v in valid})
    match = difflib.get_close_matches(str(name), options, n=1, cutoff=0.4)
    hint = f" Did you mean {match[0]!r}?" if match else ""
    if list_valid:
        hint += f" Valid: {', '.join(options) if options else '(none)'}."
    return hint


def unknown(what: str, name: Any, valid: Iterable[Any]) -> ValueError:
    """The error for a name that is not one of ``valid``, with the closest one.

    :param what: what the name is, e.g. ``"policy_kwargs.context"``.
    :param name: the unknown name.
    :param valid: the valid names.
    :return: a ``ValueError`` to raise.
    """
    return ValueError(f"Unknown {what} {name!r}.{did_you_mean(name, valid)}")


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write a file so that readers see the old content or the new one, never a partial file.

    The data goes to a temporary file in the same folder, is flushed to disk, then renamed into place.

    :param path: the file to write.
    :param data: text (written as UTF-8) or bytes.
    :return: the path.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with tmp.open("wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """:func:`write_atomic` of ``json.dumps(data, indent=2)``.

    :param path: the file to write.
    :param data: a JSON-serialisable object.
    :return: the path.
    """
    return write_atomic(path, json.dumps(data, indent=2))
