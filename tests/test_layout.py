"""The package's rooms and the direction of their dependencies (nn <- policies <- training <- cli;
envs stands alone), checked on the source's import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "psp_rl"
MAX_LINES = 450


def modules(room: str = "") -> list[Path]:
    return sorted((PACKAGE / room).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module an import statement of the file names (also imports inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offending(room: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in modules(room):
        bad = sorted(n for n in imported(path) if n.split(".")[0] in forbidden or n.startswith(forbidden))
        if bad:
            found[str(path.relative_to(PACKAGE))] = bad
    return found


def test_nn_imports_neither_sb3_nor_gymnasium() -> None:
    forbidden = ("stable_baselines3", "gymnasium", "psp_rl.envs", "psp_rl.policies", "psp_rl.training")
    assert offending("nn", forbidden) == {}


def test_envs_import_nothing_from_the_learning_side() -> None:
    assert offending("envs", ("psp_rl.nn", "psp_rl.policies", "psp_rl.training", "torch")) == {}


def test_policies_do_not_import_training() -> None:
    assert offending("policies", ("psp_rl.training", "psp_rl.envs", "psp_rl.cli")) == {}


@pytest.mark.parametrize("room", ["nn", "policies", "envs", "training", "inference"])
def test_only_sweep_imports_ray_and_nothing_imports_sweep(room: str) -> None:
    """psp_rl/sweep builds on training, never the reverse; Ray and rliable stay an optional extra."""
    assert offending(room, ("psp_rl.sweep", "ray", "rliable")) == {}


def test_the_check_itself_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from stable_baselines3.common import vec_env\n    import gymnasium\n")
    assert {"stable_baselines3.common", "gymnasium"} <= imported(source)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_is_short_and_says_its_job(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_LINES, f"{path.name} has {len(text.splitlines())} lines"
    doc = ast.get_docstring(ast.parse(text))
    assert doc and len(doc.split()) >= 5, f"{path.name} needs a docstring saying its one job"


def test_every_subpackage_is_shipped() -> None:
    """A subpackage missing from pyproject's list imports from a checkout but not after `pip install .`."""
    import tomllib

    listed = set(
        tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {".".join(init.parent.relative_to(PACKAGE.parent).parts) for init in PACKAGE.rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
