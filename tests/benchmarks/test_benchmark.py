"""The continual benchmark script: job lists, budgets and merging results files (nothing is trained)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("continual_bench", ROOT / "benchmarks" / "continual.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["continual_bench"] = module
    spec.loader.exec_module(module)
    return module


def test_capacity_jobs_use_the_diagonal_matrix(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    bench.main(["--experiment", "2", "--dry-run", "--no-report", "--out", str(out)])
    args = bench.argparse.Namespace(
        quick=False, seeds=None, steps_per_task=None, num_tasks=None, widths=None, agents=None,
        eval_episodes=None, ewc_lambda=1000.0,
    )  # fmt: skip
    spec = bench.experiment_spec("2", args)
    jobs = bench.make_jobs("2", spec, str(tmp_path))
    keys = {j["key"] for j in jobs}
    assert "2|psp-binary|K100|w256|s0" in keys and "2|psp-binary|K50|w64|s0" in keys
    assert "2|psp-binary|K100|w64|s0" not in keys  # width 64 stops at K = 50
    assert all("eval.matrix=diagonal" in j["sets"] for j in jobs)
    assert spec["full_protocol"]
    assert not out.exists()  # a dry run lists the runs and writes nothing


def test_experiment_1_agents_and_errors(bench: ModuleType) -> None:
    sets, ewc = bench._agent_sets("ewc-100", "ppo-psp", 64, 1000.0)
    assert ewc == 100.0 and "ewc.lambda=100.0" in sets and "policy_kwargs.mode=shared" in sets
    sets, ewc = bench._agent_sets("psp-complex", "ppo-psp", 256, 1000.0)
    assert ewc is None and "policy_kwargs.context=complex" in sets
    assert "policy_kwargs.net_arch={pi: [256, 256], vf: [256, 256]}" in sets
    sets, _ = bench._agent_sets("psp-binary@lr=7.5e-5@hyperparams.n_epochs=5", "ppo-psp", 64, 1000.0)
    assert sets[-2:] == ["hyperparams.learning_rate=7.5e-5", "hyperparams.n_epochs=5"]
    assert "policy_kwargs.context=binary" in sets
    with pytest.raises(ValueError, match="expected @KEY=VALUE"):
        bench._agent_sets("psp@lr", "ppo-psp", 64, 1000.0)
    with pytest.raises(ValueError, match="Unknown experiment '7'"):
        bench.experiment_spec("7", None)


def test_merge_results_by_run_key(bench: ModuleType, tmp_path: Path) -> None:
    def run(key: str, value: float) -> dict:
        return {"key": key, "avg_performance": value}

    mine = {"schema": 1, "overhead": None, "experiments": {
        "1": {"runs": [run("a", 0.1), run("b", 0.2)], "commands": ["c1"], "full_protocol": True, "kind": "continual"},
    }}  # fmt: skip
    other = {"schema": 1, "overhead": {"x": 1}, "experiments": {
        "1": {"runs": [run("b", 0.9), run("c", 0.3)], "commands": ["c1", "c2"], "full_protocol": False},
        "4": {"runs": [run("d", 0.5)], "commands": ["c4"], "full_protocol": True},
    }}  # fmt: skip
    bench.merge_results(mine, other)
    one = mine["experiments"]["1"]
    assert {r["key"]: r["avg_performance"] for r in one["runs"]} == {"a": 0.1, "b": 0.9, "c": 0.3}
    assert one["commands"] == ["c1", "c2"] and one["full_protocol"] is False and one["kind"] == "continual"
    assert mine["experiments"]["4"]["runs"] == [run("d", 0.5)] and mine["overhead"] == {"x": 1}

    # through the command line: --merge writes the merged file
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"schema": 1, "overhead": None, "experiments": {}}))
    b.write_text(json.dumps(other))
    bench.main(["--merge", str(b), "--out", str(a), "--no-report", "--render-only"])
    assert set(json.loads(a.read_text())["experiments"]) == {"1", "4"}
    with pytest.raises(FileNotFoundError, match="no such results file"):
        bench.main(["--merge", str(tmp_path / "missing.json"), "--out", str(a), "--no-report"])
