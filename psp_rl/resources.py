"""Find and read the YAML presets shipped with psp_rl (task suites in ``envs/``, agents in ``agents/``).

Names resolve by file stem, so ``"cartpole-permuted"`` means ``envs/cartpole-permuted.yaml``. Folders are
searched in this order:

1. a path to an existing file, given directly;
2. ``psp_rl/presets/<folder>/`` (where a regular, non-editable ``pip install`` puts them);
3. ``<repository root>/<folder>/`` (a source checkout or an editable install).

Example::

    from psp_rl.resources import find_yaml, list_yaml, load_yaml

    sorted(list_yaml("envs"))                  # ['cartpole-actions', 'cartpole-permuted', ...]
    spec = load_yaml(find_yaml("envs", "cartpole-permuted"))
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

FOLDERS = ("envs", "agents")

_PACKAGE_DIR = Path(__file__).resolve().parent


def _check_folder(folder: str) -> None:
    if folder not in FOLDERS:
        raise ValueError(f"Unknown preset folder {folder!r}: use one of {list(FOLDERS)}.")


def search_dirs(folder: str) -> list[Path]:
    """The directories searched for presets of ``folder``, in priority order (existing ones only).

    :param folder: ``"envs"`` or ``"agents"``.
    :return: existing directories, highest priority first.
    """
    _check_folder(folder)
    candidates = [_PACKAGE_DIR / "presets" / folder, _PACKAGE_DIR.parent / folder]
    return [d for d in candidates if d.is_dir()]


def list_yaml(folder: str) -> dict[str, Path]:
    """All presets of a folder, by name (file stem). An earlier search directory wins on a clash.

    :param folder: ``"envs"`` or ``"agents"``.
    :return: mapping name -> path, sorted by name.
    """
    found: dict[str, Path] = {}
    for directory in search_dirs(folder):
        for path in sorted(directory.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def find_yaml(folder: str, name: str | Path) -> Path:
    """Resolve a preset name or a path to a YAML file.

    :param folder: ``"envs"`` or ``"agents"``.
    :param name: a file path, or a preset name (file stem, ``.yaml`` optional).
    :return: the path of the file.
    :raises ValueError: when nothing matches; the message lists the available names and the closest one.
    """
    _check_folder(folder)
    path = Path(name)
    if path.is_file():
        return path
    stem = path.name[: -len(".yaml")] if path.name.endswith(".yaml") else path.name
    available = list_yaml(folder)
    if stem in available and path.parent == Path("."):
        return available[stem]
    close = difflib.get_close_matches(stem, list(available), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"No {folder} preset named {str(name)!r} and no such file.{hint} "
        f"Available {folder} presets: {sorted(available) or '(none found)'}; "
        f"searched {[str(d) for d in search_dirs(folder)]}."
    )


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file with ``yaml.safe_load`` and check that it holds a mapping.

    :param path: the file.
    :return: the mapping (an empty file gives ``{}``).
    :raises ValueError: when the file is not valid YAML or its top level is not a mapping.
    """
    path = Path(path)
    try:
        with path.open("r", encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(
            f"{path} must hold a YAML mapping (key: value lines) at the top level, got {type(data).__name__}."
        )
    return data
