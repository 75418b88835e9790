"""Task-conditioned layers: per-sample tasks, conv semantics, isolation, errors, CUDA."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from psp_rl.nn import pertask
from psp_rl.nn.contexts import CONTEXT_KINDS
from psp_rl.nn.conv import SuperposedConv2d, TaskConv2d
from psp_rl.nn.layers import SuperposedLinear, TaskLinear

TASKS = torch.tensor([0, 2, 1, 0, 2, 1, 1])


def _layer_variants(in_shape: str) -> list[tuple[str, torch.nn.Module]]:
    out = []
    for kind in CONTEXT_KINDS:
        for task_bias in (False, True):
            if in_shape == "vector":
                out.append(
                    (f"{kind}-bias{task_bias}", SuperposedLinear(6, 5, 3, context=kind, task_bias=task_bias))
                )
            else:
                layer = SuperposedConv2d(2, 4, 3, 3, stride=2, padding=1, context=kind, task_bias=task_bias)
                out.append((f"{kind}-bias{task_bias}", layer))
    out.append(
        ("per-task", TaskLinear(6, 5, 3) if in_shape == "vector" else TaskConv2d(2, 4, 3, 3, stride=2))
    )
    return out


@pytest.mark.parametrize("in_shape", ["vector", "image"])
def test_mixed_task_batch_equals_each_task_alone(in_shape: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(len(TASKS), 6) if in_shape == "vector" else torch.randn(len(TASKS), 2, 9, 9)
    for name, layer in _layer_variants(in_shape):
        mixed = layer(x, TASKS)
        for k in range(3):
            idx = (k == TASKS).nonzero().flatten()
            alone = layer(x[idx], torch.full((len(idx),), k))
            torch.testing.assert_close(mixed[idx], alone, msg=name)
        with pytest.raises(AssertionError):  # and the tasks really differ
            torch.testing.assert_close(layer(x, torch.zeros_like(TASKS)), layer(x, torch.ones_like(TASKS)))


@pytest.mark.parametrize("kind", CONTEXT_KINDS)
def test_superposed_conv_applies_key_along_kernel_fan_in(kind: str) -> None:
    torch.manual_seed(0)
    conv = SuperposedConv2d(3, 4, 3, num_tasks=2, stride=2, padding=1, context=kind, task_bias=False)
    x = torch.randn(2, 3, 8, 8)
    y = conv(x, torch.tensor([0, 1]))
    for k in range(2):
        key = conv.linear.context[k]
        weight = conv.linear.weight @ key if kind == "rotation" else conv.linear.weight * key
        ref = F.conv2d(x[k : k + 1].to(weight.dtype), weight.reshape(4, 3, 3, 3), conv.linear.bias, 2, 1)
        torch.testing.assert_close(y[k : k + 1], ref)


def test_complex_layer_computes_complex_weights_times_keyed_input() -> None:
    layer = SuperposedLinear(4, 3, 2, context="complex", task_bias=False)
    x = torch.randn(2, 4)
    y = layer(x, torch.tensor([1, 1]))
    assert y.dtype == torch.complex64
    torch.testing.assert_close(y, (x.to(torch.complex64) * layer.context[1]) @ layer.weight.T + layer.bias)


def test_rotation_in_chunks_equals_one_gather(monkeypatch: pytest.MonkeyPatch) -> None:
    mats = torch.randn(5, 4, 16)
    x, task = torch.randn(11, 16), torch.tensor([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0])
    whole = pertask.per_sample_matmul(x, mats, task, grouped=False)
    monkeypatch.setattr(pertask, "ROTATION_CHUNK_ELEMENTS", 16 * 4 * 3)  # 3 samples per chunk
    torch.testing.assert_close(pertask.per_sample_matmul(x, mats, task, grouped=False), whole)


@pytest.mark.parametrize(
    "task",
    [[3, 0, 3, 1, 0, 3, 1], [2, 2, 2, 2, 2, 2, 2], []],
    ids=["mixed", "one-task", "empty"],
)
@pytest.mark.parametrize("in_shape", [(7, 6), (7, 3, 6)], ids=["vector", "patches"])
def test_grouped_and_gathered_products_agree_with_gradients(task: list[int], in_shape: tuple) -> None:
    """The CPU strategy (one product per task present) matches the accelerator one (per-sample gather)."""
    torch.manual_seed(0)
    ids = torch.tensor(task, dtype=torch.long)
    shape = (len(task), *in_shape[1:])
    results = []
    for grouped in (True, False):
        torch.manual_seed(1)
        mats = torch.randn(4, 5, 6, requires_grad=True)
        x = torch.randn(shape, requires_grad=True)
        y = pertask.per_sample_matmul(x, mats, ids, grouped=grouped)
        (y * torch.arange(y.numel()).reshape(y.shape)).sum().backward()
        results.append((y, x.grad, mats.grad))
    assert results[0][0].shape == (*shape[:-1], 5)
    for a, b in zip(results[0], results[1]):
        torch.testing.assert_close(a, b)
    if task:  # only the tasks present receive a gradient
        absent = sorted(set(range(4)) - set(task))
        assert torch.all(results[0][2][absent] == 0)


@pytest.mark.parametrize("kind", ["binary", "complex"])
def test_training_one_task_barely_moves_the_others(kind: str) -> None:
    torch.manual_seed(0)
    net = torch.nn.ModuleList(
        [SuperposedLinear(64, 64, 4, context=kind), SuperposedLinear(64, 2, 4, context=kind)]
    )

    def forward(x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        h = net[0](x, task)
        h = torch.complex(torch.tanh(h.real), torch.tanh(h.imag)) if h.is_complex() else torch.tanh(h)
        return net[1](h, task).real

    x = torch.randn(256, 64)
    task_j, task_k = torch.zeros(256, dtype=torch.long), torch.ones(256, dtype=torch.long)
    with torch.no_grad():
        before_j, before_k = forward(x, task_j), forward(x, task_k)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    ((forward(x, task_j) - 1.0) ** 2).mean().backward()
    optimizer.step()
    with torch.no_grad():
        moved_j = (forward(x, task_j) - before_j).abs().mean()
        moved_k = (forward(x, task_k) - before_k).abs().mean()
    ratio = (moved_k / moved_j).item()
    assert moved_j > 1e-3
    assert ratio < 0.2, f"task {kind}: other task moved {ratio:.3f} of the trained task"


def test_shared_bias_is_a_path_for_interference() -> None:
    # The reason task_bias defaults to True: with one shared output bias the other tasks follow.
    torch.manual_seed(0)
    shared = SuperposedLinear(64, 2, 4, task_bias=False)
    x = torch.randn(256, 64)
    zeros, ones = torch.zeros(256, dtype=torch.long), torch.ones(256, dtype=torch.long)
    before = shared(x, ones).detach()
    optimizer = torch.optim.SGD(shared.parameters(), lr=0.05)
    ((shared(x, zeros) - 1.0) ** 2).mean().backward()
    optimizer.step()
    assert (shared(x, ones).detach() - before).abs().mean() > 0.01


@pytest.mark.parametrize(
    "layer",
    [SuperposedLinear(4, 2, 3), TaskLinear(4, 2, 3), SuperposedConv2d(1, 2, 3, 3), TaskConv2d(1, 2, 3, 3)],
    ids=["superposed", "per-task", "superposed-conv", "per-task-conv"],
)
def test_task_out_of_range_names_k(layer: torch.nn.Module) -> None:
    x = torch.randn(2, 4) if isinstance(layer, (SuperposedLinear, TaskLinear)) else torch.randn(2, 1, 5, 5)
    with pytest.raises(ValueError, match="K=3"):
        layer(x, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="K=3"):
        layer(x, torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match="integer"):
        layer(x, torch.tensor([0.0, 1.0]))


def test_keys_are_persistent_buffers_without_gradients() -> None:
    layer = SuperposedLinear(4, 2, 3)
    assert "context" in layer.state_dict()
    assert all(name != "context" for name, _ in layer.named_parameters())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", CONTEXT_KINDS)
def test_cuda_round_trip_matches_cpu(kind: str) -> None:
    torch.manual_seed(0)
    layer = SuperposedConv2d(2, 3, 3, 4, context=kind)
    x, task = torch.randn(6, 2, 7, 7), torch.tensor([0, 1, 2, 3, 1, 0])
    cpu = layer(x, task)
    gpu = layer.to("cuda")(x.cuda(), task.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=1e-4)
    back = layer.to("cpu")(x, task)
    torch.testing.assert_close(back, cpu)


def test_weight_multiplier_keeps_the_init_and_slows_adam() -> None:
    torch.manual_seed(0)
    plain = SuperposedLinear(256, 8, num_tasks=2)
    torch.manual_seed(0)
    slow = SuperposedLinear(256, 8, num_tasks=2, weight_multiplier=0.25)
    torch.testing.assert_close(slow.effective_weight(), plain.effective_weight())  # same effective init
    x, task = torch.randn(32, 256), torch.zeros(32, dtype=torch.long)
    torch.testing.assert_close(slow(x, task), plain(x, task))
    moved = []
    for layer in (plain, slow):
        before = layer.effective_weight().detach().clone()
        optimizer = torch.optim.Adam([layer.weight], lr=1e-3)
        layer(x, task).pow(2).sum().backward()
        optimizer.step()
        moved.append(float((layer.effective_weight().detach() - before).abs().mean()))
    assert moved[1] == pytest.approx(0.25 * moved[0], rel=1e-3)


def test_weight_multiplier_is_saved_and_defaults_to_one_for_old_state_dicts() -> None:
    slow = SuperposedLinear(128, 4, num_tasks=2, weight_multiplier=0.5)
    fresh = SuperposedLinear(128, 4, num_tasks=2)
    fresh.load_state_dict(slow.state_dict())
    assert fresh.multiplier == 0.5
    old = {k: v for k, v in slow.state_dict().items() if k != "weight_multiplier"}
    fresh.load_state_dict(old)  # a state dict written before the multiplier existed
    assert fresh.multiplier == 1.0
    torch.testing.assert_close(fresh.effective_weight(), slow.weight)
    with pytest.raises(ValueError, match="weight_multiplier must be > 0"):
        SuperposedLinear(4, 4, num_tasks=2, weight_multiplier=0.0)


def test_single_task_is_read_on_the_host_only_for_one_task_batches() -> None:
    assert pertask.single_task(torch.tensor([2, 2, 2])) == 2
    assert pertask.single_task(torch.tensor([2, 0, 2])) is None
    assert pertask.single_task(torch.zeros(0, dtype=torch.long)) is None


@pytest.mark.parametrize("rows", [3, 40], ids=["key-on-inputs", "key-in-weight"])
@pytest.mark.parametrize("in_shape", ["vector", "image"])
def test_one_task_path_equals_the_per_sample_path_with_gradients(in_shape: str, rows: int) -> None:
    """A batch from one task (its key and bias as views; the key folded into the weight when the layer
    has fewer outputs than the batch has rows) computes what the per-sample gather computes: bit for
    bit with binary keys, to rounding with complex and rotation keys; the gradients to rounding (a bias
    gradient summed in one reduction instead of row by row)."""
    torch.manual_seed(0)
    x = torch.randn(rows, 6) if in_shape == "vector" else torch.randn(rows // 3 + 1, 2, 9, 9)
    for name, layer in _layer_variants(in_shape):
        if getattr(layer, "bias", None) is not None or hasattr(layer, "linear"):
            with torch.no_grad():
                for p in layer.parameters():
                    p.normal_()
        task = torch.full((x.shape[0],), 2)
        outs, grads = [], []
        for single in (None, 2):
            layer.zero_grad()
            y = layer.compute(x, task, None, single)
            (y.real if y.is_complex() else y).square().sum().backward()
            outs.append(y)
            grads.append([p.grad.clone() for p in layer.parameters()])
        if name.startswith("binary"):
            assert torch.equal(outs[0], outs[1]), name
        for a, b in [(outs[0], outs[1]), *zip(*grads)]:  # rounding relative to the tensor's scale
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(a.detach().abs().max()), msg=name)


def test_layers_and_stacks_find_a_one_task_batch_themselves() -> None:
    from psp_rl.nn import NetworkConfig, TaskBatch, TaskMLP

    torch.manual_seed(0)
    layer, x = SuperposedLinear(6, 2, 3, context="complex"), torch.randn(8, 6)
    one = torch.full((8,), 1)
    torch.testing.assert_close(layer(x, one), layer.compute(x, one, None, None))
    net = TaskMLP(6, [5], NetworkConfig(3, context="rotation"), "q", out_dim=2)
    torch.testing.assert_close(net(TaskBatch(x, one)), net(TaskBatch(x, one, True)))  # checked: general path


@pytest.mark.parametrize("kind", CONTEXT_KINDS)
@pytest.mark.parametrize("rows", [3, 40], ids=["lift-first", "lift-folded"])
def test_a_pending_lifting_computes_what_lifting_first_computes(kind: str, rows: int) -> None:
    torch.manual_seed(0)
    layer = SuperposedLinear(16, 5, 3, context=kind)
    lift, x = torch.randn(16, 4), torch.randn(rows, 4)
    for single in (None, 1):
        task = torch.full((rows,), 1) if single is not None else torch.randint(0, 3, (rows,))
        expected = layer.compute(x @ lift.T, task, None, single)
        torch.testing.assert_close(layer.lifted(x, lift, task, None, single), expected)
    alpha = torch.tensor([0.2, 0.5, 0.3])
    torch.testing.assert_close(layer.lifted(x, lift, task, weights=alpha), layer.mix(x @ lift.T, alpha))
    onehot = F.one_hot(torch.tensor(2), 3).float()  # a one-hot α: the id path, bit for bit
    assert torch.equal(
        layer.lifted(x, lift, task, weights=onehot), layer.lifted(x, lift, torch.full((rows,), 2), None, 2)
    )
