"""The report builder renders tables and figures from a small hand-written results file."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
from report import forward_transfer_of, mean_std, render

ROOT = Path(__file__).resolve().parents[2]


def history(k: int, final: list[float]) -> dict:
    steps = [0, 100, 200, 300]
    rows = [[0.0] * k, [f / 2 for f in final], [f * 0.9 for f in final], final]
    return {"step": steps, "phase_end": [False, True, False, True], "normalized": rows}


def run(
    agent: str, seed: int, perf: float, forg: float | None, auc: list[float], k: int = 2, **extra
) -> dict:
    return {
        "key": f"x|{agent}|K{k}|w64|s{seed}",
        "agent": agent,
        "num_tasks": k,
        "width": 64,
        "seed": seed,
        "avg_performance": perf,
        "forgetting": forg,
        "perf_matrix": [[1.0, 0.0], [perf, perf]][:2],
        "phase_tasks": [0, 1],
        "task_auc": auc,
        "param_count": 1000 if agent != "separate" else 2000,
        "wall_time_s": 12.5,
        "final_normalized": [perf] * k,
        "history": history(k, [perf] * k),
        "hyperparams": {"learning_rate": 3e-4, "n_steps": 64},
        "git_commit": "abcdef0123",
        **extra,
    }


RESULTS = {
    "schema": 1,
    "experiments": {
        "1": {
            "title": "Continual toy",
            "kind": "continual",
            "suite": "cartpole-permuted",
            "budget": {
                "steps_per_task": 100,
                "seeds": [0, 1],
                "num_tasks": [2],
                "widths": [64],
                "agents": ["psp", "shared", "separate"],
                "eval_episodes": 2,
            },
            "protocol": {"steps_per_task": 50000, "seeds": [0, 1, 2], "num_tasks": [10], "widths": [64]},
            "full_protocol": False,
            "commands": ["python benchmarks/continual.py --experiment 1 --quick"],
            "runs": [
                run("psp", 0, 0.96, 0.01, [0.6, 0.7]),
                run("psp", 1, 0.98, 0.03, [0.6, 0.7]),
                run("shared", 0, 0.5, 0.6, [0.5, 0.2]),
                run("separate", 0, 0.97, 0.0, [0.5, 0.5]),
                run("separate", 1, 0.95, 0.0, [0.5, 0.5]),
            ],
        },
        "2": {
            "title": "Capacity toy",
            "kind": "capacity",
            "suite": "cartpole-permuted",
            "budget": {"steps_per_task": 100, "seeds": [0], "num_tasks": [2, 4], "widths": [64]},
            "full_protocol": True,
            "commands": ["python benchmarks/continual.py --experiment 2"],
            "runs": [
                run("psp-binary", 0, 0.9, 0.05, [0.5, 0.5]),
                run("psp-binary", 0, 0.8, 0.1, [0.5] * 4, k=4),
                run("psp-complex", 0, 0.85, 0.02, [0.5, 0.5]),
            ],
        },
        "5": {
            "title": "Parallel toy",
            "kind": "parallel",
            "suite": "cartpole-permuted",
            "budget": {"steps_per_task": 100, "seeds": [0], "num_tasks": [2], "widths": [64]},
            "full_protocol": False,
            "commands": ["python benchmarks/continual.py --experiment 5 --quick"],
            "runs": [run("psp", 0, 0.9, None, [None, None]), run("onehot", 0, 0.7, None, [None, None])],
        },
    },
    "overhead": {
        "command": "python benchmarks/overhead.py",
        "args": {"n_envs": 4, "steps": 1000, "repeats": 1, "device": "cpu", "threads": 1},
        "ppo_steps_per_s": {"MlpPolicy": 2000.0, "MultiInputPolicy": 1800.0, "psp-binary": 1700.0},
        "mlp_step_seconds": {"binary": {"1": 0.001, "10": 0.0011}, "rotation": {"1": 0.002}},
    },
    "notes": {"1": "PSP keeps every task.", "summary": "All targets met on the toy."},
}


def test_render_writes_tables_and_figures(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(RESULTS))
    md = render(results, out_md=tmp_path / "docs" / "results.md", fig_dir=tmp_path / "docs" / "figures")
    text = md.read_text()
    # every experiment, its reproduce command and the budget statement
    assert "## 1. Continual toy" in text and "## 2. Capacity toy" in text and "## 5. Parallel toy" in text
    assert "python benchmarks/continual.py --experiment 1 --quick" in text
    assert text.count("REDUCED, not the full protocol") == 2 and "the full protocol**" in text
    # experiment 1 table: mean ± std over two seeds, forward transfer against `separate`
    assert "| agent | K | width | average performance | forgetting | forward transfer |" in text
    assert "| psp | 2 | 64 | 0.970 ± 0.010 | 0.020 ± 0.010 | 0.300 ± 0.000 | 1,000 |" in text
    assert "| shared | 2 | 64 | 0.500 | 0.600 | -0.300 |" in text
    # capacity, parallel and overhead tables; notes
    assert "| psp-binary | 64 | 4 | 0.800 | 0.100 | 0.000 |" in text  # no variant at >= 0.9
    assert "| psp-binary | 64 | 2 | 0.900 | 0.050 | 1.000 |" in text
    assert "| psp | 2 | 64 | 0.900 |" in text and "AUC (sample efficiency)" in text
    assert "| psp-binary | 1700 | 0.850 | 0.944 |" in text
    assert "Hyper-parameters (every agent): learning_rate=0.0003, n_steps=64." in text
    assert "Code: commit `abcdef0`." in text
    assert "PSP keeps every task." in text and "All targets met on the toy." in text
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps({"1": "Overridden finding.", "remaining": "Seeds 3-9."}))
    text2 = render(results, out_md=tmp_path / "r.md", fig_dir=tmp_path / "f", notes=notes).read_text()
    assert "Overridden finding." in text2 and "PSP keeps every task." not in text2
    assert "## Not run yet" in text2 and "Seeds 3-9." in text2
    assert text.startswith("# psp_rl benchmark results\n")
    titled = render(results, out_md=tmp_path / "t.md", fig_dir=tmp_path / "f", notes={"title": "Defaults"})
    assert titled.read_text().startswith("# Defaults\n")
    figures = tmp_path / "docs" / "figures"
    for name in (
        "exp1_K2_w64_curves",
        "exp1_K2_w64_matrix",
        "exp1_K2_w64_final",
        "exp2_capacity",
        "exp5_parallel",
    ):
        png = figures / f"{name}.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"(figures/{name}.png)" in text


def test_forward_transfer_and_mean_std() -> None:
    runs = RESULTS["experiments"]["1"]["runs"]
    assert forward_transfer_of(runs[0], runs) == pytest.approx(0.3)
    assert forward_transfer_of(runs[3], runs) == pytest.approx(0.0)
    assert forward_transfer_of(runs[0], [r for r in runs if r["agent"] != "separate"]) is None
    # a label with overrides takes `separate` with the same overrides as its reference, when there is one
    tuned = run("psp@lr=1e-4", 0, 0.99, 0.0, [0.6, 0.7])
    assert forward_transfer_of(tuned, [*runs, tuned]) == pytest.approx(0.3)  # falls back to `separate`
    tuned_ref = run("separate@lr=1e-4", 0, 0.99, 0.0, [0.2, 0.4])
    assert forward_transfer_of(tuned, [*runs, tuned, tuned_ref]) == pytest.approx((0.5 + 0.5) / 2)
    mean, std, n = mean_std([None, float("nan")])
    assert n == 0 and math.isnan(mean) and math.isnan(std)


def test_render_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="run benchmarks/continual.py"):
        render(tmp_path / "missing.json", out_md=tmp_path / "r.md", fig_dir=tmp_path / "f")
    with pytest.raises(ValueError, match="experiments"):
        render({"runs": []}, out_md=tmp_path / "r.md", fig_dir=tmp_path / "f")
    bad = {"experiments": {"9": {"kind": "nope", "runs": []}}}
    with pytest.raises(ValueError, match="unknown kind"):
        render(bad, out_md=tmp_path / "r.md", fig_dir=tmp_path / "f")


def test_benchmark_runs_a_tiny_experiment_and_renders(tmp_path: Path) -> None:
    """benchmarks/continual.py end to end, in this process: two tiny runs, the JSON, skip on re-run, report
    (the same runs on the sweep engine: tests/benchmarks/test_benchmark.py)."""
    spec = importlib.util.spec_from_file_location("continual_bench", ROOT / "benchmarks" / "continual.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["continual_bench"] = module
    spec.loader.exec_module(module)
    out = tmp_path / "res.json"
    argv = [
        "--experiment",
        "1",
        "--agents",
        "psp",
        "ewc",
        "--num-tasks",
        "2",
        "--steps-per-task",
        "512",
        "--seeds",
        "0",
        "--eval-episodes",
        "1",
        "--widths",
        "8",
        "--out",
        str(out),
        "--run-dir",
        str(tmp_path / "runs"),
        "--report",
        str(tmp_path / "results.md"),
        "--fig-dir",
        str(tmp_path / "figures"),
        "--in-process",
    ]
    results = module.main(argv)
    runs = results["experiments"]["1"]["runs"]
    assert sorted(r["agent"] for r in runs) == ["ewc", "psp"]
    assert all(len(r["perf_matrix"]) == 2 and r["param_count"] > 0 for r in runs)
    assert results["experiments"]["1"]["full_protocol"] is False
    saved = json.loads(out.read_text())
    assert len(saved["experiments"]["1"]["runs"]) == 2
    assert "REDUCED" in (tmp_path / "results.md").read_text()
    again = module.main([*argv, "--dry-run"])  # everything is there: nothing to train
    assert len(again["experiments"]["1"]["runs"]) == 2


def test_reproduce_lists_the_commands_that_produced_the_runs() -> None:
    from report_protocol import _commands

    entry = {
        "commands": ["python a", "python interrupted", "python b"],
        "runs": [{"command": "python b"}, {"command": "python a"}, {"command": "python a"}],
    }
    assert _commands(entry)[3:5] == ["python a", "python b"]
    assert "python interrupted" in _commands({"commands": ["python interrupted"], "runs": [{}]})


def test_hyperparameter_line_groups_label_overrides(tmp_path: Path) -> None:
    """Agents with `@` overrides form their own group; a preset change inside one group is flagged."""
    results = json.loads(json.dumps(RESULTS))
    runs = results["experiments"]["1"]["runs"]
    tuned = run("psp@lr=1e-4", 0, 0.99, 0.0, [0.6, 0.7])
    tuned["hyperparams"] = {"learning_rate": 1e-4, "n_steps": 64}
    runs.append(tuned)
    text = render(results, out_md=tmp_path / "a.md", fig_dir=tmp_path / "fa").read_text()
    assert "Hyper-parameters (preset agents): learning_rate=0.0003, n_steps=64." in text
    assert "Hyper-parameters (agents with `@lr=1e-4`): learning_rate=0.0001, n_steps=64." in text
    assert "Warning" not in text
    runs[1]["hyperparams"] = {"learning_rate": 1e-3, "n_steps": 64}  # the preset changed for one run
    text = render(results, out_md=tmp_path / "b.md", fig_dir=tmp_path / "fb").read_text()
    assert "**Warning: the runs of preset agents use 2 different sets of hyper-parameters**" in text


def single_run(
    preset: str, agent: str, seed: int, final: float, auc: float, suite: str = "cartpole-permuted"
) -> dict:
    """A run of a `single` experiment (K = 1): its final raw return and AUC."""
    normalized = [[0.0], [auc], [min(1.0, 2 * auc)]]
    return {
        "key": f"7|{preset}|{agent}|K1|wpreset|s{seed}",
        "experiment": "7",
        "agent": agent,
        "num_tasks": 1,
        "width": None,
        "seed": seed,
        "preset": preset,
        "policy": "psp" if agent == "psp" else "MultiInputPolicy",
        "suite": suite,
        "steps_per_task": 1000,
        "n_envs": 1,
        "eval_episodes": 5,
        "task_auc": [auc],
        "final_returns": [final],
        "final_normalized": [normalized[-1][0]],
        "wall_time_s": 10.0 + seed,
        "history": {"step": [0, 500, 1000], "phase_end": [False, False, True], "normalized": normalized},
        "hyperparams": {"learning_rate": 1e-3},
        "policy_kwargs": {"net_arch": [64, 64]},
        "git_commit": "abcdef0123",
    }


SINGLE = {
    "title": "No cost at K = 1",
    "kind": "single",
    "suites": {
        "ppo-psp": "cartpole-permuted",
        "sac-psp": "pendulum-permuted",
        "td3-psp": "pendulum-permuted",
    },
    "budget": {"steps_per_task": 1000, "seeds": [0, 1, 2], "num_tasks": [1], "widths": [None]},
    "protocol": {
        "steps_per_task": {"ppo-psp": 50000, "sac-psp": 15000, "td3-psp": 15000},
        "seeds": [0, 1, 2],
        "num_tasks": [1],
        "widths": [None],
        "agents": ["psp", "sb3"],
        "eval_episodes": 10,
        "presets": ["ppo-psp", "sac-psp", "td3-psp"],
    },
    "full_protocol": False,
    "commands": ["python benchmarks/continual.py --experiment 7 --quick"],
    "runs": [
        # ppo: |493.3 - 486.7| = 6.7 <= max(9.4, 18.9) and AUC 0.7 vs 0.7: within spread
        *[single_run("ppo-psp", "psp", s, f, a) for s, f, a in ((0, 500, 0.6), (1, 480, 0.7), (2, 500, 0.8))],
        *[
            single_run("ppo-psp", "sb3", s, f, a)
            for s, f, a in ((0, 500, 0.65), (1, 500, 0.7), (2, 460, 0.75))
        ],
        # sac: the same AUC, PSP's final return 150 higher than SB3's with spreads of 8.2
        *[
            single_run("sac-psp", "psp", s, f, 0.5, "pendulum-permuted")
            for s, f in ((0, -160), (1, -170), (2, -150))
        ],
        *[
            single_run("sac-psp", "sb3", s, f, 0.5, "pendulum-permuted")
            for s, f in ((0, -300), (1, -320), (2, -310))
        ],
        # td3: one seed each, no spread
        single_run("td3-psp", "psp", 0, -200, 0.4, "pendulum-permuted"),
        single_run("td3-psp", "sb3", 0, -210, 0.2, "pendulum-permuted"),
    ],
}


def test_render_single_variant_section(tmp_path: Path) -> None:
    """Experiment 7: one row per algorithm, PSP against SB3, the verdict computed from the numbers."""
    from report import within_spread

    results = {"schema": 1, "experiments": {"7": SINGLE}, "overhead": None}
    md = render(results, out_md=tmp_path / "results.md", fig_dir=tmp_path / "figures")
    text = md.read_text()
    assert "## 7. No cost at K = 1" in text
    assert "|mean_PSP − mean_SB3| ≤ max(std_PSP, std_SB3)" in text  # the rule, stated
    assert (
        "| `ppo-psp` | psp | cartpole-permuted | 1000 | 3 × 5 episodes | 493.3 ± 9.4 | 486.7 ± 18.9 | "
        "0.700 ± 0.082 | 0.700 ± 0.041 | 11 ± 1 / 11 ± 1 | 3 / 3 | yes |"
    ) in text
    assert (
        "| `sac-psp` | psp | pendulum-permuted | 1000 | 3 × 5 episodes | -160.0 ± 8.2 | -310.0 ± 8.2 | "
        "0.500 ± 0.000 | 0.500 ± 0.000 | 11 ± 1 / 11 ± 1 | 3 / 3 | no: final return PSP higher |"
    ) in text
    assert "| -200.0 | -210.0 | 0.400 | 0.200 | 10 / 10 | 1 / 1 | n/a (< 2 seeds) |" in text
    # budgets next to the numbers: per preset against the protocol's, and the per-preset settings
    assert "**Budget: REDUCED, not the full protocol.**" in text
    assert (
        "`ppo-psp` 1000 env steps, seeds [0, 1, 2], 3 evaluations" in text
        and "`td3-psp` 1000 env steps, seeds [0]" in text
    )
    assert "`sac-psp` 15000 env steps" in text
    assert "- `sac-psp` on `pendulum-permuted`, n_envs 1: hyper-parameters learning_rate=0.001" in text
    assert "Warning" not in text and "Code: commit `abcdef0`." in text
    png = tmp_path / "figures" / "exp7_single.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "(figures/exp7_single.png)" in text
    # the rule itself
    assert within_spread([1.0, 1.0], [1.0, 1.0]) is True
    assert within_spread([1.0, 3.0], [2.5, 2.5]) is True  # |2 - 2.5| <= max(1, 0)
    assert within_spread([1.0, 1.2], [2.0, 2.0]) is False
    assert within_spread([1.0], [1.0, 2.0]) is None


def preset_run(agent: str, k: int, seed: int, perf: float, forg: float, lowest: float) -> dict:
    """A run of experiment 8 (a preset as it is): its final normalized returns hold ``lowest`` at task 1."""
    final = [1.0] * k
    final[1] = lowest
    return {
        **run(agent, seed, perf, forg, [0.5] * k, k=k),
        "key": f"8|{agent}|K{k}|wpreset|s{seed}",
        "experiment": "8",
        "width": None,
        "preset": agent,
        "policy": "psp",
        "suite": "cartpole-permuted",
        "n_envs": 4,
        "steps_per_task": 1000,
        "eval_episodes": 10,
        "final_normalized": final,
        "wall_time_s": 100.0 + seed,
        "policy_kwargs": {"context": "binary"},
        "hyperparams": {"learning_rate": "lin_3e-4" if agent == "ppo-psp" else 7e-4},
    }


COMBOS = [
    {"agent": "ppo-psp", "num_tasks": 5, "seeds": [0, 1, 2, 3, 4]},
    {"agent": "ppo-psp", "num_tasks": 10, "seeds": [0, 1, 2]},
    {"agent": "a2c-psp", "num_tasks": 5, "seeds": [0, 1]},
]
DEFAULTS = {
    "title": "Default presets keep every variant",
    "kind": "continual",
    "suite": "cartpole-permuted",
    "per_seed": True,
    "targets": {"avg_performance": 0.97, "forgetting": 0.02},
    "budget": {
        "steps_per_task": 1000,
        "seeds": [0, 1],
        "num_tasks": [5, 10],
        "widths": [None],
        "agents": ["ppo-psp", "a2c-psp"],
        "eval_episodes": 10,
        "evals_per_phase": 0,
    },
    "protocol": {
        "steps_per_task": 50000,
        "seeds": [0, 1, 2, 3, 4],
        "num_tasks": [5, 10],
        "widths": [None],
        "agents": ["ppo-psp", "a2c-psp"],
        "eval_episodes": 10,
        "combos": COMBOS,
    },
    "full_protocol": False,
    "commands": ["python benchmarks/continual.py --experiment 8 --quick"],
    "runs": [
        preset_run("ppo-psp", 5, 0, 0.995, 0.004, 0.99),
        preset_run("ppo-psp", 5, 1, 0.854, 0.183, 0.12),  # loses a variant
        *[preset_run("ppo-psp", 5, s, 0.99, 0.02, 0.97) for s in (2, 3, 4)],  # forgetting exactly 0.02
        preset_run("ppo-psp", 10, 0, 0.993, 0.008, 0.95),
        preset_run("a2c-psp", 5, 0, 0.98, 0.01, 0.96),
        preset_run("a2c-psp", 5, 1, 0.975, 0.015, 0.94),
    ],
}


def test_render_per_seed_table_and_targets(tmp_path: Path) -> None:
    """Experiment 8: one row per (agent, K, seed), the worst seed per (agent, K), the verdict computed."""
    from report import target_misses, targets_verdict

    results = {"schema": 1, "experiments": {"8": DEFAULTS}, "overhead": None}
    text = render(results, out_md=tmp_path / "d.md", fig_dir=tmp_path / "figures").read_text()
    assert "## 8. Default presets keep every variant" in text
    # budgets: what ran per (agent, K) against the protocol's combinations
    assert (
        "**Budget: REDUCED, not the full protocol.** Ran: `ppo-psp` K = 5 seeds [0, 1, 2, 3, 4]; "
        "`ppo-psp` K = 10 seeds [0]; `a2c-psp` K = 5 seeds [0, 1]; 1000 env steps per task phase, "
        "10 evaluation episodes per task at the phase ends only"
    ) in text
    assert (
        "The full protocol is `ppo-psp` K = 5 seeds [0, 1, 2, 3, 4]; `ppo-psp` K = 10 seeds [0, 1, 2]" in text
    )
    # one hyper-parameter line per preset (they differ: no warning)
    assert "- `ppo-psp` on `cartpole-permuted`, n_envs 4: hyper-parameters learning_rate=lin_3e-4" in text
    assert "Warning" not in text
    # the aggregate table and figures name the presets' own widths
    assert "| ppo-psp | 5 | preset | 0.964 ± 0.055 | 0.049 ± 0.067 |" in text
    assert (tmp_path / "figures" / "exp8_K5_wpreset_curves.png").is_file()
    # per seed
    assert "**Targets:** average performance ≥ 0.97 and forgetting ≤ 0.02 on each seed" in text
    assert "| ppo-psp | 5 | 0 | 0.995 | 0.004 | 0.990 (task 1) | 100 | yes |" in text
    assert (
        "| ppo-psp | 5 | 1 | 0.854 | 0.183 | 0.120 (task 1) | 101 | "
        "no: average performance 0.854 < 0.97, forgetting 0.183 > 0.02 |"
    ) in text
    assert "| ppo-psp | 5 | 4 | 0.990 | 0.020 | 0.970 (task 1) | 104 | yes |" in text
    # per (agent, K): min average performance, max forgetting, lowest final return, verdict
    assert (
        "| ppo-psp | 5 | 1000 | 10 | [0, 1, 2, 3, 4] | 0.854 | 0.183 | 0.120 | "
        "no: seed 1 (average performance 0.854 < 0.97, forgetting 0.183 > 0.02) (reduced budget) |"
    ) in text
    assert (
        "| ppo-psp | 10 | 1000 | 10 | [0] | 0.993 | 0.008 | 0.950 | "
        "yes on the 1 seed(s) run; not run: seeds [1, 2] (reduced budget) |"
    ) in text
    assert "| a2c-psp | 5 | 1000 | 10 | [0, 1] | 0.975 | 0.015 | 0.940 | yes (reduced budget) |" in text
    # the rule itself
    targets = DEFAULTS["targets"]
    assert target_misses({"avg_performance": 0.97, "forgetting": 0.02}, targets) == []
    assert target_misses({"avg_performance": None, "forgetting": 0.03}, targets) == [
        "no average performance",
        "forgetting 0.030 > 0.02",
    ]
    good = [{"seed": 0, "avg_performance": 1.0, "forgetting": 0.0}]
    assert targets_verdict(good, targets, [0]) == "yes"
    assert targets_verdict(good, {}, [0]) == "n/a (no targets)"
    assert targets_verdict([], targets, [0]) == "n/a (no runs)"


def test_combos_at_the_presets_own_steps_are_the_full_protocol(tmp_path: Path) -> None:
    """A preset's own steps_per_task (a2c-psp: 200k) is the protocol for its runs."""

    def at(steps: int, **kw: object) -> dict:
        return {**preset_run(**kw), "steps_per_task": steps}  # type: ignore[arg-type]

    runs = [at(50000, agent="ppo-psp", k=5, seed=s, perf=1.0, forg=0.0, lowest=1.0) for s in range(5)]
    runs += [at(50000, agent="ppo-psp", k=10, seed=s, perf=1.0, forg=0.0, lowest=1.0) for s in range(3)]
    runs += [at(200000, agent="a2c-psp", k=5, seed=s, perf=1.0, forg=0.0, lowest=1.0) for s in range(2)]
    entry = {
        **DEFAULTS,
        "runs": runs,
        "full_protocol": True,
        "budget": {**DEFAULTS["budget"], "steps_per_task": 50000},
    }
    text = render({"experiments": {"8": entry}}, out_md=tmp_path / "d.md", fig_dir=tmp_path / "f").read_text()
    assert "**Budget: the full protocol** (`ppo-psp` K = 5 seeds [0, 1, 2, 3, 4]" in text
    assert "| a2c-psp | 5 | 200000 | 10 | [0, 1] |" in text and "(reduced budget)" not in text
    mixed = [*runs[:-1], {**runs[-1], "steps_per_task": 20000}]  # one a2c run at another budget
    entry = {**entry, "runs": mixed}
    text = render({"experiments": {"8": entry}}, out_md=tmp_path / "e.md", fig_dir=tmp_path / "f").read_text()
    assert "**Budget: REDUCED, not the full protocol.**" in text


def test_render_adds_sections_of_run_tables(tmp_path: Path) -> None:
    record = {
        "label": "psp",
        "seed": 0,
        "num_tasks": 2,
        "steps_per_task": 64,
        "eval_episodes": 3,
        "avg_performance": 0.9,
        "forgetting": 0.0,
        "after_own_phase": [1.0, 0.8],
        "final_normalized": [1.0, 0.8],
    }
    sweep = tmp_path / "mg10.json"
    sweep.write_text(json.dumps([record]))
    notes = {"sweeps": [{"title": "MiniGrid MG10", "file": str(sweep), "text": "Reduced budget."}]}
    text = render(
        {"experiments": {}}, out_md=tmp_path / "r.md", fig_dir=tmp_path / "f", notes=notes
    ).read_text()
    assert "## MiniGrid MG10\n\nReduced budget." in text and "| psp | 0 | 2 | 64 | 0.900 | 0.000 |" in text
