"""psp_rl.utils: importing an optional dependency names the extra that installs it."""

from __future__ import annotations

import pytest


def test_a_broken_optional_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from psp_rl.utils import MissingExtraError, require_extra

    def broken(name: str, *args: object) -> object:
        raise AttributeError("module 'pandas' has no attribute 'x'\nmore")

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(
        MissingExtraError,
        match=r"does not import \(AttributeError: .*'x'\): reinstall it with pip install \"psp-rl\[ray\]\"",
    ):
        require_extra("rliable.library", "ray", "sweeps")
