"""benchmarks/drift_conflict.py: the per-bin curves and recurrence of a tiny run, its resumable records, the
table and figure on synthetic records, and the per-bin oracle's independent networks."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from drift_conflict import KEYLESS, SETTINGS, eval_clocks, figure, main, parameter_count, recurrence, render
from drift_conflict import setting_config as config_of

PERIOD, KEYS = 400, 2
TINY = [  # one period of 400 steps, two cycles; a small SAC that starts learning late
    "suite_overrides.variants=[{family: drift, action_gain: [-1.0, 1.0], kind: cosine, period: 400, "
    "phase_per_task: false}]",
    f"steps_per_task={PERIOD}",
    "suite_overrides.schedule.cycles=2",
    "hyperparams.learning_starts=300",
    "hyperparams.batch_size=16",
    "policy_kwargs.net_arch=[8]",
    "eval.episodes=1",
]


def _sets() -> list[str]:
    return [arg for item in TINY for arg in ("--set", item)]


def test_recurrence_pairs_a_bins_return_with_its_score_right_after_training() -> None:
    # P = 4, B = 2: bin 0 is trained over clocks [0, 2), bin 1 over [2, 4); two cycles
    clocks = [0, 2, 4, 6, 8]
    scores = [[0.0, 0.0], [0.8, 0.05], [0.4, 0.5], [0.2, 0.25], [0.9, 0.9]]
    entries = recurrence(clocks, scores, period=4, bins=2, min_score=0.1)
    assert entries == [
        {"bin": 0, "cycle": 1, "after_training": 0.8, "on_return": 0.4, "ratio": 0.5},
        {"bin": 1, "cycle": 1, "after_training": 0.5, "on_return": 0.25, "ratio": 0.5},
    ]
    low = recurrence(clocks, scores, period=4, bins=2, min_score=0.6)  # 0.5 after training: no ratio
    assert [e["ratio"] for e in low] == [0.5, None]


def test_eval_clocks_are_the_bin_boundaries() -> None:
    assert eval_clocks(400, 4, 800) == [0, 100, 200, 300, 400, 500, 600, 700, 800]
    with pytest.raises(ValueError, match="--bins 3"):
        eval_clocks(400, 3, 800)


def _record(setting: str, seed: int, level: float, keys: int = 8) -> dict[str, Any]:
    scores = [[level * t / 4 + 0.01 * b for b in range(2)] for t in range(5)]
    return {
        "suite": "s",
        "setting": setting,
        "seed": seed,
        "drift_keys": keys,
        "bins": 2,
        "period": 4,
        "steps": 8,
        "eval_steps": 2000,
        "parameters": 100,
        "curve": {"boundary": [0, 2, 4, 6, 8], "scores": scores},
        "period_mean": float(np.mean(scores[-1])),
        "recurrence_ratio": 0.5 + 0.1 * seed,
        "recurrence_min_score": 0.1,
    }


def test_the_table_and_the_oracle_check(tmp_path: Path) -> None:
    records = [_record("separate", s, 0.8) for s in (0, 1)] + [_record("shared", s, 0.3) for s in (0, 1)]
    text = render(records)
    assert "| s | shared | – | 2 | 0.305 ± 0.000 | 0.55 ± 0.05 | 8 (+ 2000) | 100 |" in text
    assert "| s | separate | 8 | 2 |" in text
    assert "oracle check (shared <= 0.6 x separate) held" in text
    close = records[:2] + [_record("shared", s, 0.7) for s in (0, 1)]
    assert "did NOT hold" in render(close)
    assert "not measured" in render(records[:2])
    path = figure(records, tmp_path / "figs" / "conflict.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_tiny_run_records_curves_per_bin_and_recurrence_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "records.json"
    argv = ["--setting", "binned", "--keys", str(KEYS), "--bins", "2", "--episodes", "1"]
    argv += ["--run-dir", str(tmp_path / "runs"), "--out", str(out), *_sets()]
    assert "| binned | 2 | 1 |" in main(argv)
    (record,) = json.loads(out.read_text())
    assert record["curve"]["clock"] == record["curve"]["boundary"] == [0, 200, 400, 600, 800]
    assert [len(s) for s in record["curve"]["scores"]] == [2] * 5
    assert record["final"] == record["curve"]["scores"][-1]
    assert [(e["bin"], e["cycle"]) for e in record["recurrence"]] == [(0, 1), (1, 1)]
    first = record["recurrence"][0]  # bin 0 after cycle 0 (clock 200), back at the start of cycle 1 (400)
    assert first["after_training"] == record["curve"]["scores"][1][0]
    assert first["on_return"] == record["curve"]["scores"][2][0]
    assert record["steps"] == 2 * PERIOD and record["interaction"]["training"] == 2 * PERIOD
    assert record["eval_steps"] == 5 * 2 * 200  # evaluations x bins x one 200-step episode
    assert record["parameters"] > 0
    assert main(argv) == ""  # the record is there: skipped
    assert len(json.loads(out.read_text())) == 1


def _probe(model: Any, coords: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    n = len(coords)
    obs = {
        "obs": np.tile(np.array([0.3, -0.2, 0.5], np.float32), (n, 1)),
        "task": np.zeros(n, np.int64),
        "coord": np.array(coords, np.float32)[:, None],
    }
    tensor, _ = model.policy.obs_to_tensor(obs)
    actions = torch.full((n, 1), 0.5)
    return model.actor(tensor, deterministic=True), torch.cat(model.critic(tensor, actions), dim=1)


def _model(setting: str) -> Any:
    from psp_rl.training.build import build_model

    args = argparse.Namespace(agent="sac-psp", suite="pendulum-flip-drift", seed=0, run_dir="unused")
    args.keys, args.set = KEYS, TINY
    cfg = config_of(args, SETTINGS[setting], keyless=setting in KEYLESS)
    return build_model(cfg, cfg.load_suite().make_vec_env(n_envs=1, seed=0), "cpu")


def test_every_setting_builds_and_the_oracle_holds_one_network_per_bin() -> None:
    counts = {setting: parameter_count(_model(setting)) for setting in SETTINGS}
    assert counts["separate"] == KEYS * counts["shared"]
    assert counts["coord_input"] > counts["shared"]  # two more inputs


@pytest.mark.parametrize("setting", ["separate", "shared"])
def test_the_oracle_trains_one_bin_without_moving_the_others(setting: str) -> None:
    model = _model(setting)
    trained, other = [0.1, 0.2, 0.4], [0.6, 0.9]  # bins 0 and 1 of M = 2
    before = [t.detach() for t in _probe(model, other)]
    for _ in range(3):  # steps on bin 0 alone, for the actor and the critics
        for part in (model.actor, model.critic):
            part.optimizer.zero_grad()
            torch.cat([t.flatten() for t in _probe(model, trained)]).pow(2).sum().backward()
            part.optimizer.step()
    after = [t.detach() for t in _probe(model, other)]
    unchanged = all(torch.equal(a, b) for a, b in zip(after, before))
    assert unchanged == (setting == "separate")  # the task-blind network moves everywhere
