"""Task mixing (the α path of the layers and networks): a one-hot α computes what the id path computes,
the α path is linear in α per layer, gradients reach α, and wrong weights are refused."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from inference_toy import ToyVariants, make_model
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from psp_rl.inference import TaskHeads
from psp_rl.nn.contexts import CONTEXT_KINDS
from psp_rl.nn.conv import SuperposedConv2d, TaskConv2d
from psp_rl.nn.layers import SuperposedLinear, TaskLinear
from psp_rl.nn.networks import NetworkConfig, TaskBatch, TaskMLP
from psp_rl.policies import PSPActorCriticPolicy

K = 3


def _layers() -> list[tuple[str, torch.nn.Module, bool]]:
    out: list[tuple[str, torch.nn.Module, bool]] = []
    for kind in CONTEXT_KINDS:
        for task_bias in (False, True):
            layer = SuperposedLinear(6, 5, K, context=kind, task_bias=task_bias)
            if layer.bias is not None:
                with torch.no_grad():
                    layer.bias.normal_()
            out.append((f"{kind}-bias{task_bias}", layer, True))
        out.append((f"{kind}-conv", SuperposedConv2d(2, 4, 3, K, stride=2, padding=1, context=kind), False))
    out.append(("per-task", TaskLinear(6, 5, K), True))
    out.append(("per-task-conv", TaskConv2d(2, 4, 3, K, stride=2), False))
    return out


@pytest.mark.parametrize("name,layer,vector", _layers(), ids=lambda v: v if isinstance(v, str) else "")
def test_one_hot_weights_equal_the_id_path(name: str, layer: torch.nn.Module, vector: bool) -> None:
    torch.manual_seed(0)
    x = torch.randn(7, 6) if vector else torch.randn(7, 2, 9, 9)
    # a one-task batch folds complex and rotation keys into the weight (same result up to rounding);
    # binary keys are signs, so folding them is exact
    exact_per_sample = name.startswith("binary")
    for k in range(K):
        ids = torch.full((7,), k)
        onehot = torch.nn.functional.one_hot(torch.tensor(k), K).float()
        assert torch.equal(layer.mix(x, onehot), layer(x, ids)), name  # (K,): bit for bit
        rows = layer.mix(x, onehot.expand(7, K))  # (B, K): per-sample mixing
        if exact_per_sample:
            assert torch.equal(rows, layer(x, ids)), name
        else:
            torch.testing.assert_close(rows, layer(x, ids), msg=name)
    # a batch whose samples carry different one-hot rows equals the mixed-task id batch
    tasks = torch.tensor([0, 2, 1, 0, 2, 1, 1])
    torch.testing.assert_close(layer.mix(x, torch.nn.functional.one_hot(tasks, K).float()), layer(x, tasks))


@pytest.mark.parametrize("kind", CONTEXT_KINDS)
def test_a_superposed_layer_is_linear_in_the_weights(kind: str) -> None:
    torch.manual_seed(1)
    layer = SuperposedLinear(6, 5, K, context=kind)
    with torch.no_grad():
        layer.bias.normal_()  # type: ignore[union-attr]
    x, alpha = torch.randn(4, 6), torch.tensor([0.2, 0.5, 0.3])
    expected = sum(alpha[k] * layer(x, torch.full((4,), k)) for k in range(K))
    torch.testing.assert_close(layer.mix(x, alpha), expected)
    with pytest.raises(AssertionError):  # and the weights matter
        torch.testing.assert_close(layer.mix(x, alpha), layer.mix(x, torch.full((K,), 1 / K)))


@pytest.mark.parametrize("mode", ["psp", "psp-heads", "separate", "multihead"])
def test_networks_take_weights_instead_of_ids(mode: str) -> None:
    torch.manual_seed(0)
    net = TaskMLP(6, [8, 8], NetworkConfig(K, mode=mode), "q", out_dim=2)
    x = torch.randn(5, 6)
    alpha = torch.full((K,), 1.0 / K, requires_grad=True)
    for k in range(K):
        onehot = torch.nn.functional.one_hot(torch.tensor(k), K).float()
        ids_out = net(TaskBatch(x, torch.full((5,), k)))
        mixed = net(TaskBatch(x, torch.zeros(5, dtype=torch.long), weights=onehot))
        torch.testing.assert_close(mixed, ids_out, rtol=0, atol=0 if mode in ("psp",) else 1e-6)
    out = net(TaskBatch(x, torch.zeros(5, dtype=torch.long), weights=alpha))
    (grad,) = torch.autograd.grad(out.sum(), alpha)
    assert grad.shape == (K,) and torch.all(grad != 0)


def test_wrong_weights_and_drifting_layers_are_refused() -> None:
    net = TaskMLP(6, [8], NetworkConfig(K), "q", out_dim=2)
    x = torch.randn(5, 6)
    with pytest.raises(ValueError, match=r"shape \(3,\) or \(5, 3\)"):
        net(TaskBatch(x, torch.zeros(5, dtype=torch.long), weights=torch.ones(4)))
    with pytest.raises(ValueError, match="floating-point"):
        net(TaskBatch(x, torch.zeros(5, dtype=torch.long), weights=torch.ones(K, dtype=torch.long)))
    drifting = SuperposedLinear(6, 5, K, context="complex", drift_context="power")
    with pytest.raises(ValueError, match="drifting context"):
        drifting.mix(x, torch.ones(K) / K)


@pytest.mark.parametrize("algo", ["ppo", "dqn", "sac"])
def test_the_mixed_entropy_of_a_one_hot_alpha_is_the_task_entropy(algo: str) -> None:
    model = make_model(algo)
    heads = TaskHeads(model)
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    for k in range(K):
        onehot = torch.nn.functional.one_hot(torch.tensor(k), K).float()
        mixed = heads.mixed_entropy(x, onehot).detach().numpy()
        np.testing.assert_array_equal(mixed, heads.entropies(x, np.full(6, k)))


def test_gaussian_actor_critic_entropy_warns_and_mixes_log_std() -> None:
    env = DummyVecEnv([lambda: ToyVariants(K, 0, "looks", box=True)])
    model = PPO(
        PSPActorCriticPolicy, env, n_steps=8, batch_size=8, device="cpu", policy_kwargs={"net_arch": [8]}
    )
    with torch.no_grad():
        model.policy.log_std.copy_(torch.tensor([[0.0, 0.0], [-1.0, -1.0], [0.5, 0.5]]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        heads = TaskHeads(model)
        heads.check_entropy()
    assert any("state-independent" in str(w.message) for w in caught)
    x = np.zeros((2, 4), np.float32)
    alpha = torch.tensor([0.0, 1.0, 0.0])
    np.testing.assert_allclose(
        heads.mixed_entropy(x, alpha).detach().numpy(), heads.entropies(x, np.ones(2, int))
    )
