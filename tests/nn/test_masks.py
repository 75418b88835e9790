"""Modulating masks: the fixed signed-constant backbone, per-task binary masks with a straight-through
gradient, per-sample tasks (linear and convolution), isolation between tasks, the ``mask`` mode."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from psp_rl.nn import NetworkConfig, TaskBatch, TaskCNN, TaskMLP
from psp_rl.nn.contexts import layer_id
from psp_rl.nn.masks import (
    MaskedConv2d,
    MaskedLinear,
    binary_mask,
    mask_parameter_counts,
    per_sample_conv,
    signed_constant,
)

K = 3
TASKS = torch.tensor([0, 2, 1, 0, 2, 1, 1])


def _reference_linear(layer: MaskedLinear, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
    """Sample by sample, from the definition ``(W ⊙ 1[s_k >= 0]) x``."""
    rows = [(layer.weight * (layer.scores[k] >= 0).float()) @ x[b] for b, k in enumerate(task.tolist())]
    return torch.stack(rows)


def test_backbone_is_a_fixed_signed_constant_from_seed_and_layer() -> None:
    layer = MaskedLinear(50, 20, K, seed=3, layer_index=layer_id("pi/0"))
    c = math.sqrt(2.0 / 50)
    assert torch.equal(layer.weight.abs(), torch.full((20, 50), c, dtype=torch.float32))
    assert 0.3 < float((layer.weight > 0).float().mean()) < 0.7  # fair signs
    assert torch.equal(layer.weight, MaskedLinear(50, 20, 5, seed=3, layer_index=layer_id("pi/0")).weight)
    assert not torch.equal(layer.weight, signed_constant(20, 50, seed=3, layer_index=layer_id("pi/1")))
    assert not torch.equal(layer.weight, signed_constant(20, 50, seed=4, layer_index=layer_id("pi/0")))
    # a persistent buffer: saved and loaded, never optimised
    assert "weight" in layer.state_dict() and [n for n, _ in layer.named_parameters()] == ["scores"]
    with pytest.raises(ValueError, match="context_seed"):
        signed_constant(2, 2, seed=-1)


def test_scores_one_table_per_task_redrawn_by_reset_and_backbone_kept() -> None:
    torch.manual_seed(0)
    layer = MaskedLinear(16, 8, K)
    assert layer.scores.shape == (K, 8, 16)
    assert float(layer.scores.detach().abs().max()) <= 1 / math.sqrt(16)
    assert not torch.equal(layer.masks()[0], layer.masks()[1])  # every task starts from its own random mask
    weight, scores = layer.weight.clone(), layer.scores.detach().clone()
    layer.reset_parameters(gain=0.01)  # SB3's orthogonal init reaches the layer this way
    assert torch.equal(layer.weight, weight) and not torch.equal(layer.scores, scores)
    assert float(layer.scores.detach().abs().max()) <= 1 / math.sqrt(16)


def test_binary_mask_thresholds_at_zero_and_passes_the_gradient_straight_through() -> None:
    scores = torch.tensor([-0.5, 0.0, 0.2, -1e-9], requires_grad=True)
    mask = binary_mask(scores)
    assert mask.tolist() == [0.0, 1.0, 1.0, 0.0]
    (mask * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert scores.grad.tolist() == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("rows", [1, 6])
def test_linear_computes_the_masked_backbone_per_sample(rows: int) -> None:
    torch.manual_seed(0)
    layer = MaskedLinear(6, 4, K)
    x = torch.randn(len(TASKS), 6)
    torch.testing.assert_close(layer(x, TASKS), _reference_linear(layer, x, TASKS))
    one = torch.full((rows,), 2)
    torch.testing.assert_close(layer(x[:rows], one), _reference_linear(layer, x[:rows], one))
    with pytest.raises(AssertionError):  # the tasks really differ
        torch.testing.assert_close(layer(x, torch.zeros_like(TASKS)), layer(x, torch.ones_like(TASKS)))


def test_conv_computes_the_masked_kernel_along_its_fan_in() -> None:
    torch.manual_seed(0)
    conv = MaskedConv2d(2, 4, 3, K, stride=2, padding=1, seed=1, layer_index=7)
    assert conv.linear.weight.abs().unique().tolist() == [pytest.approx(math.sqrt(2.0 / 18))]
    x = torch.randn(len(TASKS), 2, 9, 9)
    y = conv(x, TASKS)
    for b, k in enumerate(TASKS.tolist()):
        kernel = (conv.linear.weight * (conv.linear.scores[k] >= 0).float()).reshape(4, 2, 3, 3)
        torch.testing.assert_close(y[b : b + 1], F.conv2d(x[b : b + 1], kernel, None, 2, 1))


@pytest.mark.parametrize("task", [[0, 2, 1, 0, 2, 1, 1], [1, 1, 1], []], ids=["mixed", "one-task", "empty"])
def test_grouped_and_all_task_convolutions_agree_with_gradients(task: list[int]) -> None:
    """The CPU strategy (one convolution per task present) matches the accelerator one (every task's
    kernels at once, then a gather), outputs and gradients; absent tasks get no gradient."""
    ids = torch.tensor(task, dtype=torch.long)
    results = []
    for grouped in (True, False):
        torch.manual_seed(1)
        kernels = torch.randn(K, 4, 2, 3, 3, requires_grad=True)
        x = torch.randn(len(task), 2, 7, 7, requires_grad=True)
        y = per_sample_conv(x, kernels, ids, stride=2, padding=1, grouped=grouped)
        (y * torch.arange(y.numel()).reshape(y.shape)).sum().backward()
        results.append((y, x.grad, kernels.grad))
    assert results[0][0].shape == (len(task), 4, 4, 4)
    for a, b in zip(results[0], results[1]):
        torch.testing.assert_close(a, b)
    absent = sorted(set(range(K)) - set(task))
    assert torch.all(results[0][2][absent] == 0)


@pytest.mark.parametrize("layer", [MaskedLinear(6, 5, K), MaskedConv2d(2, 4, 3, K)], ids=["linear", "conv"])
def test_a_tasks_gradient_reaches_only_its_scores(layer: torch.nn.Module) -> None:
    """The straight-through gradient: ``∂L/∂s_k = ∂L/∂(W ⊙ m_k) ⊙ W`` for the tasks in the batch, zero else."""
    torch.manual_seed(0)
    x = torch.randn(4, 6) if isinstance(layer, MaskedLinear) else torch.randn(4, 2, 6, 6)
    task = torch.tensor([0, 2, 0, 2])
    inner = layer if isinstance(layer, MaskedLinear) else layer.linear
    layer(x, task).square().sum().backward()
    grad = inner.scores.grad
    assert grad[1].abs().sum() == 0 and grad[0].abs().sum() > 0 and grad[2].abs().sum() > 0
    assert inner.weight.grad is None
    # straight through: where the backbone is +c the score gradient is the masked weight's gradient times c
    masked = (inner.weight * binary_mask(inner.scores.detach()[0])).requires_grad_()
    if isinstance(layer, MaskedLinear):
        out = F.linear(x[task == 0], masked)
    else:
        out = F.conv2d(x[task == 0], masked.reshape(4, 2, 3, 3))
    out.square().sum().backward()
    torch.testing.assert_close(grad[0], masked.grad * inner.weight)


def _net(mode_scores_shared: bool = False) -> TaskMLP:
    torch.manual_seed(0)
    net = TaskMLP(8, [32, 32], NetworkConfig(K, mode="mask"), "n", out_dim=3)
    if mode_scores_shared:  # the mechanism off: every task reads task 0's scores
        for layer in net.layers:
            if isinstance(layer, MaskedLinear):
                layer.masked_weight = lambda task, layer=layer: layer.weight * binary_mask(layer.scores[0])  # type: ignore[method-assign]
    return net


@pytest.mark.parametrize("optimizer", ["Adam", "RMSprop"])
def test_training_one_task_leaves_the_others_bit_identical(optimizer: str) -> None:
    net = _net()
    x = torch.randn(64, 8)

    def outputs(k: int) -> torch.Tensor:
        with torch.no_grad():
            return net(TaskBatch(x, torch.full((64,), k)))

    before = [outputs(k) for k in range(K)]
    opt = getattr(torch.optim, optimizer)(net.parameters(), lr=1e-2)
    target = torch.randn(64, 3)
    for _ in range(20):
        opt.zero_grad()
        (net(TaskBatch(x, torch.full((64,), 1))) - target).square().mean().backward()
        opt.step()
    assert not torch.equal(outputs(1), before[1])  # task 1 learned
    assert torch.equal(outputs(0), before[0]) and torch.equal(outputs(2), before[2])


def test_training_a_later_task_after_an_earlier_one_keeps_it_under_rmsprop() -> None:
    """RMSprop without momentum (the MG10 protocol's optimiser) moves nothing whose gradient is zero:
    a task trained earlier keeps its outputs while the next one trains with the same optimiser state."""
    net = _net()
    x, target = torch.randn(64, 8), torch.randn(64, 3)
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-2)
    for k in (0, 1):
        if k == 1:
            with torch.no_grad():
                after_0 = net(TaskBatch(x, torch.zeros(64, dtype=torch.long)))
        for _ in range(10):
            opt.zero_grad()
            (net(TaskBatch(x, torch.full((64,), k))) - target).square().mean().backward()
            opt.step()
    with torch.no_grad():
        assert torch.equal(net(TaskBatch(x, torch.zeros(64, dtype=torch.long))), after_0)


def test_mixed_batch_in_a_network_equals_each_task_alone() -> None:
    net, x = _net(), torch.randn(len(TASKS), 8)
    mixed = net(TaskBatch(x, TASKS))
    for k in range(K):
        idx = (k == TASKS).nonzero().flatten()
        torch.testing.assert_close(mixed[idx], net(TaskBatch(x[idx], torch.full((len(idx),), k))))


@pytest.mark.parametrize("layer", [MaskedLinear(6, 5, K), MaskedConv2d(2, 4, 3, K)], ids=["linear", "conv"])
def test_one_hot_mixing_weights_compute_the_id_path(layer: torch.nn.Module) -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 6) if isinstance(layer, MaskedLinear) else torch.randn(4, 2, 6, 6)
    ids = torch.tensor([2, 2, 2, 2])
    torch.testing.assert_close(layer.mix(x, F.one_hot(torch.tensor(2), K).float()), layer(x, ids))
    per_sample = F.one_hot(TASKS[:4], K).float()
    torch.testing.assert_close(layer.mix(x, per_sample), layer(x, TASKS[:4]))


def test_mask_mode_builds_masked_layers_and_counts_scores_and_backbone() -> None:
    config = NetworkConfig(K, mode="mask")
    assert config.spec.onehot_inputs and not config.spec.superposed
    net = TaskMLP(8, [16], config, "n", out_dim=3)
    assert [type(m) for m in net.layers if hasattr(m, "weight")] == [MaskedLinear, MaskedLinear]
    counts = mask_parameter_counts(net)
    assert counts == {"backbone": 8 * 16 + 16 * 3, "scores": K * (8 * 16 + 16 * 3)}
    assert sum(p.numel() for p in net.parameters()) == counts["scores"]  # the backbone is not trained
    cnn = TaskCNN((3, 36, 36), config, features_dim=32)
    assert isinstance(cnn.layers[0], MaskedConv2d)
    assert cnn(TaskBatch(torch.rand(2, 3, 36, 36), torch.tensor([0, 2]))).x.shape == (2, 32)


def test_mask_isolation_check_fails_with_shared_scores() -> None:
    """The isolation above is the masks' doing: with every task reading one score table it is gone."""
    net = _net(mode_scores_shared=True)
    x = torch.randn(64, 8)
    before = net(TaskBatch(x, torch.zeros(64, dtype=torch.long))).detach()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(5):
        opt.zero_grad()
        net(TaskBatch(x, torch.full((64,), 1))).square().mean().backward()
        opt.step()
    assert not torch.equal(net(TaskBatch(x, torch.zeros(64, dtype=torch.long))).detach(), before)


@pytest.mark.parametrize("layer", [MaskedLinear(4, 2, K), MaskedConv2d(1, 2, 3, K)], ids=["linear", "conv"])
def test_task_out_of_range_names_k(layer: torch.nn.Module) -> None:
    x = torch.randn(2, 4) if isinstance(layer, MaskedLinear) else torch.randn(2, 1, 5, 5)
    with pytest.raises(ValueError, match=f"K={K}"):
        layer(x, torch.tensor([0, K]))


def test_state_dict_round_trip_restores_scores_and_backbone() -> None:
    torch.manual_seed(0)
    a = MaskedLinear(6, 4, K, seed=1)
    b = MaskedLinear(6, 4, K, seed=2)
    b.load_state_dict(a.state_dict())
    x = torch.randn(5, 6)
    assert torch.equal(a(x, TASKS[:5]), b(x, TASKS[:5]))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    torch.manual_seed(0)
    for layer, x in (
        (MaskedLinear(6, 5, K), torch.randn(7, 6)),
        (MaskedConv2d(2, 3, 3, K), torch.randn(7, 2, 7, 7)),
    ):
        cpu = layer(x, TASKS)
        gpu = layer.to("cuda")(x.cuda(), TASKS.cuda())
        torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=1e-4)


