"""Variant wrappers: task observation, permutations, physics, drift, composition."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.preprocessing import is_image_space

from psp_rl.envs import (
    PermuteActions,
    PermuteObservation,
    PhysicsDrift,
    PhysicsVariant,
    TaskObservation,
    make_variant_env,
    physics_attributes,
)
from psp_rl.envs.drift import van_der_corput


class BoxEnv(gym.Env):
    """A tiny env with an arbitrary Box observation (any shape / dtype) and a Box action."""

    def __init__(self, shape: tuple[int, ...] = (2, 3), dtype: type = np.float32) -> None:
        if np.issubdtype(dtype, np.integer):
            self.observation_space = spaces.Box(0, 255, shape, dtype=dtype)
        else:
            self.observation_space = spaces.Box(-1.0, 2.0, shape, dtype=dtype)
        self.action_space = spaces.Box(
            np.array([-1.0, 0.0], dtype=np.float32), np.array([1.0, 4.0], dtype=np.float32), dtype=np.float32
        )
        self.last_action: np.ndarray | None = None
        self.t = 0

    def _obs(self) -> np.ndarray:
        return self.observation_space.sample()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:  # a reset without a seed continues the sequence (Gymnasium's convention)
            self.observation_space.seed(seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.last_action = np.asarray(action)
        self.t += 1
        return self._obs(), 1.0, False, self.t >= 5, {}


def _check(env: gym.Env) -> None:
    check_env(env, warn=False)


FAMILY_CASES = [
    ("CartPole-v1", [{"family": "permute_obs"}]),
    ("CartPole-v1", [{"family": "permute_actions"}]),
    ("CartPole-v1", [{"family": "physics", "grid": {"gravity": [9.8, 12.0], "length": [0.5, 1.0]}}]),
    ("CartPole-v1", [{"family": "drift", "attribute": "length", "low": 0.4, "high": 0.6, "period": 50}]),
    ("Pendulum-v1", [{"family": "permute_actions"}]),
    ("Acrobot-v1", [{"family": "physics", "ranges": {"LINK_LENGTH_1": [0.8, 1.2]}}]),
    (
        "CartPole-v1",
        [{"family": "physics", "values": [{"length": 1.0}, {"masspole": 0.3}]}, {"family": "permute_obs"}],
    ),
]


@pytest.mark.parametrize(("env_id", "families"), FAMILY_CASES)
def test_check_env_every_family(env_id: str, families: list[dict]) -> None:
    env = make_variant_env(env_id, families, task=1, num_tasks=2, seed=0)
    assert isinstance(env.observation_space, spaces.Dict)
    assert env.observation_space["task"] == spaces.Discrete(2)
    _check(env)


def _rollout(env: gym.Env, seed: int, steps: int = 30) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [obs["obs"].copy()]
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        out.append(obs["obs"].copy())
        if terminated or truncated:
            obs, _ = env.reset()
            out.append(obs["obs"].copy())
    return out


@pytest.mark.parametrize(("env_id", "families"), FAMILY_CASES)
def test_same_seed_same_rollout(env_id: str, families: list[dict]) -> None:
    a = _rollout(make_variant_env(env_id, families, task=1, num_tasks=2, seed=3), seed=7)
    b = _rollout(make_variant_env(env_id, families, task=1, num_tasks=2, seed=3), seed=7)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_permute_obs_variants_differ_and_are_permutations() -> None:
    base = gym.make("CartPole-v1")
    raw, _ = base.reset(seed=0)
    seen = []
    for k in range(5):
        env = make_variant_env("CartPole-v1", [{"family": "permute_obs"}], task=k, num_tasks=5, seed=0)
        obs, _ = env.reset(seed=0)
        np.testing.assert_allclose(np.sort(np.abs(obs["obs"])), np.sort(np.abs(raw)))
        seen.append(tuple(obs["obs"]))
    assert len(set(seen)) == 5, "all 5 permuted variants should show different observations"


def test_variant_depends_only_on_seed_and_k() -> None:
    small = PermuteObservation(gym.make("CartPole-v1"), num_tasks=3, seed=11)
    large = PermuteObservation(gym.make("CartPole-v1"), num_tasks=6, seed=11)
    other = PermuteObservation(gym.make("CartPole-v1"), num_tasks=3, seed=12)
    for k in range(3):
        np.testing.assert_array_equal(small.permutations[k], large.permutations[k])
        np.testing.assert_array_equal(small.signs[k], large.signs[k])
    assert any(
        not (
            np.array_equal(small.permutations[k], other.permutations[k])
            and np.array_equal(small.signs[k], other.signs[k])
        )
        for k in range(3)
    )


def test_permute_obs_any_box_shape() -> None:
    env = TaskObservation(
        PermuteObservation(BoxEnv((2, 3)), num_tasks=2, seed=0, task=1), task=1, num_tasks=2
    )
    _check(env)
    inner = env.env
    raw = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = inner.observation(raw)
    assert out.shape == (2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(np.sort(np.abs(out).ravel()), raw.ravel())


def test_permute_obs_images_keep_uint8_without_sign_flip() -> None:
    env = PermuteObservation(BoxEnv((8, 8, 3), np.uint8), num_tasks=3, seed=0, task=2)
    assert env.observation_space.dtype == np.uint8
    assert is_image_space(env.observation_space), "a permuted image must still be an SB3 image space"
    assert not env.flip_signs
    raw = np.arange(192, dtype=np.uint8).reshape(8, 8, 3)
    out = env.observation(raw)
    assert out.dtype == np.uint8 and out.shape == raw.shape
    assert not np.array_equal(out, raw)
    np.testing.assert_array_equal(np.sort(out.ravel()), np.sort(raw.ravel()))
    _check(TaskObservation(env, task=2, num_tasks=3))


def test_permute_obs_rejects_non_box() -> None:
    with pytest.raises(ValueError, match="Box observation space"):
        make_variant_env("FrozenLake-v1", [{"family": "permute_obs"}], task=0, num_tasks=2)


def test_permute_actions_discrete_relabels() -> None:
    envs = [PermuteActions(gym.make("CartPole-v1"), num_tasks=2, seed=0, task=k) for k in range(2)]
    maps = [[int(e.action(a)) for a in range(2)] for e in envs]
    assert sorted(maps[0]) == [0, 1] and sorted(maps[1]) == [0, 1]
    assert maps[0] != maps[1], "Discrete(2) has two labellings: both must be used"


def test_permute_actions_box_maps_within_bounds_and_differs() -> None:
    envs = [PermuteActions(BoxEnv(), num_tasks=4, seed=0, task=k) for k in range(4)]
    space = envs[0].action_space
    action = np.array([0.2, 1.0], dtype=np.float32)  # normalised: (0.2, -0.5), all images differ
    mapped = [e.action(action) for e in envs]
    for m in mapped:
        assert space.contains(m)
    assert len({tuple(np.round(m, 5)) for m in mapped}) == 4
    # the corners map to corners: the mapping is a bijection of the box
    corner = envs[1].action(space.high)
    assert np.all(np.isclose(corner, space.low) | np.isclose(corner, space.high))


def test_permute_actions_pendulum_flip_changes_dynamics() -> None:
    envs = [
        make_variant_env("Pendulum-v1", [{"family": "permute_actions"}], task=k, num_tasks=2)
        for k in range(2)
    ]
    finals = []
    for env in envs:
        env.reset(seed=0)
        for _ in range(10):
            obs, *_ = env.step(np.array([2.0], dtype=np.float32))
        finals.append(obs["obs"])
    assert not np.allclose(finals[0], finals[1])


def test_permute_actions_rejects_other_spaces() -> None:
    class MultiEnv(BoxEnv):
        def __init__(self) -> None:
            super().__init__()
            self.action_space = spaces.MultiBinary(3)

    with pytest.raises(ValueError, match="Discrete and Box"):
        PermuteActions(MultiEnv(), num_tasks=2)


def test_physics_sets_attributes_and_derived_quantities() -> None:
    env = make_variant_env(
        "CartPole-v1",
        [{"family": "physics", "values": [{}, {"masspole": 0.5, "length": 1.0}]}],
        task=1,
        num_tasks=2,
    )
    env.reset(seed=0)
    base = env.unwrapped
    assert base.masspole == 0.5 and base.length == 1.0
    assert base.total_mass == pytest.approx(1.5)
    assert base.polemass_length == pytest.approx(0.5)
    env.set_task(0)
    env.reset()
    assert base.masspole == pytest.approx(0.1) and base.length == pytest.approx(0.5), "defaults restored"
    assert base.polemass_length == pytest.approx(0.05)


def test_physics_variants_differ_and_change_dynamics() -> None:
    families = [{"family": "physics", "grid": {"gravity": [9.8, 25.0]}}]
    finals = []
    for k in range(2):
        env = make_variant_env("CartPole-v1", families, task=k, num_tasks=2)
        env.reset(seed=0)
        for _ in range(8):
            obs, *_ = env.step(0)
        finals.append(obs["obs"])
        assert env.unwrapped.gravity == [9.8, 25.0][k]
    assert not np.allclose(finals[0], finals[1])


def test_physics_ranges_deterministic_and_in_bounds() -> None:
    a = PhysicsVariant(
        gym.make("Pendulum-v1"), num_tasks=3, seed=5, ranges={"g": [5.0, 15.0], "m": [0.5, 2.0]}
    )
    b = PhysicsVariant(
        gym.make("Pendulum-v1"), num_tasks=3, seed=5, ranges={"g": [5.0, 15.0], "m": [0.5, 2.0]}
    )
    assert a.variants == b.variants
    assert len({v["g"] for v in a.variants}) == 3
    assert all(5.0 <= v["g"] <= 15.0 and 0.5 <= v["m"] <= 2.0 for v in a.variants)


def test_physics_unknown_attribute_lists_available() -> None:
    with pytest.raises(ValueError, match="gravty") as info:
        make_variant_env("CartPole-v1", [{"family": "physics", "grid": {"gravty": [1.0, 2.0]}}], num_tasks=2)
    assert "Did you mean 'gravity'" in str(info.value)
    assert "masspole" in str(info.value) and "force_mag" in str(info.value)
    assert "gravity" in physics_attributes(gym.make("CartPole-v1"))


def test_physics_bad_specs() -> None:
    env = gym.make("CartPole-v1")
    with pytest.raises(ValueError, match="exactly one of"):
        PhysicsVariant(env, num_tasks=2)
    with pytest.raises(ValueError, match="2 points but K=3"):
        PhysicsVariant(env, num_tasks=3, grid={"gravity": [9.8, 12.0]})
    with pytest.raises(ValueError, match="lists 1 variants but K=2"):
        PhysicsVariant(env, num_tasks=2, values=[{"gravity": 9.8}])


def test_drift_moves_with_steps_and_reports_value() -> None:
    fam = [
        {
            "family": "drift",
            "attribute": "gravity",
            "low": 0.002,
            "high": 0.003,
            "period": 40,
            "kind": "linear",
        }
    ]
    env = make_variant_env("MountainCar-v0", fam, task=0, num_tasks=2)
    _, info = env.reset(seed=0)
    values = [info["drift"]["gravity"]]
    for _ in range(20):
        _, _, _, _, info = env.step(1)
        values.append(info["drift"]["gravity"])
        assert env.unwrapped.gravity == pytest.approx(values[-1])
    assert all(0.002 <= v <= 0.003 for v in values)
    # info reports the value in effect during the step: steps 1..20 use t = 0..19 of a 40-step triangle
    assert values[0] == pytest.approx(0.002) and values[-1] == pytest.approx(0.002 + 0.001 * 19 / 20)
    assert np.all(np.diff(values[1:]) > 0)
    other = make_variant_env("MountainCar-v0", fam, task=1, num_tasks=2)
    _, info1 = other.reset(seed=0)
    assert info1["drift"]["gravity"] != pytest.approx(values[0]), "variants start at different phases"


def test_drift_clock_get_set_through_the_task_observation() -> None:
    fam = [{"family": "drift", "attribute": "gravity", "low": 0.002, "high": 0.003, "period": 40}]
    env = make_variant_env("MountainCar-v0", fam, task=0, num_tasks=2)
    assert isinstance(env, TaskObservation)
    env.reset(seed=0)
    for _ in range(7):
        env.step(1)
    # reached through the task wrapper, as VecEnv.env_method does (get_wrapper_attr)
    assert env.get_wrapper_attr("get_drift_step")() == 7
    rebuilt = make_variant_env("MountainCar-v0", fam, task=0, num_tasks=2)
    assert rebuilt.get_wrapper_attr("get_drift_step")() == 0  # a rebuilt env restarts the clock
    rebuilt.get_wrapper_attr("set_drift_step")(7)
    rebuilt.reset(seed=0)
    _, _, _, _, expected = env.step(1)
    _, _, _, _, got = rebuilt.step(1)
    assert got["drift"]["gravity"] == pytest.approx(expected["drift"]["gravity"])
    assert rebuilt.get_wrapper_attr("get_drift_step")() == env.get_wrapper_attr("get_drift_step")() == 8
    env.reset()  # reset keeps the clock
    assert env.get_wrapper_attr("get_drift_step")() == 8
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="integer >= 0"):
            rebuilt.get_wrapper_attr("set_drift_step")(bad)


def test_drift_bad_kind() -> None:
    with pytest.raises(ValueError, match="Did you mean 'sine'"):
        PhysicsDrift(gym.make("CartPole-v1"), 1, attribute="gravity", low=9, high=10, period=10, kind="sin")


def test_task_observation_switches_only_at_reset() -> None:
    env = make_variant_env("CartPole-v1", [{"family": "permute_obs"}], task=0, num_tasks=3)
    obs, info = env.reset(seed=0)
    assert obs["task"] == 0 and info["task_id"] == 0 and info["task_switched"] is False
    env.set_task(2)
    variant = env.variant_wrappers()[0]
    for _ in range(3):
        obs, _, terminated, truncated, info = env.step(0)
        assert obs["task"] == 0 and info["task_id"] == 0, "set_task must not act mid-episode"
        assert variant.variant == 0
        assert not (terminated or truncated)
    obs, info = env.reset()
    assert obs["task"] == 2 and info["task_id"] == 2 and info["task_switched"] is True
    assert variant.variant == 2
    flags = []
    for _ in range(5):
        _, _, _, _, info = env.step(0)
        flags.append(info["task_switched"])
    assert flags == [True, False, False, False, False], "task_switched is set once, on the first step"
    _, info = env.reset()
    assert info["task_switched"] is False
    obs, info = env.reset(options={"task": 1})
    assert obs["task"] == 1 and info["task_switched"] is True


def test_set_task_same_task_is_not_a_switch() -> None:
    env = make_variant_env("CartPole-v1", [], task=1, num_tasks=2)
    env.reset(seed=0)
    env.set_task(1)
    _, info = env.reset()
    assert info["task_switched"] is False


def test_task_out_of_range() -> None:
    env = make_variant_env("CartPole-v1", [{"family": "permute_obs"}], task=0, num_tasks=3)
    with pytest.raises(ValueError, match="K=3"):
        env.set_task(3)
    with pytest.raises(ValueError, match="K=3"):
        env.set_task(-1)
    with pytest.raises(ValueError, match="K=2"):
        make_variant_env("CartPole-v1", [], task=2, num_tasks=2)


def test_unknown_family_and_parameter() -> None:
    with pytest.raises(ValueError, match="Did you mean 'permute_obs'"):
        make_variant_env("CartPole-v1", [{"family": "permute_ob"}], num_tasks=2)
    with pytest.raises(ValueError, match="Did you mean 'flip_signs'"):
        make_variant_env("CartPole-v1", [{"family": "permute_obs", "flip_sign": False}], num_tasks=2)


def test_mismatched_num_tasks() -> None:
    with pytest.raises(ValueError, match="same K"):
        TaskObservation(PermuteObservation(gym.make("CartPole-v1"), num_tasks=2), task=0, num_tasks=3)


def test_physics_rejects_derived_attributes() -> None:
    with pytest.raises(ValueError, match="computed from masspole and length"):
        PhysicsVariant(gym.make("CartPole-v1"), num_tasks=1, values=[{"polemass_length": 1.0}])


# ------------------------------------------------------------------------------ stability under K
# Variant k must be the same whatever the number of variants K, so an agent can grow from K to K2 tasks.
K_SMALL, K_LARGE = 3, 8


def _gym(env_id: str, families: list[dict], coordinate: bool = False):  # noqa: ANN202
    return lambda K, k: make_variant_env(env_id, families, task=k, num_tasks=K, seed=3, coordinate=coordinate)


def _box(wrapper: type, shape: tuple[int, ...] = (2, 3), dtype: type = np.float32, **kwargs):  # noqa: ANN202
    return lambda K, k: TaskObservation(wrapper(BoxEnv(shape, dtype), K, 3, k, **kwargs), task=k, num_tasks=K)


def _space_key(space: spaces.Space) -> tuple:
    if isinstance(space, spaces.Box):
        return ("Box", space.shape, str(space.dtype), space.low.tolist(), space.high.tolist())
    assert isinstance(space, spaces.Discrete)
    return ("Discrete", int(space.n), int(space.start))


def _fixed_actions(space: spaces.Space, steps: int) -> list:
    rng = np.random.default_rng(0)
    if isinstance(space, spaces.Discrete):
        return [int(space.start) + int(rng.integers(space.n)) for _ in range(steps)]
    return [rng.uniform(space.low, space.high).astype(space.dtype) for _ in range(steps)]


def variant_trace(env: TaskObservation, seed: int = 5, steps: int = 20) -> dict:
    """Everything of one variant that could depend on K: spaces, parameters, a rollout of fixed actions."""
    base = env.unwrapped

    def physics() -> dict:
        last = getattr(base, "last_action", None)
        values = {n: float(getattr(base, n)) for n in physics_attributes(env)}
        return {**values, "last_action": None if last is None else np.asarray(last).tolist()}

    params = []
    for wrapper in env.variant_wrappers():
        k = wrapper.variant
        if isinstance(wrapper, (PermuteObservation, PermuteActions)):
            params.append((wrapper.permutations[k].tolist(), wrapper.signs[k].tolist()))
        elif isinstance(wrapper, PhysicsVariant):
            params.append(wrapper.params(k))
        elif isinstance(wrapper, PhysicsDrift):
            params.append((wrapper.phase(k), wrapper.values(0, k), wrapper.values(7, k)))

    def coord(obs: dict) -> list | None:
        return obs["coord"].tolist() if "coord" in obs else None

    trace: dict = {
        "obs_space": _space_key(env.observation_space["obs"]),
        "coord_space": (
            _space_key(env.observation_space["coord"]) if "coord" in env.observation_space.spaces else None
        ),
        "keys": list(env.observation_space.spaces),
        "action_space": _space_key(env.action_space),
        "params": params,
    }
    obs, info = env.reset(seed=seed)
    rollout = [(obs["obs"].tolist(), int(obs["task"]), coord(obs), info.get("drift"), physics())]
    for action in _fixed_actions(env.action_space, steps):
        obs, reward, terminated, truncated, info = env.step(action)
        rollout.append(
            (
                obs["obs"].tolist(),
                coord(obs),
                float(reward),
                terminated,
                truncated,
                info.get("drift"),
                physics(),
            )
        )
        if terminated or truncated:
            obs, info = env.reset()
            rollout.append((obs["obs"].tolist(), int(obs["task"]), coord(obs), info.get("drift"), physics()))
    trace["rollout"] = rollout
    return trace


PHYSICS_VALUES = [
    {},
    {"length": 1.0},
    {"masspole": 0.5},
    {"gravity": 15.0},
    {"force_mag": 5.0, "masscart": 1.5},
    {"tau": 0.01},
    {"length": 0.3},
    {"gravity": 5.0},
]
DRIFT = {"family": "drift", "attribute": "gravity", "low": 0.002, "high": 0.003, "period": 16}
K_CASES = {
    "permute_obs-flips": _gym("CartPole-v1", [{"family": "permute_obs", "flip_signs": True}]),
    "permute_obs-no-flips": _gym("Acrobot-v1", [{"family": "permute_obs", "flip_signs": False}]),
    "permute_obs-box-flips": _box(PermuteObservation),
    "permute_obs-box-no-flips": _box(PermuteObservation, flip_signs=False),
    "permute_obs-uint8": _box(PermuteObservation, (4, 4, 3), np.uint8),
    "permute_actions-discrete2": _gym("CartPole-v1", [{"family": "permute_actions"}]),
    "permute_actions-discrete3": _gym("Acrobot-v1", [{"family": "permute_actions"}]),
    "permute_actions-box": _box(PermuteActions),
    "permute_actions-box-1d": _gym("Pendulum-v1", [{"family": "permute_actions"}]),
    "physics-grid": _gym(
        "CartPole-v1",
        [{"family": "physics", "grid": {"gravity": [9.8, 12.0, 15.0], "length": [0.5, 1.0, 1.5]}}],
    ),
    "physics-values": _gym("CartPole-v1", [{"family": "physics", "values": PHYSICS_VALUES}]),
    "physics-ranges": _gym(
        "Pendulum-v1", [{"family": "physics", "ranges": {"g": [5.0, 15.0], "m": [0.5, 2.0]}}]
    ),
    "drift-sine": _gym("MountainCar-v0", [{**DRIFT, "phase_per_task": True}]),
    "drift-linear": _gym("MountainCar-v0", [{**DRIFT, "kind": "linear", "phase_per_task": True}]),
    "drift-no-phase": _gym("MountainCar-v0", [{**DRIFT, "phase_per_task": False}]),
    "drift-sine-coord": _gym("MountainCar-v0", [{**DRIFT, "phase_per_task": True}], coordinate=True),
    "drift-linear-coord": _gym(
        "MountainCar-v0", [{**DRIFT, "kind": "linear", "phase_per_task": True}], coordinate=True
    ),
    "drift-attributes-coord": _gym(
        "Pendulum-v1",
        [
            {"family": "drift", "attributes": {"g": [6.0, 14.0], "m": [0.7, 1.5]}, "period": 16},
            {"family": "permute_obs"},
        ],
        coordinate=True,
    ),
    "composed": _gym(
        "CartPole-v1",
        [
            {"family": "physics", "values": PHYSICS_VALUES},
            {"family": "permute_obs"},
            {"family": "permute_actions"},
        ],
    ),
}


@pytest.mark.parametrize("case", list(K_CASES))
def test_variant_k_is_the_same_whatever_k(case: str) -> None:
    build = K_CASES[case]
    for k in range(K_SMALL):
        small, large = build(K_SMALL, k), build(K_LARGE, k)
        assert small.observation_space["task"] == spaces.Discrete(K_SMALL)  # the only K-dependent part
        assert large.observation_space["task"] == spaces.Discrete(K_LARGE)
        assert variant_trace(small) == variant_trace(large), (
            f"variant {k} changed from K={K_SMALL} to {K_LARGE}"
        )


def test_k_stable_cases_have_distinct_variants() -> None:
    # the stability test would pass trivially if every variant were the same
    for case in (
        "permute_obs-flips",
        "permute_actions-box",
        "physics-ranges",
        "drift-sine",
        "drift-sine-coord",
    ):
        traces = [variant_trace(K_CASES[case](K_SMALL, k)) for k in range(K_SMALL)]
        assert traces[0] != traces[1] != traces[2] != traces[0], case


class BoundsEnv(BoxEnv):
    """A Box observation with different bounds per entry."""

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = spaces.Box(
            np.array([0.0, -1.0, 2.0], dtype=np.float32), np.array([1.0, 3.0, 5.0], dtype=np.float32)
        )


@pytest.mark.parametrize(
    ("make", "flips", "low", "high"),
    [
        (BoundsEnv, True, -5.0, 5.0),  # entries and their negations: [-5, 5] at every position
        (BoundsEnv, False, -1.0, 5.0),  # every entry can land anywhere: [min low, max high]
        (lambda: BoxEnv((2, 3)), True, -2.0, 2.0),
        (lambda: BoxEnv((2, 3)), False, -1.0, 2.0),
        (lambda: BoxEnv((4, 4, 3), np.uint8), True, 0, 255),  # integers are never flipped
        (lambda: gym.make("CartPole-v1"), True, -np.inf, np.inf),
        (lambda: gym.make("Pendulum-v1"), False, -8.0, 8.0),
    ],
)
def test_permute_obs_space_covers_every_permutation_and_ignores_k(make, flips, low, high) -> None:  # noqa: ANN001
    spaces_by_k = []
    for num_tasks in (1, 3, 50):
        env = PermuteObservation(make(), num_tasks=num_tasks, seed=num_tasks, flip_signs=flips)
        space = env.observation_space
        assert (
            space.dtype == env.env.observation_space.dtype and space.shape == env.env.observation_space.shape
        )
        np.testing.assert_array_equal(space.low, np.full(space.shape, low, dtype=space.dtype))
        np.testing.assert_array_equal(space.high, np.full(space.shape, high, dtype=space.dtype))
        spaces_by_k.append(space)
        base_space = env.env.observation_space
        base_space.seed(0)
        samples = [base_space.sample() for _ in range(20)]
        for k in range(num_tasks):
            env.variant = k
            assert all(space.contains(env.observation(x)) for x in samples), f"variant {k} leaves the box"
    assert spaces_by_k[0] == spaces_by_k[1] == spaces_by_k[2]


def test_van_der_corput_phases() -> None:
    assert [van_der_corput(k) for k in range(8)] == [0.0, 0.5, 0.25, 0.75, 0.125, 0.625, 0.375, 0.875]
    assert van_der_corput(5, base=3) == pytest.approx(2 / 3 + 1 / 9)
    for num_tasks in (5, 8, 100):
        drift = PhysicsDrift(
            gym.make("MountainCar-v0"), num_tasks, attribute="gravity", low=0.002, high=0.003, period=40
        )
        assert [drift.phase(k) for k in range(5)] == [0.0, 0.5, 0.25, 0.75, 0.125]
        assert drift.value(0, 1) == pytest.approx(0.0025)  # sine at half a period: the middle
    flat = PhysicsDrift(
        gym.make("MountainCar-v0"),
        5,
        attribute="gravity",
        low=0.002,
        high=0.003,
        period=40,
        phase_per_task=False,
    )
    assert [flat.phase(k) for k in range(5)] == [0.0] * 5
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="index >= 0"):
            van_der_corput(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="base >= 2"):
        van_der_corput(3, base=1)


def test_physics_values_params_ignore_k() -> None:
    # the defaults restored by variant 0 cover the attributes of every listed entry, also past K
    one = PhysicsVariant(gym.make("CartPole-v1"), num_tasks=1, values=PHYSICS_VALUES)
    every = PhysicsVariant(gym.make("CartPole-v1"), num_tasks=len(PHYSICS_VALUES), values=PHYSICS_VALUES)
    assert one.params(0) == every.params(0)
    assert one.params(0)["tau"] == pytest.approx(0.02) and one.params(0)["length"] == pytest.approx(0.5)


def test_switch_now_changes_the_variant_inside_the_episode() -> None:
    from psp_rl.envs import make_task_env, make_variant_env

    env = make_variant_env("CartPole-v1", [{"family": "permute_obs"}], task=0, num_tasks=3, seed=0)
    obs, _ = env.reset(seed=0)
    state = np.array(env.unwrapped.state, dtype=np.float32)
    env.switch_now(2)
    obs, _, _, _, info = env.step(0)
    wrapper = env.variant_wrappers()[0]
    assert obs["task"] == 2 and wrapper.variant == 2 and info["task_switched"] is False
    base = np.asarray(env.unwrapped.state, dtype=np.float32)
    np.testing.assert_allclose(obs["obs"], wrapper.observation(base), rtol=1e-6)  # variant 2's permutation
    assert not np.allclose(state, 0)  # the episode went on: no reset
    with pytest.raises(ValueError, match="out of range|task"):
        env.switch_now(3)
    separate = make_task_env([lambda: gym.make("CartPole-v1"), lambda: gym.make("CartPole-v1")])
    separate.reset(seed=0)
    with pytest.raises(ValueError, match="set_task"):
        separate.switch_now(1)
