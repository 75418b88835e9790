"""The sweep's definition: --grid items, the sweep file, grid expansion, validation of every run's config
(nothing is trained, no Ray)."""

from __future__ import annotations

from pathlib import Path

import pytest

from psp_rl.sweep.grid import (
    SweepSpec,
    expand_grid,
    load_sweep_file,
    parse_grid,
    parse_grid_item,
    point_label,
    split_values,
    trial_id,
    value_text,
)
from psp_rl.sweep.run import build_trials, spec_from_options


def test_grid_items_split_at_top_level_commas() -> None:
    assert parse_grid_item("policy_kwargs.mode=psp,shared") == ("policy_kwargs.mode", ["psp", "shared"])
    assert parse_grid_item("policy_kwargs.net_arch=[64, 64],[8]") == (
        "policy_kwargs.net_arch",
        [[64, 64], [8]],
    )
    assert parse_grid_item("hyperparams.learning_rate=1e-3, 3e-4") == (
        "hyperparams.learning_rate",
        [1e-3, 3e-4],
    )
    assert parse_grid_item("policy_kwargs.net_arch={pi: [8], vf: [8]}")[1] == [{"pi": [8], "vf": [8]}]
    assert split_values("'a,b',c") == ["'a,b'", "c"]
    assert parse_grid_item("description='a,b',c")[1] == ["a,b", "c"]
    assert parse_grid(["eval.episodes=1,2", "checkpoint.keep=1"]) == {
        "eval.episodes": [1, 2],
        "checkpoint.keep": [1],
    }


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ("policy_kwargs.mode", "expected KEY=V1,V2"),
        ("=psp,shared", "expected KEY=V1,V2"),
        ("policy_kwargs.mode=", "an empty value"),
        ("policy_kwargs.mode=psp,,shared", "an empty value"),
        ("policy_kwargs.net_arch=[8,[8]", "unbalanced"),
        ("policy_kwargs..mode=psp", "Bad --grid key"),
        ("polcy_kwargs.mode=psp", "Unknown --grid key 'polcy_kwargs.mode'. Did you mean 'policy_kwargs'"),
        ("seed=1,2", "use --seeds"),
        ("run_dir=a,b", "use --out"),
    ],
)
def test_bad_grid_items_name_the_fix(item: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_grid_item(item)


def test_expansion_labels_and_ids() -> None:
    points = expand_grid({"policy_kwargs.mode": ["psp", "shared"], "hyperparams.learning_rate": [1e-3, 1e-4]})
    assert points[1] == {"policy_kwargs.mode": "psp", "hyperparams.learning_rate": 1e-4}
    assert len(points) == 4 and expand_grid({}) == [{}]
    assert point_label(points[1]) == "mode=psp learning_rate=0.0001"
    assert point_label({}) == "(base)" and trial_id(0, {}, 3) == "g00_base__s3"
    assert trial_id(12, {"policy_kwargs.net_arch": [64, 64]}, 1) == "g12_net_arch-64-64__s1"
    # values go back to --set text that reads as the same value
    assert [value_text(v) for v in ("psp", "1e-3", "yes", [8], 0.5)] == [
        "psp",
        '"1e-3"',
        '"yes"',
        "[8]",
        "0.5",
    ]
    with pytest.raises(ValueError, match="given twice"):
        parse_grid(["eval.episodes=1", "eval.episodes=2"])


def test_every_run_config_is_validated_with_the_closest_key(tmp_path: Path) -> None:
    spec = SweepSpec(
        seeds=[0, 1], grid={"policy_kwargs.mode": ["psp", "shared"]}, num_tasks=2, set=["eval.episodes=1"]
    )
    trials = build_trials(spec, tmp_path)
    assert [[t["trial_id"] for t in row] for row in trials] == [
        ["g00_mode-psp__s0", "g00_mode-psp__s1"],
        ["g01_mode-shared__s0", "g01_mode-shared__s1"],
    ]
    cfg = trials[1][1]["config"]
    assert cfg["policy_kwargs"]["mode"] == "shared" and cfg["seed"] == 1 and cfg["eval"]["episodes"] == 1
    assert trials[1][1]["run_root"] == str(tmp_path / "runs" / "g01_mode-shared__s1")
    assert "policy_kwargs.mode=shared" in trials[1][1]["command"]
    bad = SweepSpec(grid={"policy_kwargs.mod": ["psp"]})
    with pytest.raises(
        ValueError, match=r"grid point mod=psp: Unknown policy_kwargs .* 'mod'. Did you mean 'mode'"
    ):
        build_trials(bad, tmp_path)
    with pytest.raises(ValueError, match="Did you mean 'pspx'|Did you mean 'psp'"):
        build_trials(SweepSpec(grid={"policy_kwargs.mode": ["psp", "pspx"]}), tmp_path)
    with pytest.raises(ValueError, match="Unknown eval key 'episode'"):  # a shared override, not a grid point
        build_trials(SweepSpec(set=["eval.episode=1"], grid={"policy_kwargs.mode": ["psp"]}), tmp_path)
    with pytest.raises(ValueError, match="use --seeds"):
        build_trials(SweepSpec(set=["seed=3"]), tmp_path)
    assert not (tmp_path / "runs").exists()  # validation writes nothing


def test_sweep_file_and_command_line(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "agent: ppo-psp\nseeds: [0, 1]\ngrid:\n  policy_kwargs.mode: [psp, shared]\n"
        "set: {eval.episodes: 2}\nnum_tasks: 2\nworkers: 2\ngpus_per_run: 0.5\nout: sweeps/x\n"
    )
    options = {
        "file": str(path),
        "grid": ["hyperparams.learning_rate=1e-3,1e-4"],
        "sets": [["n_envs=2"]],
        "seeds": None,
        "num_tasks": 3,
    }
    spec, out, resume = spec_from_options(options)
    assert out == Path("sweeps/x") and not resume
    assert spec.grid == {"policy_kwargs.mode": ["psp", "shared"], "hyperparams.learning_rate": [1e-3, 1e-4]}
    assert spec.set == ["eval.episodes=2", "n_envs=2"] and spec.num_tasks == 3 and spec.seeds == [0, 1]
    assert spec.workers == 2 and spec.gpus_per_run == 0.5 and len(spec.points()) == 4

    path.write_text("agent: ppo-psp\nsedes: [0, 1]\n")
    with pytest.raises(ValueError, match="Unknown key 'sedes' in sweep file .* Did you mean 'seeds'"):
        load_sweep_file(path)
    path.write_text("grid: {policy_kwargs.mode: []}\nout: x\n")
    with pytest.raises(ValueError, match="needs a non-empty list"):
        spec_from_options({"file": str(path)})
    path.write_text("- a\n")
    with pytest.raises(ValueError, match="a sweep file is a mapping"):
        load_sweep_file(path)
    with pytest.raises(FileNotFoundError, match="no such sweep file"):
        load_sweep_file(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="needs --out DIR"):
        spec_from_options({"grid": ["policy_kwargs.mode=psp"]})
    with pytest.raises(ValueError, match="drop --agent, --set"):
        spec_from_options({"resume": str(tmp_path), "agent": "ppo-psp", "sets": [["a=1"]]})
    with pytest.raises(ValueError, match="not a sweep definition"):
        spec_from_options({"resume": str(tmp_path)})  # its sweep.yaml is the list above
    with pytest.raises(ValueError, match="not a sweep folder"):
        spec_from_options({"resume": str(tmp_path / "runs")})
    with pytest.raises(ValueError, match="distinct integers"):
        SweepSpec(seeds=[0, 0])
    with pytest.raises(ValueError, match="--workers must be a positive integer"):
        SweepSpec(workers=0)


def test_arms_are_crossed_with_the_grid_and_each_adds_its_own_overrides(tmp_path: Path) -> None:
    from psp_rl.sweep.grid import SweepSpec

    spec = SweepSpec.from_mapping(
        {
            "agent": "ppo-psp",
            "seeds": [0],
            "arms": {"psp": [], "ewc": ["policy_kwargs.mode=shared", "ewc.lambda=100"]},
            "grid": {"eval.episodes": [1, 2]},
        }
    )
    points = spec.points()
    assert [p["arm"] for p in points] == ["psp", "psp", "ewc", "ewc"]
    configs = spec.configs(tmp_path)
    assert [c[0].policy_kwargs.get("mode", "psp") for c in configs] == ["psp", "psp", "shared", "shared"]
    assert [c[0].continual["ewc"]["lambda"] for c in configs] == [0.0, 0.0, 100, 100]
    assert [c[0].eval["episodes"] for c in configs] == [1, 2, 1, 2]
    with pytest.raises(ValueError, match="arm 'bad'"):
        SweepSpec.from_mapping({"agent": "ppo-psp", "arms": {"bad": 3}})