def test_linear_comb_thresholds_the_mean_of_earlier_scores_at_the_start() -> None:
    torch.manual_seed(0)
    layer = MaskedLinear(6, 4, K, linear_comb=True)
    s = layer.scores.detach()
    assert torch.equal(layer.masks()[0], (s[0] >= 0).float())
    assert torch.equal(layer.masks()[2], ((s[0] + s[1] + s[2]) / 3 >= 0).float())
    x = torch.randn(len(TASKS), 6)  # a mixed batch (every task's combination at once) equals each task alone
    mixed = layer(x, TASKS)
    for k in range(K):
        idx = (k == TASKS).nonzero().flatten()
        torch.testing.assert_close(mixed[idx], layer(x[idx], torch.full((len(idx),), k)))


def test_linear_comb_starts_a_new_task_from_the_earlier_tasks_masks() -> None:
    """With the earlier task's scores grown by training, a new task's starting mask mostly agrees with it
    under linear_comb; without (the mechanism off) it is an independent random mask."""
    agreement = {}
    for comb in (True, False):
        torch.manual_seed(0)
        layer = MaskedLinear(64, 64, 2, linear_comb=comb)
        with torch.no_grad():
            layer.scores[0].mul_(10)  # task 0 trained: scores far from zero
        masks = layer.masks()
        agreement[comb] = float((masks[0] == masks[1]).float().mean())
    assert agreement[True] > 0.9 and 0.4 < agreement[False] < 0.6


