"""The MG10 protocol collector (``benchmarks/mg10_protocol.py``) and its section of ``docs/results.md``
(``benchmarks/mg10_protocol_page.py``) on a synthetic sweep folder: two finished runs, one in progress, one
not started."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import mg10_protocol
import pytest
import yaml
from mg10_protocol_page import arm_table, loss_lines, progress_lines, seed_table, target_verdicts
from report import render

COMMIT = "abc1234" + "0" * 33
#: returns of two tasks at each evaluation; step 25 is off the protocol's 10-step grid (not in ICR/TPOT)
HISTORY = [
    (0, [0.0, 0.0]),
    (10, [0.5, 0.0]),
    (20, [0.9, 0.0]),
    (25, [1.0, 1.0]),
    (30, [0.9, 0.4]),
    (40, [0.8, 0.9]),
]
# by hand: ICR = 0.5, 0.9, 1.3, 1.7 (steps 10, 20, 30, 40); TPOT = 4.4
ICR_FINAL, TPOT = 1.7, 4.4


def _config(seed: int, mode: str) -> dict[str, Any]:
    tasks = [{"env_id": "MiniGrid-SimpleCrossingS9N1-v0", "seed": s} for s in (860, 861)]
    return {
        "agent": "ppo-psp-minigrid",
        "suite": "minigrid-mg10",
        "seed": seed,
        "algo": "ppo",
        "n_envs": 1,
        "num_tasks": 2,
        "steps_per_task": 20,
        "total_timesteps": 40,
        "policy_kwargs": {"mode": mode},
        "eval": {"episodes": 1, "eval_freq": 10, "deterministic": True},
        "ewc": {"lambda": 0.0},
        "suite_overrides": {},
        "suite_spec": {"tasks": tasks},
    }


def _metrics(avg: float, forgetting: float) -> dict[str, Any]:
    return {
        "num_tasks": 2,
        "total_timesteps": 40,
        "num_timesteps": 40,
        "wall_time_s": 7200.0,
        "perf_matrix": [[0.9, 0.0], [0.8, 0.9]],
        "phase_tasks": [0, 1],
        "avg_performance": avg,
        "forgetting": forgetting,
        "forgetting_per_task": [forgetting, None],
        "final_normalized": [0.8, 0.9],
        "final_returns": [0.8, 0.9],
        "eval_episodes": 1,
        "eval_deterministic": True,
        "eval_history": [{"step": s, "returns": r, "normalized": r} for s, r in HISTORY],
    }


def _run(
    sweep: Path, trial: str, mode: str, metrics: dict | None = None, checkpoint: int | None = None
) -> None:
    run = sweep / "runs" / trial / "minigrid-mg10__ppo-psp-minigrid__s0__20260101-000000"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(_config(0, mode)))
    (run / "command.txt").write_text(
        "psp-rl train --agent ppo-psp-minigrid\npsp-rl train --agent ppo-psp-minigrid\n"
    )
    (run / "versions.json").write_text(json.dumps({"git_commit": COMMIT}))
    if metrics is not None:
        (run / "metrics.json").write_text(json.dumps(metrics))
    if checkpoint is not None:
        folder = run / "checkpoints" / f"step_{checkpoint:012d}"
        folder.mkdir(parents=True)
        (folder / "state.json").write_text(json.dumps({"num_timesteps": checkpoint}))
        (folder / "model.zip").write_bytes(b"")


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    folder = tmp_path / "mg10-protocol"
    folder.mkdir()
    arms = {"psp": [], "mask": ["policy_kwargs.mode=mask"], "separate": ["policy_kwargs.mode=separate"]}
    arms["shared"] = ["policy_kwargs.mode=shared"]
    (folder / "sweep.yaml").write_text(yaml.safe_dump({"seeds": [0], "arms": arms, "workers": 2}))
    _run(folder, "g00_arm-psp__s0", "psp", _metrics(0.85, 0.1))
    _run(folder, "g01_arm-mask__s0", "mask", checkpoint=20)  # in progress
    _run(folder, "g02_arm-separate__s0", "separate", _metrics(0.9, 0.0))
    return folder  # shared: not started


def test_collect_records_icr_tpot_and_progress(sweep: Path) -> None:
    data = mg10_protocol.collect(sweep, parameters=False)
    assert [(r["arm"], r["seed"]) for r in data["runs"]] == [("psp", 0), ("separate", 0)]
    psp = data["runs"][0]
    assert psp["icr_final"] == pytest.approx(ICR_FINAL)
    assert psp["tpot"] == pytest.approx(TPOT)
    assert psp["icr_evaluations"] == 4
    assert psp["after_own_phase"] == [0.9, 0.9] and psp["final_normalized"] == [0.8, 0.9]
    assert psp["history"]["step"] == [s for s, _ in HISTORY] and psp["history"]["normalized"][-1] == [
        0.8,
        0.9,
    ]
    assert psp["starts"] == 2 and psp["commit"] == COMMIT and psp["interaction"] == {"training": 40}
    assert data["in_progress"] == [
        {
            "arm": "mask",
            "seed": 0,
            "trial": "g01_arm-mask__s0",
            "run": "minigrid-mg10__ppo-psp-minigrid__s0__20260101-000000",
            "commit": COMMIT,
            "step": 20,
            "total_timesteps": 40,
            "parameters": None,
        }
    ]
    assert data["not_started"] == [{"arm": "shared", "seed": 0}]
    assert data["protocol"]["tasks"] == ["SimpleCrossingS9N1 (860)", "SimpleCrossingS9N1 (861)"]
    assert "--out sweeps/mg10-protocol" in data["commands"]["sweep"]


def test_collect_rejects_a_folder_that_is_not_a_sweep(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no sweep.yaml"):
        mg10_protocol.collect(tmp_path)
    with pytest.raises(ValueError, match="gNN_arm-NAME__sS"):
        mg10_protocol.trial_arm_seed("g00_mode-psp__s0")


def test_main_writes_the_records(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "mg10-protocol.json"
    data = mg10_protocol.main(["--sweep", str(sweep), "--out", str(out), "--no-parameters"])
    text = out.read_text()
    assert json.loads(text) == data
    assert '"final_normalized": [0.8, 0.9]' in text  # a list of numbers on one line


def test_parameter_counts_of_a_saved_model(tmp_path: Path) -> None:
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, policy_kwargs={"net_arch": [4]})
    model.save(tmp_path / "model.zip")
    counts = mg10_protocol.parameter_counts(tmp_path / "model.zip", "ppo")
    assert counts == {
        "trainable": sum(p.numel() for p in model.policy.parameters()),
        "frozen": 0,
        "buffers": 0,
    }
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    assert mg10_protocol.parameter_counts(tmp_path / "broken.zip", "ppo") is None


def test_tables_and_progress(sweep: Path) -> None:
    data = mg10_protocol.collect(sweep, parameters=False)
    rows = {line.split(" | ")[0].strip("| "): line for line in arm_table(data)[2:]}
    assert "| 1 of 1 | 0.850 | 0.100 | 1.70 | 4.4 |" in rows["psp"]
    assert "| 0 of 1 | – | – | – | – |" in rows["mask"]
    assert "| 1 of 1 | 0.900 | 0.000 |" in rows["separate"] and "| 0 of 1 |" in rows["shared"]
    assert "| psp | 0 | 0.850 | 0.100 | 1.70 | 4.4 | 0.90 0.90 | 0.80 0.90 | 40 | 2.0 | 2 |" in seed_table(
        data
    )
    progress = " ".join(progress_lines(data))
    assert "2 of 4 finished, 1 in progress, 1 not started" in progress
    assert "mask seed 0 at 20 of 40 env steps" in progress


def test_target_verdicts(sweep: Path) -> None:
    data = mg10_protocol.collect(sweep, parameters=False)
    (_, first, detail), (_, second, _) = target_verdicts(data)
    assert first == "missed" and "seed 0 forgetting 0.100 > 0.02" in detail  # psp forgets 0.1
    assert second == "not yet measurable"  # mask is still running
    good = copy.deepcopy(data)
    good["runs"][0].update(avg_performance=0.86, forgetting=0.0)  # 0.86 >= 0.95 x 0.9
    mask = {**good["runs"][0], "arm": "mask", "avg_performance": 0.8}
    good["runs"].append(mask)
    assert [v for _, v, _ in target_verdicts(good)] == ["met", "met"]
    mask["avg_performance"] = 0.9  # above PSP's 0.86
    good["runs"][0]["avg_performance"] = 0.85  # below 0.95 x 0.9 = 0.855
    assert [v for _, v, _ in target_verdicts(good)] == ["missed", "missed"]


def test_report_renders_the_section(sweep: Path, tmp_path: Path) -> None:
    records = tmp_path / "mg10-protocol.json"
    mg10_protocol.main(["--sweep", str(sweep), "--out", str(records), "--no-parameters"])
    reduced = tmp_path / "mg10.json"
    reduced.write_text(json.dumps([{"steps_per_task": 25000}]))
    section = {
        "title": "MiniGrid MG10 at the published protocol",
        "file": str(records),
        "table": "mg10-protocol",
        "reduced": str(reduced),
        "text": '<a id="mg10"></a>Prose.',
        "ewc": "the authors' EWC differs.",
    }
    md = render({"experiments": {}}, tmp_path / "results.md", tmp_path / "fig", notes={"sweeps": [section]})
    text = md.read_text()
    assert '## MiniGrid MG10 at the published protocol\n\n<a id="mg10"></a>Prose.' in text
    assert (
        "2 tasks one after another, 20 env steps per task" in text and "(the protocol's 4 evaluations" in text
    )
    assert "**missed**" in text and "**not yet measurable**" in text
    assert "![MG10 learning curves](fig/mg10-protocol-curves.png)" in text
    assert (tmp_path / "fig" / "mg10-protocol-curves.png").stat().st_size > 0
    assert "The reduced-budget table (25k steps per task) is in the records" in text
    assert "**EWC:** our `shared`" not in text  # no arm of this sweep sets ewc.lambda


def test_loss_lines_name_the_phase_a_task_was_lost_in_and_tasks_never_learnt() -> None:
    matrix = [
        [0.96, 0.0, 0.0],
        [0.96, 0.0, 0.0],  # task 1 not learnt in its phase
        [0.10, 0.0, 0.9],  # task 0 lost in phase 2
    ]
    data = {
        "protocol": {"tasks": ["A", "B", "C"]},
        "runs": [{"arm": "psp", "seed": 0, "perf_matrix": matrix}],
    }
    (line,) = loss_lines(data)
    assert line == (
        "- psp seed 0: task 0, A: 0.96 → 0.10 by the end of phase 2; task 1, B: not learnt in its phase (0.00)."
    )
    kept = {"protocol": {}, "runs": [{"arm": "separate", "seed": 1, "perf_matrix": [[0.9, 0], [0.9, 0.8]]}]}
    assert loss_lines(kept) == ["- separate seed 1: every task learnt and kept."]
