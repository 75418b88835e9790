"""Preset loading, validation and ``--set`` overrides: clear errors naming the fix."""

from __future__ import annotations

import pytest
import yaml
from torch import nn

from psp_rl.resources import list_yaml
from psp_rl.training.build import build_hyperparams, build_policy_kwargs
from psp_rl.training.config import (
    ALGOS,
    PRESET_KEYS,
    TrainConfig,
    load_preset,
    parse_overrides,
    resolve_config,
)

PRESETS = ["ppo-psp", "a2c-psp", "dqn-psp", "sac-psp", "td3-psp"]


@pytest.mark.parametrize("name", PRESETS)
def test_shipped_presets_resolve(name: str) -> None:
    cfg = resolve_config(name)
    assert cfg.agent == name
    assert cfg.algo in ALGOS
    assert cfg.policy == "psp"
    assert cfg.policy_kwargs["context"] == "binary"
    assert cfg.suite in list_yaml("envs")


def test_preset_files_are_plain_safe_yaml() -> None:
    presets = list_yaml("agents")
    assert set(PRESETS) <= set(presets)
    for path in presets.values():
        data = yaml.safe_load(path.read_text())
        assert set(data) <= set(PRESET_KEYS)


def test_overrides_are_yaml_typed() -> None:
    cfg = resolve_config(
        "ppo-psp",
        "cartpole-permuted",
        seed=3,
        n_envs=2,
        sets=[
            "hyperparams.learning_rate=1e-3",
            "policy_kwargs.net_arch=[32, 32]",
            "policy_kwargs.context=complex",
            "eval.episodes=3",
            "normalize=true",
        ],
    )
    assert cfg.hyperparams["learning_rate"] == pytest.approx(1e-3)
    assert isinstance(cfg.hyperparams["learning_rate"], float)
    assert cfg.policy_kwargs["net_arch"] == [32, 32]
    assert cfg.policy_kwargs["context"] == "complex"
    assert cfg.eval == {
        "episodes": 3,
        "eval_freq": 0,
        "deterministic": True,
        "n_envs": None,
        "matrix": "full",
    }
    assert cfg.normalize is True
    assert (cfg.seed, cfg.n_envs) == (3, 2)


def test_explicit_options_then_set_wins() -> None:
    cfg = resolve_config("ppo-psp", n_envs=4, sets=["n_envs=2"])
    assert cfg.n_envs == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"agent": "ppo-ps"}, "Did you mean 'ppo-psp'"),
        ({"sets": ["hyperparams.learning_rat=1e-3"]}, "Did you mean 'learning_rate'"),
        ({"sets": ["hyperparam.learning_rate=1e-3"]}, "Did you mean 'hyperparams'"),
        ({"sets": ["policy_kwargs.contex=binary"]}, "Did you mean 'context'"),
        ({"sets": ["policy_kwargs.context=binry"]}, "Did you mean 'binary'"),
        ({"sets": ["policy_kwargs.activation_fn=rellu"]}, "Did you mean 'relu'"),
        ({"sets": ["policy_kwargs.mode=seperate"]}, "Did you mean 'separate'"),
        ({"sets": ["eval.episode=3"]}, "Did you mean 'episodes'"),
        ({"sets": ["algo=ppp"]}, "Did you mean 'ppo'"),
        ({"sets": ["hyperparams.seed=3"]}, "--seed"),
        ({"sets": ["learning_rate"]}, "expected KEY=VALUE"),
        ({"sets": ["hyperparams..gamma=0.9"]}, "expected KEY=VALUE"),
        ({"sets": ["seed.x=1"]}, "not a mapping"),
        ({"device": "gpu"}, "Did you mean 'cpu'"),
        ({"n_envs": 0}, "n_envs must be an integer >= 1"),
        ({"sets": ["eval.episodes=0"]}, "eval.episodes"),
        ({"sets": ["eval.matrix=diagonl"]}, "Did you mean .diagonal."),
        ({"sets": ["ewc.critic=maybe"]}, "ewc.critic must be true or false"),
    ],
)
def test_config_errors_name_the_fix(kwargs: dict, match: str) -> None:
    agent = kwargs.pop("agent", "ppo-psp")
    with pytest.raises(ValueError, match=match):
        resolve_config(agent, **kwargs)


def test_unknown_key_in_preset_file(tmp_path) -> None:
    path = tmp_path / "my-agent.yaml"
    path.write_text("algo: ppo\nhyperparms: {}\n")
    with pytest.raises(ValueError, match="Did you mean 'hyperparams'"):
        load_preset(str(path))


def test_preset_from_a_path(tmp_path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text("algo: a2c\nn_envs: 2\nhyperparams: {n_steps: 8}\n")
    cfg = resolve_config(str(path), "cartpole-permuted")
    assert (cfg.algo, cfg.n_envs, cfg.hyperparams["n_steps"]) == ("a2c", 2, 8)


def test_sb3_policy_alias_is_checked() -> None:
    cfg = resolve_config("ppo-psp", sets=["policy=MultiInputPolicy", "policy_kwargs={net_arch: [8]}"])
    assert cfg.policy == "MultiInputPolicy"
    with pytest.raises(ValueError, match="Did you mean 'MultiInputPolicy'"):
        resolve_config("ppo-psp", sets=["policy=MultiInputPolicyy"])
    with pytest.raises(ValueError, match="Unknown policy_kwargs"):
        resolve_config("ppo-psp", sets=["policy=MultiInputPolicy"])  # keeps the PSP-only `context` key


def test_config_round_trip_ignores_record_keys() -> None:
    cfg = resolve_config("dqn-psp")
    data = cfg.to_dict()
    data["suite_spec"] = {"env_id": "CartPole-v1"}
    data["total_timesteps"] = 10
    assert TrainConfig.from_dict(data) == cfg
    with pytest.raises(ValueError, match="Did you mean 'seed'"):
        TrainConfig.from_dict({**cfg.to_dict(), "sed": 1})


def test_parse_overrides_values() -> None:
    pairs = parse_overrides(["a.b=1e-3", "c=[1, 2]", "d=lin_3e-4", "e=", "f={x: 1}"])
    assert pairs == [
        (["a", "b"], 0.001),
        (["c"], [1, 2]),
        (["d"], "lin_3e-4"),
        (["e"], None),
        (["f"], {"x": 1}),
    ]


def test_build_policy_kwargs_maps_activation_names() -> None:
    out = build_policy_kwargs({"activation_fn": "tanh", "net_arch": [8]})
    assert out["activation_fn"] is nn.Tanh
    assert build_policy_kwargs({"activation_fn": "leaky_relu"})["activation_fn"] is nn.LeakyReLU


def test_build_hyperparams_schedules_and_noise() -> None:
    from gymnasium import spaces
    from stable_baselines3.common.noise import NormalActionNoise

    out = build_hyperparams(
        {
            "learning_rate": "lin_1e-3",
            "train_freq": [1, "episode"],
            "action_noise": {"type": "normal", "sigma": 0.2},
        },
        spaces.Box(-1, 1, shape=(2,)),
    )
    assert out["learning_rate"](1.0) == pytest.approx(1e-3)
    assert out["learning_rate"](0.5) == pytest.approx(5e-4)
    assert out["train_freq"] == (1, "episode")
    assert isinstance(out["action_noise"], NormalActionNoise)
    with pytest.raises(ValueError, match="lin_<number>"):
        build_hyperparams({"learning_rate": "lin_fast"})
    with pytest.raises(ValueError, match="Did you mean 'normal'"):
        build_hyperparams({"action_noise": {"type": "normall"}}, spaces.Box(-1, 1, shape=(1,)))
