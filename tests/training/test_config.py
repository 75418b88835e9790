"""Preset loading, validation and ``--set`` overrides: clear errors naming the fix."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from torch import nn

from psp_rl.resources import list_yaml
from psp_rl.training.build import build_hyperparams, build_policy_kwargs
from psp_rl.training.config import (
    ALGOS,
    PRESET_KEYS,
    TrainConfig,
    load_preset,
    mechanism_names,
    parse_overrides,
    resolve_config,
)
from psp_rl.training.config.validation import init_types

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
        assert set(data) <= {*PRESET_KEYS, *mechanism_names()}


def test_optimizers_by_name() -> None:
    import torch

    cfg = resolve_config("ppo-psp", sets=["policy_kwargs.optimizer_class=RMSprop"])
    assert build_policy_kwargs(cfg.policy_kwargs)["optimizer_class"] is torch.optim.RMSprop
    assert resolve_config("ppo-psp-minigrid").policy_kwargs["optimizer_class"] == "RMSprop"


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


# Every value is checked against the type its key needs: (agent, --set item, key, value repr, expected type).
BAD_VALUES = [
    (
        "ppo-psp",
        "hyperparams.learning_rate=abc",
        "hyperparams.learning_rate",
        "'abc'",
        "a number or a lin_<number>",
    ),
    (
        "ppo-psp",
        "hyperparams.learning_rate=lin_fast",
        "hyperparams.learning_rate",
        "'lin_fast'",
        "lin_<number>",
    ),
    ("ppo-psp", "hyperparams.learning_rate=true", "hyperparams.learning_rate", "True", "a number"),
    ("ppo-psp", "hyperparams.n_steps=1.5", "hyperparams.n_steps", "1.5", "an integer"),
    ("ppo-psp", "hyperparams.n_steps=true", "hyperparams.n_steps", "True", "an integer"),
    (
        "ppo-psp",
        "hyperparams.clip_range=wide",
        "hyperparams.clip_range",
        "'wide'",
        "a number or a lin_<number>",
    ),
    ("ppo-psp", "hyperparams.target_kl=x", "hyperparams.target_kl", "'x'", "a number or null"),
    ("ppo-psp", "hyperparams.normalize_advantage=1", "hyperparams.normalize_advantage", "1", "true or false"),
    ("ppo-psp", "hyperparams.rollout_buffer_kwargs=3", "hyperparams.rollout_buffer_kwargs", "3", "a mapping"),
    (
        "ppo-psp",
        "hyperparams.rollout_buffer_class=RolloutBuffer",
        "hyperparams.rollout_buffer_class",
        "'RolloutBuffer'",
        "type[RolloutBuffer]",
    ),
    ("a2c-psp", "hyperparams.rms_prop_eps=tiny", "hyperparams.rms_prop_eps", "'tiny'", "a number"),
    ("a2c-psp", "hyperparams.use_rms_prop=2", "hyperparams.use_rms_prop", "2", "true or false"),
    (
        "dqn-psp",
        "hyperparams.exploration_fraction=abc",
        "hyperparams.exploration_fraction",
        "'abc'",
        "a number",
    ),
    (
        "dqn-psp",
        "hyperparams.target_update_interval=1e3",
        "hyperparams.target_update_interval",
        "1000.0",
        "an integer",
    ),
    (
        "dqn-psp",
        "hyperparams.train_freq=[4, steps]",
        "hyperparams.train_freq",
        "[4, 'steps']",
        "an integer or a [integer, step|episode] list",
    ),
    (
        "sac-psp",
        "hyperparams.ent_coef=abc",
        "hyperparams.ent_coef",
        "'abc'",
        "auto|auto_<number> or a number",
    ),
    ("sac-psp", "hyperparams.target_entropy=low", "hyperparams.target_entropy", "'low'", "auto or a number"),
    ("sac-psp", "hyperparams.buffer_size=big", "hyperparams.buffer_size", "'big'", "an integer"),
    (
        "td3-psp",
        "hyperparams.action_noise={type: normal, sigma: x}",
        "hyperparams.action_noise",
        "{'type': 'normal', 'sigma': 'x'}",
        "a mapping {type: normal|ornstein-uhlenbeck, sigma: <number>}",
    ),
    ("td3-psp", "hyperparams.action_noise=0.1", "hyperparams.action_noise", "0.1", "a mapping {type:"),
    ("td3-psp", "hyperparams.policy_delay=2.5", "hyperparams.policy_delay", "2.5", "an integer"),
    (
        "ppo-psp",
        "policy_kwargs.net_arch=abc",
        "policy_kwargs.net_arch",
        "'abc'",
        "a list of positive integers",
    ),
    ("ppo-psp", "policy_kwargs.net_arch=[64, 0]", "policy_kwargs.net_arch", "[64, 0]", "positive integers"),
    (
        "ppo-psp",
        "policy_kwargs.net_arch={pi: [8], qf: [8]}",
        "policy_kwargs.net_arch",
        "{'pi': [8], 'qf': [8]}",
        "{pi|vf: lists of positive integers}",
    ),
    (
        "sac-psp",
        "policy_kwargs.net_arch={pi: [8], vf: [8]}",
        "policy_kwargs.net_arch",
        "{'pi': [8], 'vf': [8]}",
        "{pi|qf: lists of positive integers}",
    ),
    (
        "dqn-psp",
        "policy_kwargs.net_arch={pi: [8]}",
        "policy_kwargs.net_arch",
        "{'pi': [8]}",
        "a list of positive integers or null",
    ),
    ("ppo-psp", "policy_kwargs.context_seed=x", "policy_kwargs.context_seed", "'x'", "an integer"),
    ("ppo-psp", "policy_kwargs.context=[binary]", "policy_kwargs.context", "['binary']", "a string"),
    ("ppo-psp", "policy_kwargs.task_bias=1", "policy_kwargs.task_bias", "1", "true or false"),
    ("ppo-psp", "policy_kwargs.activation_fn=3", "policy_kwargs.activation_fn", "3", "an activation name"),
    ("ppo-psp", "policy_kwargs.log_std_init=low", "policy_kwargs.log_std_init", "'low'", "a number"),
    (
        "ppo-psp",
        "policy_kwargs.optimizer_class=Adamax",
        "policy_kwargs.optimizer_class",
        "'Adamax'",
        "Adam|AdamW|RMSprop|SGD",
    ),  # optimizers by name (torch.optim class names), like activation_fn
    (
        "ppo-psp",
        "policy_kwargs.features_extractor_kwargs=3",
        "policy_kwargs.features_extractor_kwargs",
        "3",
        "a mapping or null",
    ),
    (
        "ppo-psp",
        "policy_kwargs.features_extractor_kwargs.lift_dim=x",
        "policy_kwargs.features_extractor_kwargs.lift_dim",
        "'x'",
        "an integer or null",
    ),
    ("sac-psp", "policy_kwargs.n_critics=two", "policy_kwargs.n_critics", "'two'", "an integer"),
    ("ppo-psp", "eval.episodes=x", "eval.episodes", "'x'", "an integer >= 1"),
    ("ppo-psp", "eval.n_envs=1.5", "eval.n_envs", "1.5", "an integer >= 1 or null"),
    ("ppo-psp", "eval.deterministic=x", "eval.deterministic", "'x'", "true or false"),
    ("ppo-psp", "checkpoint.keep=true", "checkpoint.keep", "True", "an integer >= 1"),
    ("ppo-psp", "checkpoint.save_replay_buffer=x", "checkpoint.save_replay_buffer", "'x'", "true or false"),
    ("ppo-psp", "normalize.clip_obs=x", "normalize.clip_obs", "'x'", "a number"),
    ("ppo-psp", "normalize.norm_reward=3", "normalize.norm_reward", "3", "true or false"),
    ("ppo-psp", "normalize=abc", "normalize", "'abc'", "true, false or a mapping"),
    ("ppo-psp", "seed=x", "seed", "'x'", "an integer"),
    ("ppo-psp", "seed=true", "seed", "True", "an integer"),
    ("ppo-psp", "num_tasks=2.0", "num_tasks", "2.0", "an integer or null"),
    ("ppo-psp", "algo=[ppo]", "algo", "['ppo']", "a string"),
    ("ppo-psp", "device=3", "device", "3", "a string"),
    ("ppo-psp", "reference=[0.5, x]", "reference", "[0.5, 'x']", "a string, a list of numbers or null"),
    ("ppo-psp", "eval=3", "eval", "3", "a mapping"),
    ("ppo-psp", "hyperparams=abc", "hyperparams", "'abc'", "a mapping"),
    ("ppo-psp", "suite_overrides=3", "suite_overrides", "3", "a mapping"),
]


@pytest.mark.parametrize(("agent", "item", "key", "value", "expected"), BAD_VALUES)
def test_every_value_is_checked(agent: str, item: str, key: str, value: str, expected: str) -> None:
    with pytest.raises(ValueError) as info:
        resolve_config(agent, sets=[item])
    message = str(info.value)
    assert message.startswith(f"{key} "), message  # names the key first
    assert f"got {value} " in message, message  # the value
    assert expected in message, message  # the expected type
    assert "--set" in message or "remove" in message, message  # and the fix
    assert "\n" not in message


def test_type_error_message_shows_a_working_fix() -> None:
    with pytest.raises(ValueError) as info:
        resolve_config("ppo-psp", sets=["hyperparams.learning_rate=abc"])
    assert str(info.value) == (
        "hyperparams.learning_rate must be a number or a lin_<number> schedule (e.g. lin_3e-4), got 'abc' "
        "(a string). Fix it in the preset or with e.g. --set hyperparams.learning_rate=0.0003."
    )
    # the example of the fix (SB3's default, quoted for the shell when needed) passes the check itself
    with pytest.raises(ValueError) as info:
        resolve_config("ppo-psp", sets=["policy_kwargs.net_arch=abc"])
    example = re.search(r"--set '(.*)'\.$", str(info.value))
    assert example is not None
    assert resolve_config("ppo-psp", sets=[example.group(1)]).policy_kwargs["net_arch"] == [64, 64]


@pytest.mark.parametrize(
    ("agent", "sets", "check"),
    [
        ("ppo-psp", ["hyperparams.learning_rate=lin_3e-4", "hyperparams.clip_range=lin_0.2"], None),
        ("ppo-psp", ["hyperparams.learning_rate=1", "hyperparams.clip_range_vf=null"], None),  # int for float
        ("ppo-psp", ["hyperparams.target_kl=0.02", "hyperparams.normalize_advantage=false"], None),
        ("a2c-psp", ["hyperparams.use_rms_prop=false", "hyperparams.rms_prop_eps=1e-5"], None),
        ("dqn-psp", ["hyperparams.train_freq=[1, episode]", "hyperparams.exploration_fraction=0"], None),
        ("sac-psp", ["hyperparams.ent_coef=auto_0.1", "hyperparams.target_entropy=-2"], None),
        ("sac-psp", ["hyperparams.ent_coef=0.05", "hyperparams.target_entropy=auto"], None),
        ("td3-psp", ["hyperparams.action_noise={type: ornstein-uhlenbeck, sigma: 0.2}"], None),
        ("td3-psp", ["hyperparams.action_noise=null", "hyperparams.train_freq=[2, step]"], None),
        (
            "ppo-psp",
            ["policy_kwargs.net_arch={pi: [32], vf: [32, 32]}", "policy_kwargs.context_seed=7"],
            None,
        ),
        ("sac-psp", ["policy_kwargs.net_arch={pi: [32], qf: [32]}", "policy_kwargs.n_critics=3"], None),
        ("ppo-psp", ["policy_kwargs.task_bias=false", "policy_kwargs.activation_fn=relu"], None),
        ("ppo-psp", ["policy_kwargs.features_extractor_kwargs={lift_dim: 0, cnn_output_dim: 32}"], None),
        (
            "ppo-psp",
            ["policy_kwargs.optimizer_kwargs={eps: 1e-5}", "policy_kwargs.log_std_init=-1e-1"],
            ("policy_kwargs", "log_std_init", -0.1),
        ),
        ("ppo-psp", ["normalize={norm_reward: false, clip_obs: 5}", "reference=[0.5, 1]"], None),
        (
            "ppo-psp",
            ["eval.n_envs=null", "eval.deterministic=false", "checkpoint.save_replay_buffer=false"],
            None,
        ),
    ],
)
def test_valid_values_and_zoo_conventions_pass(agent: str, sets: list[str], check: Any) -> None:
    cfg = resolve_config(agent, sets=sets)
    if check is not None:
        section, key, value = check
        assert getattr(cfg, section)[key] == value


def test_policy_kwargs_the_policy_sets_are_refused_in_the_extractor_kwargs() -> None:
    with pytest.raises(
        ValueError, match="extractor_kwargs.mode is set by the PSP policy: use policy_kwargs.mode"
    ):
        resolve_config("ppo-psp", sets=["policy_kwargs.features_extractor_kwargs={mode: shared}"])
    with pytest.raises(ValueError, match="Did you mean 'lift_dim'"):
        resolve_config("ppo-psp", sets=["policy_kwargs.features_extractor_kwargs.lift=0"])
    # an SB3 policy: its own extractor's arguments (MultiInputPolicy -> CombinedExtractor)
    sets = ["policy=MultiInputPolicy", "policy_kwargs={features_extractor_kwargs: {cnn_output_dim: x}}"]
    with pytest.raises(ValueError, match="cnn_output_dim must be an integer, got 'x'"):
        resolve_config("ppo-psp", sets=sets)


def test_preset_file_values_are_checked(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("algo: ppo\nhyperparams: {n_steps: 1.5}\n")
    with pytest.raises(ValueError, match=re.escape("hyperparams.n_steps must be an integer, got 1.5")):
        resolve_config(str(path))
    # YAML 1.1 reads -1e-1 as a string; like hyperparams, policy_kwargs turn it into a number
    path.write_text("algo: ppo\npolicy_kwargs: {net_arch: [64, 64], log_std_init: -1e-1}\n")
    assert resolve_config(str(path)).policy_kwargs["log_std_init"] == pytest.approx(-0.1)


def test_saved_config_values_are_checked() -> None:
    data = resolve_config("dqn-psp").to_dict()
    data["hyperparams"]["learning_starts"] = "soon"
    with pytest.raises(ValueError, match="hyperparams.learning_starts must be an integer, got 'soon'"):
        TrainConfig.from_dict(data)


def test_every_shipped_preset_validates() -> None:
    presets = list_yaml("agents")
    assert set(PRESETS) <= set(presets)
    for name in presets:
        cfg = resolve_config(name)
        assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("algo", [PPO, A2C, DQN, SAC, TD3])
def test_expected_types_come_from_the_sb3_type_hints(algo: type) -> None:
    table = init_types(algo)
    assert {"learning_rate", "gamma", "n_steps"} <= set(table)
    assert table["learning_rate"][0].text.startswith("a number")  # float | Schedule
    assert table["gamma"][0].text == "a number"
    assert table["learning_rate"][0].test(3e-4) and not table["learning_rate"][0].test(True)
    if "train_freq" in table:  # int | tuple[int, str]
        assert table["train_freq"][0].test(4) and table["train_freq"][0].test([1, "episode"])


def test_init_types_follow_kwargs_up_the_mro_and_skip_unresolved_hints() -> None:
    class Base:
        def __init__(self, width: int = 8, rate: float | None = None, names: list[str] | None = None) -> None:
            pass

    class Child(Base):
        def __init__(self, flag: bool = True, other: Undefined = None, **kwargs: Any) -> None:  # type: ignore[name-defined]  # noqa: F821
            super().__init__(**kwargs)

    table = init_types(Child)
    assert list(table) == ["flag", "other", "width", "rate", "names"]
    assert table["flag"][0].text == "true or false" and table["flag"][1] is True
    assert table["other"][0].test(object())  # a hint that does not resolve accepts any value
    assert table["width"][0].test(3) and not table["width"][0].test(True) and not table["width"][0].test(3.0)
    assert table["rate"][0].test(1) and table["rate"][0].test(None) and not table["rate"][0].test("x")
    assert table["names"][0].test(["a"]) and not table["names"][0].test(["a", 1])


# Numbers out of their range (psp_rl.training.config.ranges): (agent, --set item, words of the message).
OUT_OF_RANGE = [
    ("ppo-psp", "hyperparams.gamma=1.5", ["hyperparams.gamma must be a number in [0, 1]", "got 1.5"]),
    ("ppo-psp", "hyperparams.learning_rate=0", ["hyperparams.learning_rate must be a number > 0", "got 0"]),
    ("ppo-psp", "hyperparams.clip_range=lin_-0.2", ["hyperparams.clip_range", "'lin_-0.2'"]),
    ("ppo-psp", "hyperparams.n_epochs=0", ["hyperparams.n_epochs must be an integer >= 1"]),
    ("ppo-psp", "hyperparams.ent_coef=-0.01", ["hyperparams.ent_coef must be a number >= 0"]),
    ("ppo-psp", "hyperparams.n_steps=0", ["hyperparams.n_steps must be an integer >= 1"]),
    ("ppo-psp", "hyperparams.batch_size=1", ["hyperparams.batch_size must be an integer >= 2"]),
    ("sac-psp", "hyperparams.ent_coef=0", ["hyperparams.ent_coef must be auto, auto_<x> or a number > 0"]),
    ("sac-psp", "hyperparams.ent_coef=auto_-1", ["hyperparams.ent_coef", "'auto_-1'"]),
    ("sac-psp", "hyperparams.tau=1.5", ["hyperparams.tau must be a number in [0, 1]"]),
    ("td3-psp", "hyperparams.action_noise={type: normal, sigma: -1}", ["hyperparams.action_noise.sigma"]),
    ("td3-psp", "hyperparams.policy_delay=0", ["hyperparams.policy_delay must be an integer >= 1"]),
    ("dqn-psp", "hyperparams.exploration_final_eps=2", ["hyperparams.exploration_final_eps", "[0, 1]"]),
    ("dqn-psp", "hyperparams.train_freq=[0, step]", ["hyperparams.train_freq", "[0, 'step']"]),
    ("dqn-psp", "hyperparams.buffer_size=0", ["hyperparams.buffer_size must be an integer >= 1"]),
    ("ppo-psp", "n_envs=2000", ["n_envs must be at most 1000, got 2000"]),
    ("ppo-psp", "eval.n_envs=5000", ["eval.n_envs must be at most 1000"]),
    ("ppo-psp", "num_tasks=200000", ["num_tasks must be at most 100000"]),
]


@pytest.mark.parametrize(("agent", "item", "words"), OUT_OF_RANGE)
def test_numbers_out_of_their_range_are_refused(agent: str, item: str, words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        resolve_config(agent, sets=[item])
    message = str(info.value)
    assert "\n" not in message and ("--set" in message or "e.g." in message), message  # one line, the fix
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize(
    ("agent", "sets"),
    [
        ("ppo-psp", ["hyperparams.gamma=1", "hyperparams.gae_lambda=0", "hyperparams.ent_coef=0"]),
        ("ppo-psp", ["hyperparams.gamma=0", "hyperparams.batch_size=2", "hyperparams.target_kl=null"]),
        ("ppo-psp", ["hyperparams.batch_size=1", "hyperparams.normalize_advantage=false"]),
        ("a2c-psp", ["hyperparams.n_steps=1", "n_envs=1"]),
        ("dqn-psp", ["hyperparams.gradient_steps=-1", "hyperparams.learning_starts=0", "hyperparams.tau=1"]),
        ("sac-psp", ["hyperparams.ent_coef=auto", "hyperparams.train_freq=[1, episode]"]),
        ("ppo-psp", ["n_envs=1000", "eval.n_envs=1000", "seed=2147483647"]),
    ],
)
def test_the_edges_of_the_ranges_pass(agent: str, sets: list[str]) -> None:
    resolve_config(agent, sets=sets)
