"""The sweep tests' local Ray: 2 CPUs, started once per test module (skipped without the extra)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


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
