"""The benchmark scripts import their siblings by name (``from report import render``), as when run
from ``benchmarks/``: put that folder on the import path for these tests. And a local Ray for the runs
on the sweep engine."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """A local Ray with 2 CPUs for the module's tests (skipped without the ``ray`` extra)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    pytest.importorskip("rliable.library")
    from psp_rl.sweep.engine import start_ray

    started = start_ray(workers=2)
    yield ray
    if started:
        ray.shutdown()
