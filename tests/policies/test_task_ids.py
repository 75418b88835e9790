"""Task ids of any integer dtype: PSP policies take them (``obs_to_tensor``), the layers check them
(``check_task_ids``); out-of-range ids name ``K``, non-integer ids are refused with the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from psp_rl import PSPActorCriticPolicy, PSPDQNPolicy, PSPSACPolicy
from psp_rl.nn.layers import SuperposedLinear, TaskLinear, check_task_ids

K = 3
INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
OBS_SPACE = spaces.Dict({"obs": spaces.Box(-1, 1, (4,), np.float32), "task": spaces.Discrete(K)})
POLICIES = {
    "actor_critic": lambda: PSPActorCriticPolicy(OBS_SPACE, spaces.Discrete(2), lambda _: 1e-3, net_arch=[8]),
    "dqn": lambda: PSPDQNPolicy(OBS_SPACE, spaces.Discrete(2), lambda _: 1e-3, net_arch=[8]),
    "sac": lambda: PSPSACPolicy(OBS_SPACE, spaces.Box(-1, 1, (1,), np.float32), lambda _: 1e-3, net_arch=[8]),
}


def observations(task: np.ndarray) -> dict[str, np.ndarray]:
    obs = np.random.default_rng(0).uniform(-1, 1, size=(len(task), 4)).astype(np.float32)
    return {"obs": obs, "task": task}


@pytest.fixture(scope="module", params=list(POLICIES))
def policy(request: pytest.FixtureRequest) -> torch.nn.Module:
    torch.manual_seed(0)
    return POLICIES[request.param]().eval()


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_policy_takes_task_ids_of_any_integer_dtype(policy: torch.nn.Module, dtype: type) -> None:
    ids = np.array([0, 2, 1, 2])
    reference, _ = policy.obs_to_tensor(observations(ids.astype(np.int64)))
    tensors, vectorized = policy.obs_to_tensor(observations(ids.astype(dtype)))
    assert vectorized and tensors["task"].dtype == torch.int64
    assert torch.equal(tensors["task"], reference["task"])
    actions, _ = policy.predict(observations(ids.astype(dtype)), deterministic=True)
    expected, _ = policy.predict(observations(ids.astype(np.int64)), deterministic=True)
    np.testing.assert_array_equal(actions, expected)
    single, _ = policy.predict({"obs": np.zeros(4, np.float32), "task": dtype(1)}, deterministic=True)
    assert single.shape == expected.shape[1:]


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_policy_out_of_range_ids_name_k(policy: torch.nn.Module, dtype: type) -> None:
    bad = [K, np.iinfo(dtype).max] + ([-1, np.iinfo(dtype).min] if np.iinfo(dtype).min < 0 else [])
    for value in bad:
        ids = np.array([0, value], dtype=dtype)
        with pytest.raises(
            ValueError, match=rf"task id {int(value)} is out of range: this policy holds K={K}"
        ):
            policy.obs_to_tensor(observations(ids))


@pytest.mark.parametrize(
    "ids",
    [np.array([0.0, 1.0], np.float32), np.array([0.0, 1.0]), np.array([False, True]), np.array(["0", "1"])],
)
def test_policy_refuses_non_integer_task_ids(policy: torch.nn.Module, ids: np.ndarray) -> None:
    with pytest.raises(ValueError, match=rf"task ids must be integers in 0..{K - 1}.*got dtype {ids.dtype}"):
        policy.obs_to_tensor(observations(ids))


TORCH_INT_DTYPES = [
    getattr(torch, name)
    for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
    if hasattr(torch, name)
]
LAYERS = {
    "superposed": lambda: SuperposedLinear(4, 3, K),
    "rotation": lambda: SuperposedLinear(4, 3, K, context="rotation"),
    "per_task": lambda: TaskLinear(4, 3, K),
}


@pytest.mark.parametrize("dtype", TORCH_INT_DTYPES, ids=str)
def test_check_task_ids_range_checks_every_integer_dtype(dtype: torch.dtype) -> None:
    with pytest.raises(ValueError, match=rf"task id {K} is out of range: this network holds K={K}"):
        check_task_ids(torch.tensor([0, K], dtype=dtype), K, 2)
    if dtype.is_signed:
        with pytest.raises(ValueError, match=rf"task id -1 is out of range: this network holds K={K}"):
            check_task_ids(torch.tensor([-1, 0], dtype=dtype), K, 2)
    valid = torch.tensor([0, 2, 1], dtype=dtype)
    ids = check_task_ids(valid, K, 3)  # in range: returned as ids index_select takes
    assert ids.dtype in (torch.int64, torch.int32) and ids.tolist() == [0, 2, 1]


@pytest.mark.parametrize("dtype", TORCH_INT_DTYPES, ids=str)
@pytest.mark.parametrize("layer", list(LAYERS))
def test_layers_take_ids_of_every_integer_dtype(layer: str, dtype: torch.dtype) -> None:
    module = LAYERS[layer]()
    x = torch.randn(4, 4)
    task = torch.tensor([0, 2, 1, 2])
    torch.testing.assert_close(module(x, task.to(dtype)), module(x, task))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bool], ids=str)
def test_check_task_ids_refuses_non_integer_ids(dtype: torch.dtype) -> None:
    with pytest.raises(ValueError, match=rf"task ids must be an integer tensor .*got dtype {dtype}"):
        check_task_ids(torch.tensor([0, 1], dtype=dtype), K, 2)
    with pytest.raises(ValueError, match="integer tensor"):
        SuperposedLinear(4, 3, K)(torch.randn(2, 4), torch.tensor([0, 1], dtype=dtype))
