"""The protocol sweep files in benchmarks/protocols resolve: every arm's config is valid for every seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from psp_rl.sweep.grid import SweepSpec, load_sweep_file
from psp_rl.sweep.space import check_space, load_space_file, resolver

PROTOCOLS = sorted((Path(__file__).resolve().parents[2] / "benchmarks" / "protocols").glob("*.yaml"))


@pytest.mark.parametrize("path", PROTOCOLS, ids=lambda p: p.stem)
def test_every_arm_of_a_protocol_resolves(path: Path, tmp_path: Path) -> None:
    spec = SweepSpec.from_mapping(load_sweep_file(path))
    configs = spec.configs(tmp_path)
    arms = [point["arm"] for point in spec.points()]
    assert len(arms) == len(set(arms)) == len(spec.arms) > 1
    assert all(len(per_seed) == len(spec.seeds) for per_seed in configs)


def test_the_protocols_are_found() -> None:
    assert {p.stem for p in PROTOCOLS} >= {"mg10", "offpolicy-ablation-dqn", "offpolicy-ablation-sac"}


#: the tune spaces in benchmarks/protocols/spaces and the agent and suite each was written for
SPACES = {"dqn-acrobot": ("dqn-psp", "acrobot-permuted")}


@pytest.mark.parametrize("name", sorted(SPACES))
def test_every_tune_space_resolves_for_its_agent(name: str) -> None:
    path = PROTOCOLS[0].parent / "spaces" / f"{name}.yaml"
    agent, suite = SPACES[name]
    checked = check_space(load_space_file(path), resolver(agent, suite, []), source=str(path))
    assert set(checked) == set(load_space_file(path))
    assert {p.stem for p in path.parent.glob("*.yaml")} == set(SPACES)