@pytest.mark.parametrize("optimizer", ["Adam", "RMSprop"])
def test_linear_comb_training_a_task_reaches_its_scores_and_weights_only(optimizer: str) -> None:
    """Training task 1 moves its own scores and combination weights only: task 0's outputs stay bit for bit;
    task 2, which combines task 1's scores, moves with them (the price of computing the combination at every
    forward instead of consolidating it at the end of each phase)."""
    torch.manual_seed(0)
    net = TaskMLP(8, [32, 32], NetworkConfig(K, mode="mask-lc"), "n", out_dim=3)
    x = torch.randn(64, 8)

    def outputs(k: int) -> torch.Tensor:
        with torch.no_grad():
            return net(TaskBatch(x, torch.full((64,), k)))

    before = [outputs(k) for k in range(K)]
    opt = getattr(torch.optim, optimizer)(net.parameters(), lr=1e-2)
    for _ in range(20):
        opt.zero_grad()
        net(TaskBatch(x, torch.full((64,), 1))).square().mean().backward()
        layer = net.layers[0]
        assert layer.scores.grad[[0, 2]].abs().sum() == 0 and layer.scores.grad[1].abs().sum() > 0
        assert layer.betas.grad[[0, 2]].abs().sum() == 0 and layer.betas.grad[1, :2].abs().sum() > 0
        opt.step()
    assert torch.equal(outputs(0), before[0])
    assert not torch.equal(outputs(1), before[1]) and not torch.equal(outputs(2), before[2])
