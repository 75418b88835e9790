"""Shared pytest configuration: expensive-test gating, CUDA skip, single-threaded torch, a local Ray
(for the sweep engine's tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-expensive", action="store_true", default=False, help="run tests marked `expensive`"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-expensive"):
        return
    skip = pytest.mark.skip(reason="expensive: run with --run-expensive")
    for item in items:
        if "expensive" in item.keywords:
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # pytest exits 5 when it collected no test: that must fail CI, never pass silently.
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _torch_single_thread() -> None:
    torch.set_num_threads(1)


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
