"""Task-conditioned networks: modes, parameter counts, complex heads, the CNN trunk."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from psp_rl.nn.conv import SuperposedConv2d
from psp_rl.nn.layers import SuperposedLinear, TaskLinear
from psp_rl.nn.networks import (
    MODES,
    Mode,
    NetworkConfig,
    TaskBatch,
    TaskCNN,
    TaskMLP,
    TaskMlpExtractor,
    register_mode,
    superposed_conv,
    superposed_linear,
)

K = 4


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_modes_pick_the_right_layers() -> None:
    kinds = {}
    for mode in MODES:
        net = TaskMLP(8, [16], NetworkConfig(K, mode=mode), "n", out_dim=3)
        linears = [m for m in net.layers if hasattr(m, "weight")]
        kinds[mode] = [type(m) for m in linears]
    assert kinds["psp"] == [SuperposedLinear, SuperposedLinear]
    assert kinds["shared"] == kinds["onehot"] == [nn.Linear, nn.Linear]
    assert kinds["multihead"] == [nn.Linear, TaskLinear]
    assert kinds["separate"] == [TaskLinear, TaskLinear]
    assert kinds["psp-heads"] == [SuperposedLinear, TaskLinear]
    assert kinds["psp-inputs"] == [TaskLinear, SuperposedLinear]


def test_psp_heads_trains_one_tasks_head_only() -> None:
    net = TaskMLP(8, [16], NetworkConfig(K, mode="psp-heads"), "n", out_dim=3)
    x, task = torch.randn(6, 8), torch.zeros(6, dtype=torch.long)
    net(TaskBatch(x, task)).sum().backward()
    head = net.layers[-1]
    assert head.weight.grad[0].abs().sum() > 0 and head.weight.grad[1:].abs().sum() == 0
    with pytest.raises(ValueError, match="psp-heads has real per-task output layers"):
        TaskMLP(8, [16], NetworkConfig(K, mode="psp-heads", context="complex"), "n", out_dim=3)


def test_psp_inputs_trains_one_tasks_first_layer_only() -> None:
    net = TaskMLP(8, [16, 16], NetworkConfig(K, mode="psp-inputs"), "n", out_dim=3)
    assert [type(m) for m in net.layers if hasattr(m, "weight")] == [
        TaskLinear,
        SuperposedLinear,
        SuperposedLinear,
    ]
    x, task = torch.randn(6, 8), torch.full((6,), 1, dtype=torch.long)
    net(TaskBatch(x, task)).sum().backward()
    first = net.layers[0]
    assert first.weight.grad[1].abs().sum() > 0
    assert first.weight.grad[0].abs().sum() == 0 and first.weight.grad[2:].abs().sum() == 0
    with pytest.raises(ValueError, match="psp-inputs has real per-task first layers"):
        TaskMLP(8, [16], NetworkConfig(K, mode="psp-inputs", context="complex"), "n", out_dim=3)


def test_separate_has_k_times_the_parameters_and_multihead_shares_the_trunk() -> None:
    shared = _count(TaskMLP(8, [16, 16], NetworkConfig(K, mode="shared"), "n", out_dim=3))
    separate = _count(TaskMLP(8, [16, 16], NetworkConfig(K, mode="separate"), "n", out_dim=3))
    assert separate == K * shared
    multihead = TaskMLP(8, [16, 16], NetworkConfig(K, mode="multihead"), "n", out_dim=3)
    head = 16 * 3 + 3
    assert _count(multihead) == shared + (K - 1) * head


def test_psp_adds_only_per_task_biases() -> None:
    shared = _count(TaskMLP(8, [16, 16], NetworkConfig(K, mode="shared"), "n", out_dim=3))
    psp = _count(TaskMLP(8, [16, 16], NetworkConfig(K, mode="psp", task_bias=True), "n", out_dim=3))
    assert psp == shared + (K - 1) * (16 + 16 + 3)
    assert (
        _count(TaskMLP(8, [16, 16], NetworkConfig(K, mode="psp", task_bias=False), "n", out_dim=3)) == shared
    )


def test_complex_networks_keep_hidden_complex_and_return_real() -> None:
    cfg = NetworkConfig(K, mode="psp", context="complex")
    trunk = TaskMLP(8, [16], cfg, "t")
    head = TaskMLP(16, [], cfg, "h", out_dim=2)
    batch = TaskBatch(torch.randn(5, 8), torch.tensor([0, 1, 2, 3, 0]))
    hidden = trunk(batch)
    assert hidden.x.dtype == torch.complex64 and torch.equal(hidden.task, batch.task)
    out = head(hidden)
    assert out.dtype == torch.float32 and out.shape == (5, 2)


def test_squashed_head_is_bounded() -> None:
    head = TaskMLP(4, [8], NetworkConfig(K), "mu", out_dim=2, squash=True)
    out = head(TaskBatch(100 * torch.randn(32, 4), torch.zeros(32, dtype=torch.long)))
    assert out.abs().max() <= 1.0


def test_layer_names_seed_different_keys() -> None:
    extractor = TaskMlpExtractor(8, dict(pi=[16], vf=[16]), nn.Tanh, NetworkConfig(K))
    pi_key = extractor.policy_net.layers[0].context
    vf_key = extractor.value_net.layers[0].context
    assert not torch.equal(pi_key, vf_key)


@pytest.mark.parametrize("mode", ["psp", "separate", "shared"])
def test_cnn_trunk_shapes(mode: str) -> None:
    cnn = TaskCNN((3, 36, 36), NetworkConfig(K, mode=mode), features_dim=32)
    out = cnn(TaskBatch(torch.rand(2, 3, 36, 36), torch.tensor([0, 3])))
    assert out.x.shape == (2, 32)
    if mode == "psp":
        assert isinstance(cnn.layers[0], SuperposedConv2d)


def test_cnn_rejects_too_small_images() -> None:
    with pytest.raises(ValueError, match="too small"):
        TaskCNN((3, 20, 20), NetworkConfig(K))


def test_bad_mode_names_the_modes() -> None:
    with pytest.raises(ValueError, match="Unknown mode 'frozen'") as error:
        NetworkConfig(K, mode="frozen")
    assert all(mode in str(error.value) for mode in MODES)
    with pytest.raises(ValueError, match="Did you mean 'shared'"):
        NetworkConfig(K, mode="shard")


def test_registered_mode_builds_every_layer() -> None:
    def per_task_first(config: NetworkConfig, name: str, n_in: int, n_out: int, head: bool) -> nn.Module:
        if name.endswith("/0"):
            return TaskLinear(n_in, n_out, config.num_tasks)
        return superposed_linear(config, name, n_in, n_out, head)

    register_mode(
        "test-per-task-first", Mode(per_task_first, superposed_conv, superposed=True), overwrite=True
    )
    net = TaskMLP(4, [8, 8], NetworkConfig(K, mode="test-per-task-first"), "q", out_dim=2)
    layers = [m for m in net.layers if not isinstance(m, (nn.Tanh, nn.ReLU))]
    assert isinstance(layers[0], TaskLinear)
    assert all(isinstance(m, SuperposedLinear) for m in layers[1:])
    with pytest.raises(ValueError, match="already registered"):
        register_mode("test-per-task-first", Mode(per_task_first, superposed_conv))


def test_width_rule_scales_only_layers_wider_than_the_base() -> None:
    net = TaskMLP(64, [256, 256], NetworkConfig(K), "pi", out_dim=2)
    layers = [m for m in net.layers if isinstance(m, SuperposedLinear)]
    assert [m.multiplier for m in layers] == [1.0, 0.25, 0.25]
    off = TaskMLP(64, [256, 256], NetworkConfig(K, width_scaling=False), "pi", out_dim=2)
    assert {m.multiplier for m in off.layers if isinstance(m, SuperposedLinear)} == {1.0}
    narrow = TaskMLP(4, [32, 32], NetworkConfig(K, base_width=16), "pi", out_dim=2)
    assert [m.multiplier for m in narrow.layers if isinstance(m, SuperposedLinear)] == [1.0, 0.5, 0.5]
    with pytest.raises(ValueError, match="base_width must be a positive integer"):
        NetworkConfig(K, base_width=0)


def test_layer_norm_keeps_hidden_features_at_unit_scale() -> None:
    net = TaskMLP(8, [16, 16], NetworkConfig(K, mode="psp", layer_norm=True), "n", out_dim=3)
    assert sum(isinstance(m, nn.LayerNorm) for m in net.layers) == 2
    assert all(not any(True for _ in m.parameters()) for m in net.layers if isinstance(m, nn.LayerNorm))
    with torch.no_grad():  # weights grown 100 times: the features (and so the outputs) keep their scale
        small = net.layers[2](
            net.layers[1](net.layers[0](torch.randn(32, 8), torch.zeros(32, dtype=torch.long)))
        )
        for layer in net.layers:
            if isinstance(layer, SuperposedLinear):
                layer.weight.mul_(100.0)
        big = net.layers[2](
            net.layers[1](net.layers[0](torch.randn(32, 8), torch.zeros(32, dtype=torch.long)))
        )
    assert abs(float(big.std()) - float(small.std())) < 0.2
    with pytest.raises(ValueError, match="layer_norm needs real activations"):
        NetworkConfig(K, mode="psp", context="complex", layer_norm=True)


def test_layer_norm_skip_first_keeps_the_observations_magnitude() -> None:
    net = TaskMLP(4, [16, 16], NetworkConfig(K, mode="psp", layer_norm="skip_first"), "n", out_dim=2)
    kinds = [type(m) for m in net.layers]
    assert kinds == [SuperposedLinear, nn.ReLU, SuperposedLinear, nn.LayerNorm, nn.ReLU, SuperposedLinear]
    x, task = torch.randn(8, 4), torch.zeros(8, dtype=torch.long)
    with torch.no_grad():  # a normalised first layer maps x and 3x to nearly the same features
        normed = TaskMLP(4, [16, 16], NetworkConfig(K, mode="psp", layer_norm=True), "n", out_dim=2)
        first_normed = normed.layers[1](normed.layers[0](x, task))
        first_normed_3x = normed.layers[1](normed.layers[0](3 * x, task))
        net_first = net.layers[0](x, task)
        net_first_3x = net.layers[0](3 * x, task)
    assert (first_normed_3x - first_normed).abs().mean() < 0.5 * (net_first_3x - net_first).abs().mean()
    with pytest.raises(ValueError, match="layer_norm must be true, false or 'skip_first'"):
        NetworkConfig(K, mode="psp", layer_norm="first")


def test_layer_norm_eps_leaves_small_scales_and_normalises_grown_ones() -> None:
    soft = NetworkConfig(K, mode="psp", layer_norm=True, layer_norm_eps=1.0).normalization(256)
    assert isinstance(soft, nn.LayerNorm) and soft.eps == 1.0
    small, grown = 0.1 * torch.randn(64, 256), 30.0 * torch.randn(64, 256)
    with torch.no_grad():  # a fresh layer's scale (std 0.1) is kept within 1 %, a grown one's brought to ~1
        assert abs(float(soft(small).std()) / float(small.std()) - 1.0) < 0.01
        assert 0.9 < float(soft(grown).std()) < 1.1
        default = NetworkConfig(K, mode="psp", layer_norm=True).normalization(256)
        assert default is not None and 0.9 < float(default(small).std()) < 1.1
    for bad in (0, -1.0, True, "1"):
        with pytest.raises(ValueError, match="layer_norm_eps must be a positive number"):
            NetworkConfig(K, mode="psp", layer_norm=True, layer_norm_eps=bad)  # type: ignore[arg-type]


def test_split_complex_activation_runs_once_over_both_parts() -> None:
    from psp_rl.nn.modes import SplitComplex

    z = torch.randn(5, 7, dtype=torch.complex64)
    for activation in (torch.nn.Tanh(), torch.nn.ReLU(), torch.nn.LeakyReLU(0.1)):
        fast = SplitComplex(activation)
        assert fast.elementwise
        assert torch.equal(fast(z), torch.complex(activation(z.real), activation(z.imag)))
    softmax = SplitComplex(torch.nn.Softmax(dim=-1))  # not elementwise: each part on its own
    assert not softmax.elementwise
    expected = torch.complex(torch.softmax(z.real, -1), torch.softmax(z.imag, -1))
    assert torch.equal(softmax(z), expected)
    real = torch.randn(3, 4)
    assert torch.equal(SplitComplex(torch.nn.Tanh())(real), torch.tanh(real))


@pytest.mark.parametrize("context", ["binary", "complex", "rotation"])
@pytest.mark.parametrize("rows", [3, 40], ids=["key-on-inputs", "key-in-weight"])
def test_a_one_task_batch_through_a_stack_equals_the_per_sample_path(context: str, rows: int) -> None:
    """A checked one-task batch (``single`` set) uses one key per layer, with the input lifting still
    pending; it computes what the per-sample path computes, gradients included."""
    torch.manual_seed(0)
    config = NetworkConfig(K, context=context, layer_norm=context != "complex")
    lift, x = torch.randn(12, 4), torch.randn(rows, 4)
    net = TaskMLP(12, [16, 8], config, "pi", out_dim=3)
    task = torch.full((rows,), 2)
    outs, grads = [], []
    for batch in (TaskBatch(x, task, True, single=2, lift=lift), TaskBatch(x @ lift.T, task, True)):
        net.zero_grad()
        y = net(batch)
        y.square().sum().backward()
        outs.append(y)
        grads.append([p.grad.clone() for p in net.parameters()])
    torch.testing.assert_close(outs[0], outs[1])
    for fast, general in zip(*grads):
        torch.testing.assert_close(fast, general, rtol=1e-5, atol=1e-5 * float(general.abs().max()))


def test_one_task_batches_of_drifting_and_plain_stacks() -> None:
    """A drifting context picks its keys by coordinate even in a one-task batch; a plain first layer
    gets the pending lifting applied before it."""
    drift = TaskMLP(6, [8], NetworkConfig(K, drift_context="interpolate"), "pi", out_dim=2)
    x, task = torch.randn(5, 6), torch.full((5,), 1)
    with pytest.raises(ValueError, match="coordinate"):
        drift(TaskBatch(x, task, True, single=1))
    shared = TaskMLP(6, [8], NetworkConfig(K, mode="shared"), "pi", out_dim=2)
    lift = torch.randn(6, 3)
    torch.testing.assert_close(
        shared(TaskBatch(x[:, :3], task, True, single=1, lift=lift)),
        shared(TaskBatch(x[:, :3] @ lift.T, task)),
    )
