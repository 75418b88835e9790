"""The continual benchmark script: job lists, budgets, the results file of partial invocations (nothing is
trained here), and its runs on the sweep engine (two tiny runs on a local Ray)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from agent_labels import _agent_sets
from experiments import experiment_spec
from jobs import job_config, make_jobs
from results_file import _experiment_entry, record_run

from psp_rl.training import load_preset

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
    args = argparse.Namespace(
        quick=False,
        seeds=None,
        steps_per_task=None,
        num_tasks=None,
        widths=None,
        agents=None,
        eval_episodes=None,
        ewc_lambda=1000.0,
    )
    spec = experiment_spec("2", args)
    jobs = make_jobs("2", spec, str(tmp_path))
    keys = {j["key"] for j in jobs}
    assert "2|psp-binary|K100|w256|s0" in keys and "2|psp-binary|K50|w64|s0" in keys
    assert "2|psp-binary|K100|w64|s0" not in keys  # width 64 stops at K = 50
    assert all("eval.matrix=diagonal" in j["sets"] for j in jobs)
    assert spec["full_protocol"]
    assert not out.exists()  # a dry run lists the runs and writes nothing


def test_experiment_1_agents_and_errors() -> None:
    sets, ewc = _agent_sets("ewc-100", "ppo-psp", 64, 1000.0)
    assert ewc == 100.0 and "ewc.lambda=100.0" in sets and "policy_kwargs.mode=shared" in sets
    sets, ewc = _agent_sets("psp-complex", "ppo-psp", 256, 1000.0)
    assert ewc is None and "policy_kwargs.context=complex" in sets
    assert "policy_kwargs.net_arch={pi: [256, 256], vf: [256, 256]}" in sets
    sets, _ = _agent_sets("psp-binary@lr=7.5e-5@hyperparams.n_epochs=5", "ppo-psp", 64, 1000.0)
    assert sets[-2:] == ["hyperparams.learning_rate=7.5e-5", "hyperparams.n_epochs=5"]
    assert "policy_kwargs.context=binary" in sets
    with pytest.raises(ValueError, match="expected @KEY=VALUE"):
        _agent_sets("psp@lr", "ppo-psp", 64, 1000.0)
    with pytest.raises(ValueError, match="Unknown experiment '9'"):
        experiment_spec("9", None)


def test_partial_invocations_add_up_in_one_results_file(bench: ModuleType, tmp_path: Path) -> None:
    """Invocations that each run part of an experiment write into the same --out: the budget lists what
    all of them ran, and the entry is the full protocol once its runs cover it at one budget."""
    protocol = {"steps_per_task": 10, "seeds": [0, 1], "presets": ["a", "b"]}

    def invocation(results: dict, presets: list[str], seeds: list[int], steps: int = 10) -> dict:
        spec = {
            "kind": "single",
            "protocol": protocol,
            "full_protocol": False,
            "steps_per_task": steps,
            "seeds": seeds,
            "presets": presets,
            "evals_per_phase": 0,
        }
        _experiment_entry(results, "7", spec, f"run {presets} {seeds} {steps}")
        for preset in presets:
            for seed in seeds:
                record_run(
                    results, {"key": f"{preset}{seed}", "experiment": "7", "preset": preset, "seed": seed}
                )
        return results["experiments"]["7"]

    results: dict = {"experiments": {}}
    assert invocation(results, ["a"], [0, 1])["full_protocol"] is False
    entry = invocation(results, ["b"], [0])  # b without seed 1: not the whole protocol
    assert entry["budget"]["presets"] == ["a", "b"] and entry["budget"]["seeds"] == [0, 1]
    assert entry["full_protocol"] is False
    entry = invocation(results, ["b"], [1, 0])  # b0 again: replaced, not doubled
    assert entry["full_protocol"] is True and len(entry["runs"]) == 4 and len(entry["commands"]) == 3
    mixed: dict = {"experiments": {}}
    invocation(mixed, ["a"], [0, 1], steps=5)  # a part at a smaller budget: never the full protocol
    assert invocation(mixed, ["b"], [0, 1])["full_protocol"] is False

    # an experiment of explicit combos is whole when every (agent, K, seed) of them ran
    combos = [{"agent": "p", "num_tasks": 5, "seeds": [0, 1]}, {"agent": "q", "num_tasks": 5, "seeds": [0]}]
    plan = {"steps_per_task": 10, "seeds": [0, 1], "num_tasks": [5], "agents": ["p", "q"], "combos": combos}
    eight: dict = {"experiments": {}}
    for agent, seeds in (("p", [0, 1]), ("q", [0])):
        spec = {
            **plan,
            "agents": [agent],
            "seeds": seeds,
            "protocol": plan,
            "full_protocol": False,
            "evals_per_phase": 0,
        }
        _experiment_entry(eight, "8", spec, "run")
        for seed in seeds:
            record_run(
                eight,
                {"key": f"{agent}{seed}", "experiment": "8", "agent": agent, "num_tasks": 5, "seed": seed},
            )
    assert eight["experiments"]["8"]["full_protocol"] is True

    a = tmp_path / "a.json"
    a.write_text(json.dumps({"schema": 1, "overhead": None, "experiments": {}}))
    with pytest.raises(SystemExit):  # --merge is gone: one engine writes one file
        bench.main(["--merge", str(a), "--out", str(a), "--no-report"])
    with pytest.raises(FileNotFoundError, match="no such notes file"):
        bench.main(
            [
                "--render-only",
                "--out",
                str(a),
                "--notes",
                str(tmp_path / "nope.json"),
                "--report",
                str(tmp_path / "r.md"),
                "--fig-dir",
                str(tmp_path / "f"),
            ]
        )


def namespace(**overrides: object) -> argparse.Namespace:
    """The parsed command line of ``continual.py`` with ``overrides``."""
    args = dict(
        quick=False,
        seeds=None,
        steps_per_task=None,
        num_tasks=None,
        widths=None,
        agents=None,
        eval_episodes=None,
        presets=None,
        ewc_lambda=1000.0,
    )
    args.update(overrides)
    return argparse.Namespace(**args)


def test_experiment_7_single_variant_jobs(bench: ModuleType, tmp_path: Path) -> None:
    """Every preset, as is and with SB3's MultiInputPolicy, K = 1, 3 seeds; every config validates."""
    out = tmp_path / "r.json"
    bench.main(["--experiment", "7", "--dry-run", "--no-report", "--out", str(out)])
    assert not out.exists()
    spec = experiment_spec("7", namespace())
    assert spec["full_protocol"] and spec["kind"] == "single"
    jobs = make_jobs("7", spec, str(tmp_path))
    presets = ["ppo-psp", "a2c-psp", "dqn-psp", "sac-psp", "td3-psp"]
    assert len(jobs) == len(presets) * 2 * 3
    assert {j["key"] for j in jobs} == {
        f"7|{p}|{a}|K1|wpreset|s{s}" for p in presets for a in ("psp", "sb3") for s in (0, 1, 2)
    }
    steps = {"ppo-psp": 50_000, "a2c-psp": 200_000, "dqn-psp": 50_000, "sac-psp": 15_000, "td3-psp": 15_000}
    for job in jobs:
        suite = "pendulum-permuted" if job["preset"] in ("sac-psp", "td3-psp") else "cartpole-permuted"
        assert job["suite"] == suite and job["num_tasks"] == 1
        assert job["steps_per_task"] == steps[job["preset"]]
        assert f"eval.eval_freq={steps[job['preset']] // 10}" in job["sets"]  # 10 evaluations + step 0
        cfg = job_config(job)  # validation accepts the SB3 policy and its arguments
        preset_kwargs = job["preset_data"]["policy_kwargs"]
        assert cfg.hyperparams == job["preset_data"]["hyperparams"]
        assert cfg.num_tasks == 1 and cfg.suite == suite
        if job["agent"] == "sb3":
            assert cfg.policy == "MultiInputPolicy"
            assert cfg.policy_kwargs == {
                "net_arch": preset_kwargs["net_arch"],
                "activation_fn": preset_kwargs["activation_fn"],
            }
        else:
            assert cfg.policy == "psp" and cfg.policy_kwargs["context"] == "binary"
            assert cfg.policy_kwargs["net_arch"] == preset_kwargs["net_arch"]

    # --quick: fewer steps, two seeds (a spread for the verdict); --presets and --widths narrow it down
    quick = experiment_spec("7", namespace(quick=True))
    assert not quick["full_protocol"] and quick["seeds"] == [0, 1]
    assert quick["steps_per_task"]["ppo-psp"] < 50_000 and quick["steps_per_task"]["sac-psp"] < 15_000
    small = experiment_spec("7", namespace(presets=["td3-psp"], widths=[8], seeds=[0]))
    jobs = make_jobs("7", small, str(tmp_path))
    assert [j["key"] for j in jobs] == ["7|td3-psp|psp|K1|w8|s0", "7|td3-psp|sb3|K1|w8|s0"]
    assert [job_config(j).policy_kwargs["net_arch"] for j in jobs] == [[8, 8], [8, 8]]
    with pytest.raises(ValueError, match="--presets is for experiment 7"):
        experiment_spec("1", namespace(presets=["ppo-psp"]))
    with pytest.raises(ValueError, match="no suite for preset"):
        experiment_spec("7", namespace(presets=["ppo-psp", "nope"]))


