"""benchmarks/ablation.py: an arms sweep folder to records and the IQM table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from ablation import collect, main, render

from psp_rl.training import resolve_config, train
from psp_rl.training.saved_runs import load_run_model

TINY = ["hyperparams.learning_starts=50", "hyperparams.train_freq=50", "hyperparams.gradient_steps=5"]
TINY += ["policy_kwargs.net_arch=[16]", "policy_kwargs.base_width=16", "eval.episodes=2"]


def _sweep(tmp_path: Path) -> Path:
    """A sweep folder with two finished arms (psp with keep_best, separate) and one unfinished point."""
    sweep = tmp_path / "sweep"
    arms = {
        "psp-kb": ["keep_best.freq=100", "keep_best.episodes=1"],
        "separate": ["policy_kwargs.mode=separate", "keep_best.freq=0"],
    }
    (sweep / "runs").mkdir(parents=True)
    (sweep / "sweep.yaml").write_text(yaml.safe_dump({"agent": "dqn-psp", "arms": arms}))
    for index, (arm, sets) in enumerate(arms.items()):
        point = sweep / "runs" / f"g{index:02d}_arm-{arm}__s0"
        cfg = resolve_config(
            "dqn-psp", seed=0, num_tasks=2, steps_per_task=200, run_dir=str(point), sets=[*TINY, *sets]
        )
        train(cfg, progress_bar=False, verbose=0)
    (sweep / "runs" / "g02_arm-separate__s1").mkdir()
    return sweep


def test_collect_counts_interaction_parameters_and_unfinished_points(tmp_path: Path) -> None:
    records, unfinished = collect(_sweep(tmp_path))
    by_arm = {r["arm"]: r for r in records}
    assert unfinished == ["g02_arm-separate__s1"]
    kb, separate = by_arm["psp-kb"], by_arm["separate"]
    assert kb["interaction"]["keep_best"] > 0  # validation episodes counted
    assert kb["interaction"]["total"] == kb["interaction"]["training"] + kb["interaction"]["keep_best"]
    assert separate["interaction"]["total"] == separate["interaction"]["training"]
    # two independent Q-networks against one superposed network of the same width (and its per-task biases)
    assert 1.5 * kb["param_count"] < separate["param_count"] < 2 * kb["param_count"]
    _, model, _ = load_run_model(tmp_path / "sweep" / "runs" / kb["run"], device="cpu")
    assert kb["param_count"] == sum(p.numel() for p in model.q_net.parameters())  # the target copy left out
    table = render(records)
    assert "| psp-kb | psp | rehearsal (ratio 0.5) + keep_best |" in table and "validation" in table
    assert table.count("[") >= 4  # IQM intervals of both metrics for both arms


def test_the_command_line_writes_the_records_and_rejects_a_folder_without_arms(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path)
    out = tmp_path / "records.json"
    main(["--collect", str(sweep), "--out", str(out)])
    assert {r["arm"] for r in json.loads(out.read_text())} == {"psp-kb", "separate"}
    (sweep / "sweep.yaml").write_text(yaml.safe_dump({"agent": "dqn-psp"}))
    with pytest.raises(ValueError, match="no arms"):
        collect(sweep)
