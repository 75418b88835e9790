"""The PSP policies take every network option as a keyword argument, save it with the model, and the
training config accepts it: all three derived from NetworkConfig's one list."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from gymnasium import spaces

from psp_rl import PSPActorCriticPolicy, PSPDQNPolicy, PSPSACPolicy, PSPTD3Policy
from psp_rl.nn import NetworkConfig
from psp_rl.nn.config import NETWORK_OPTIONS
from psp_rl.policies.extractor import TaskFeaturesExtractor
from psp_rl.training.config import PSP_POLICY_KEYS
from psp_rl.training.config.types import init_types

POLICIES = [PSPActorCriticPolicy, PSPDQNPolicy, PSPSACPolicy, PSPTD3Policy]
# every option away from its default, on a space with a coordinate (for drift_context and coord_input)
OPTIONS: dict[str, Any] = dict(
    mode="psp",
    context="rotation",
    context_seed=5,
    task_bias=False,
    width_scaling=False,
    base_width=16,
    layer_norm="skip_first",
    drift_context="interpolate",
    drift_keys=3,
    coord_input=True,
    layer_norm_eps=1e-3,
    weight_projection=True,
)


def _space() -> spaces.Dict:
    return spaces.Dict(
        {
            "obs": spaces.Box(-1.0, 1.0, (3,), np.float32),
            "task": spaces.Discrete(2),
            "coord": spaces.Box(0.0, 1.0, (1,), np.float32),
        }
    )


def test_the_test_sets_every_option_away_from_its_default() -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(NetworkConfig)[1:]}
    assert set(OPTIONS) == set(NETWORK_OPTIONS)
    assert [name for name in OPTIONS if OPTIONS[name] == defaults[name] and name != "mode"] == []


@pytest.mark.parametrize("cls", [*POLICIES, TaskFeaturesExtractor], ids=lambda c: c.__name__)
def test_the_constructors_declare_every_option_with_its_type(cls: type) -> None:
    table = init_types(cls, skip=("observation_space", "action_space", "lr_schedule"))
    for name in NETWORK_OPTIONS:
        expected, default = table[name]
        assert default == getattr(NetworkConfig(num_tasks=1), name), name
        assert expected.name != "Any", name  # the config checks know the option's type
    assert set(NETWORK_OPTIONS) <= set(PSP_POLICY_KEYS)


@pytest.mark.parametrize("cls", POLICIES, ids=lambda c: c.__name__)
def test_every_option_is_saved_and_rebuilds_the_same_policy(cls: type) -> None:
    box = spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = spaces.Discrete(2) if cls in (PSPActorCriticPolicy, PSPDQNPolicy) else box
    policy = cls(_space(), action_space, lambda _: 1e-3, net_arch=[8], **OPTIONS)
    assert policy.network_config == NetworkConfig(num_tasks=2, **OPTIONS)
    saved = policy._get_constructor_parameters()
    assert {name: saved[name] for name in NETWORK_OPTIONS} == OPTIONS
    rebuilt = cls(**saved)
    rebuilt.load_state_dict(policy.state_dict())
    assert rebuilt.network_config == policy.network_config
    assert rebuilt.state_dict().keys() == policy.state_dict().keys()
    rng = np.random.default_rng(0)
    obs = {
        "obs": rng.uniform(-1, 1, (4, 3)).astype(np.float32),
        "task": np.array([0, 1, 1, 0]),
        "coord": rng.uniform(0, 1, (4, 1)).astype(np.float32),
    }
    actions = [p.predict(obs, deterministic=True)[0] for p in (policy, rebuilt)]
    assert np.array_equal(actions[0], actions[1])