def test_experiment_8_runs_the_presets_as_they_are(bench: ModuleType, tmp_path: Path, capsys) -> None:
    """ppo-psp K = 5 seeds 0-4 and K = 10 seeds 0-2, a2c-psp K = 5 seeds 0-4: no overrides at all, so
    every config is what ``psp-rl train --agent <preset>`` resolves."""
    from psp_rl.training.config import resolve_config

    out = tmp_path / "r.json"
    bench.main(["--experiment", "8", "--dry-run", "--no-report", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "13 runs, 0 already in" in printed and "(the preset a2c-psp as is)" in printed
    assert not out.exists()
    spec = experiment_spec("8", namespace())
    assert spec["full_protocol"] and spec["kind"] == "continual" and spec["per_seed"]
    assert spec["targets"] == {"avg_performance": 0.97, "forgetting": 0.02}
    assert spec["protocol"]["combos"] == spec["combos"]
    jobs = make_jobs("8", spec, str(tmp_path))
    expected = [("ppo-psp", 5, s) for s in range(5)] + [("ppo-psp", 10, s) for s in range(3)]
    expected += [("a2c-psp", 5, s) for s in range(5)]
    assert sorted((j["agent"], j["num_tasks"], j["seed"]) for j in jobs) == sorted(expected)
    assert len({j["key"] for j in jobs}) == 13 and "8|ppo-psp|K10|wpreset|s2" in {j["key"] for j in jobs}
    for job in jobs:
        assert job["preset"] == job["agent"] and job["suite"] == "cartpole-permuted"
        own = load_preset(job["agent"]).get("steps_per_task", 50_000)  # a preset's own steps_per_task wins
        assert job["steps_per_task"] == own and job["width"] is None
        assert job["sets"] == []  # no net_arch, mode, context, eval or checkpoint overrides
        cfg = job_config(job)
        cli = resolve_config(
            job["preset"],
            job["suite"],
            seed=job["seed"],
            device="cpu",
            steps_per_task=own,
            num_tasks=job["num_tasks"],
            run_dir=job["run_dir"],
        )
        assert cfg.to_dict() == cli.to_dict()
        preset = job["preset_data"]
        assert cfg.policy_kwargs == preset["policy_kwargs"] and cfg.hyperparams == preset["hyperparams"]
        assert cfg.n_envs == preset["n_envs"] and "mode" not in cfg.policy_kwargs
        assert cfg.eval["episodes"] == 10 and cfg.eval["eval_freq"] == 0  # evaluation at phase ends

    # --quick: seed 0 of every combination, 20k steps, still no overrides
    quick = experiment_spec("8", namespace(quick=True))
    assert not quick["full_protocol"]
    jobs = make_jobs("8", quick, str(tmp_path))
    assert sorted(j["key"] for j in jobs) == sorted(
        ["8|ppo-psp|K5|wpreset|s0", "8|ppo-psp|K10|wpreset|s0", "8|a2c-psp|K5|wpreset|s0"]
    )
    assert all(j["steps_per_task"] == 20_000 and j["sets"] == [] for j in jobs)
    # --agents / --num-tasks / --seeds select among the combinations; an evaluation budget other
    # than the preset's is the only override
    some = experiment_spec("8", namespace(agents=["ppo-psp"], seeds=[3, 4], eval_episodes=5))
    jobs = make_jobs("8", some, str(tmp_path))
    assert sorted(j["key"] for j in jobs) == ["8|ppo-psp|K5|wpreset|s3", "8|ppo-psp|K5|wpreset|s4"]
    assert all(j["sets"] == ["eval.episodes=5"] for j in jobs)
    with pytest.raises(ValueError, match="--widths does not apply"):
        experiment_spec("8", namespace(widths=[128]))
    with pytest.raises(ValueError, match="no run for agent"):
        experiment_spec("8", namespace(agents=["psp"]))
    with pytest.raises(ValueError, match="select none of its runs"):
        experiment_spec("8", namespace(num_tasks=[10], seeds=[4]))


def test_benchmark_runs_on_the_sweep_engine(bench: ModuleType, local_ray: Any, tmp_path: Path) -> None:
    """Two tiny runs as Tune trials: records in --out as they finish; the same command again trains
    nothing; a run whose folder finished but whose record was lost is taken from its folder."""
    from jobs import job_run_root

    out = tmp_path / "res.json"
    argv = [
        "--experiment",
        "1",
        "--agents",
        "psp",
        "shared",
        "--num-tasks",
        "2",
        "--steps-per-task",
        "256",
        "--seeds",
        "0",
        "--eval-episodes",
        "1",
        "--widths",
        "8",
        "--out",
        str(out),
        "--no-report",
        "--run-dir",
        str(tmp_path / "runs"),
        "--workers",
        "2",
    ]
    runs = bench.main(argv)["experiments"]["1"]["runs"]
    assert sorted(r["agent"] for r in runs) == ["psp", "shared"]
    assert all(len(r["perf_matrix"]) == 2 and r["param_count"] > 0 for r in runs)
    saved = json.loads(out.read_text())["experiments"]["1"]["runs"]
    assert sorted(r["key"] for r in saved) == ["1|psp|K2|w8|s0", "1|shared|K2|w8|s0"]
    for record in saved:  # each run in its own folder under --run-dir/exp1/
        assert Path(record["run_path"]).parent.parent == tmp_path / "runs" / "exp1"
    again = bench.main(argv)  # everything is there: nothing to train
    assert len(again["experiments"]["1"]["runs"]) == 2

    data = json.loads(out.read_text())
    lost = data["experiments"]["1"]["runs"].pop()  # as if the benchmark died before saving it
    out.write_text(json.dumps(data))
    job = {"key": lost["key"], "run_dir": str(tmp_path / "runs" / "exp1")}
    metrics = Path(lost["run_path"]) / "metrics.json"
    stamp = metrics.stat().st_mtime_ns
    runs = bench.main(argv)["experiments"]["1"]["runs"]
    assert Path(lost["run_path"]).parent == job_run_root(job)
    assert metrics.stat().st_mtime_ns == stamp  # not trained again
    back = next(r for r in runs if r["key"] == lost["key"])
    assert back["perf_matrix"] == lost["perf_matrix"] and back["param_count"] == lost["param_count"]
