"""The benchmark scripts import their siblings by name (``from report import render``), as when run
from ``benchmarks/``: put that folder on the import path for these tests."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
