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
    learning = ("psp_rl.nn", "psp_rl.policies", "psp_rl.evaluation", "psp_rl.continual", "psp_rl.training")
    assert offending("envs", (*learning, "torch")) == {}


def test_evaluation_imports_neither_the_mechanisms_nor_training() -> None:
    assert offending("evaluation", ("psp_rl.continual", "psp_rl.training", "psp_rl.cli")) == {}


def test_continual_does_not_import_training() -> None:
    """The mechanisms work in plain SB3 code: nothing of the psp-rl train flow comes with them."""
    assert offending("continual", ("psp_rl.training", "psp_rl.cli")) == {}


def test_policies_do_not_import_training() -> None:
    assert offending("policies", ("psp_rl.training", "psp_rl.envs", "psp_rl.cli")) == {}


@pytest.mark.parametrize(
    "room", ["nn", "policies", "envs", "evaluation", "continual", "training", "inference"]
)
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


def _architecture_index() -> set[str]:
    """The module paths the tree in docs/architecture.md names (``psp_rl/nn/layers.py``): a line ending in
    ``/`` opens a room at its indentation, a ``name.py`` line is a module of the innermost room above it."""
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    found: set[str] = set()
    rooms: list[tuple[int, str]] = []
    for line in text.split("```")[1].splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        word = stripped.split()[0]
        while rooms and rooms[-1][0] >= indent:
            rooms.pop()
        if word.endswith("/"):
            rooms.append((indent, word))
        elif word.endswith(".py"):
            found.add("".join(room for _, room in rooms) + word)
    return found


@pytest.mark.parametrize(
    "path", [p for p in modules() if p.name != "__init__.py"], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_every_module_is_in_its_package_index_and_on_the_architecture_page(path: Path) -> None:
    """A package's docstring names each of its modules with its job; docs/architecture.md's tree too."""
    dotted = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    index = ast.get_docstring(ast.parse((path.parent / "__init__.py").read_text(encoding="utf-8"))) or ""
    assert f"{dotted}`" in index, (
        f"add {dotted} with its one job to {path.parent.name}/__init__.py's docstring"
    )
    page = str(path.relative_to(PACKAGE.parent))
    assert page in _architecture_index(), f"add {page} to the tree in docs/architecture.md"


def test_the_index_check_sees_a_missing_module() -> None:
    """The architecture-page parser finds nested modules (and so would miss an unlisted one)."""
    assert "psp_rl/nn/contexts.py" in _architecture_index()
    assert "psp_rl/nn/no_such_module.py" not in _architecture_index()
