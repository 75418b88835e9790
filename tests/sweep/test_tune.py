"""psp-rl tune: a tiny TPE search with pruning ends in a preset that trains; a resume runs only what is
missing; a bad --space key is an error naming the closest valid key before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from psp_rl.sweep.tune import TuneSpec, run_tune
from psp_rl.sweep.tune_cli import spec_from_options

pytest.importorskip("optuna")

# tiny PPO runs: 2 tasks x 256 steps, evaluated every 64 steps (reports for the pruning)
SETS = [
    "n_envs=1",
    "hyperparams.n_epochs=1",
    "hyperparams.batch_size=32",
    "eval.eval_freq=64",
    "eval.episodes=2",
]
SPACE = {
    "hyperparams.learning_rate": {"loguniform": [1.0e-4, 1.0e-2]},
    "hyperparams.n_steps": {"choice": [32, 64]},
    "policy_kwargs.net_arch": {"choice": [{"pi": [8], "vf": [8]}, {"pi": [16], "vf": [16]}]},
}


def _spec(samples: int, **kwargs: object) -> TuneSpec:
    return TuneSpec(
        agent="ppo-psp",
        suite="cartpole-permuted",
        samples=samples,
        space=SPACE,
        set=list(SETS),
        num_tasks=2,
        steps_per_task=256,
        workers=2,
        **kwargs,
    )


def test_tune_writes_a_preset_that_trains(local_ray: object, tmp_path: Path) -> None:
    from psp_rl.training import resolve_config
    from psp_rl.training.train import train

    # one trial at a time (2 CPUs each): the order of the reports, and so ASHA's decisions, do not depend on timing
    result = run_tune(_spec(4, cpus_per_run=2.0), tmp_path / "tune", verbose=0)
    out = tmp_path / "tune"
    data = json.loads((out / "trials.json").read_text())
    assert len(data["trials"]) == 4 and data["objective"].startswith("avg_performance - forgetting")
    assert {r["status"] for r in data["trials"]} <= {"finished", "pruned"}
    assert all(r["reports"] >= 2 for r in data["trials"])  # every trial reported during training
    assert any(r["status"] == "pruned" for r in data["trials"])  # ASHA stopped some trial early
    finished = [r for r in data["trials"] if r["status"] == "finished"]
    assert finished and all(r["reports"] > 4 for r in finished)  # evaluations + the final report
    assert (out / "trials.png").stat().st_size > 0
    best = result.best
    assert best is not None and best["objective"] == max(r["objective"] for r in finished)
    text = (out / "best.yaml").read_text()
    assert text.startswith("# psp-rl tune of ppo-psp") and best["trial_id"] in text
    preset = yaml.safe_load(text)
    # the best trial's sampled values, not the base preset's (lin_3e-4, n_steps 256, 64-wide)
    assert preset["hyperparams"]["learning_rate"] == pytest.approx(
        best["params"]["hyperparams.learning_rate"]
    )
    assert preset["hyperparams"]["n_steps"] in (32, 64)
    assert preset["policy_kwargs"]["net_arch"]["pi"][0] in (8, 16)
    cfg = resolve_config(
        str(out / "best.yaml"), num_tasks=2, steps_per_task=64, run_dir=str(tmp_path / "runs")
    )
    assert cfg.hyperparams["n_steps"] == preset["hyperparams"]["n_steps"]
    run = train(cfg, progress_bar=False, verbose=0)
    assert run.metrics["num_timesteps"] >= 128


def test_resume_runs_only_the_missing_trials(local_ray: object, tmp_path: Path) -> None:
    out = tmp_path / "tune"
    first = run_tune(_spec(2, scheduler="none"), out, verbose=0)
    assert len(first.trained) == 2
    # an interrupted launch: the second trial never got recorded
    data = json.loads((out / "trials.json").read_text())
    kept = data["trials"][0]
    data["trials"] = [kept]
    (out / "trials.json").write_text(json.dumps(data))
    spec, folder, resume = spec_from_options({"resume": str(out), "samples": 3, "workers": 2})
    assert resume and spec.samples == 3 and spec.space == SPACE
    second = run_tune(spec, folder, resume=True, verbose=0)
    assert len(second.trained) == 2 and kept["trial_id"] not in second.trained
    ids = [r["trial_id"] for r in json.loads((out / "trials.json").read_text())["trials"]]
    assert len(ids) == 3 and ids[0] == kept["trial_id"] and len(set(ids)) == 3
    # nothing left: a further resume trains nothing
    spec, folder, _ = spec_from_options({"resume": str(out)})
    assert run_tune(spec, folder, resume=True, verbose=0).trained == []


def test_recorded_trials_seed_the_tpe_study() -> None:
    from psp_rl.sweep.space import check_space, to_tune
    from psp_rl.sweep.tune import _searcher

    spec = _spec(3)
    domains = to_tune(check_space(SPACE, spec.resolve()))
    params = {
        "hyperparams.learning_rate": 1e-3,
        "hyperparams.n_steps": "32",
        "policy_kwargs.net_arch": '{"pi": [8], "vf": [8]}',
    }
    done = [
        {"params": params, "objective": 0.5, "status": "finished"},
        {"params": params, "objective": None, "status": "pruned"},
    ]  # no value: not told to TPE
    study = _searcher(spec, domains, done)._ot_study
    assert [t.value for t in study.trials] == [0.5]
    assert study.trials[0].params == params


def test_bad_space_key_names_the_closest(tmp_path: Path) -> None:
    bad = {"hyperparams.lerning_rate": {"loguniform": [1.0e-4, 1.0e-2]}}
    with pytest.raises(ValueError, match="lerning_rate.*Did you mean 'learning_rate'"):
        run_tune(TuneSpec(agent="ppo-psp", space=bad), tmp_path / "t")
    assert not (tmp_path / "t").exists()  # checked before anything is written
    with pytest.raises(ValueError, match="unknown distribution 'log_uniform'"):
        run_tune(
            TuneSpec(agent="ppo-psp", space={"hyperparams.gamma": {"log_uniform": [0.9, 0.99]}}),
            tmp_path / "t",
        )


def test_cli_bad_space_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from psp_rl.cli import main

    space = tmp_path / "space.yaml"
    space.write_text("rehearsal.ratoi: {uniform: [0.25, 1.0]}\n")
    code = main(["tune", "--agent", "dqn-psp", "--space", str(space), "--out", str(tmp_path / "t")])
    assert code == 2
    assert "Did you mean 'ratio'" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
