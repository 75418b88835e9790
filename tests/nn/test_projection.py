"""Normalize-and-project: scale-free layers keep their norm, the function does not change."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from psp_rl.nn import NetworkConfig, TaskBatch, TaskMLP
from psp_rl.nn.projection import NormProjection, ProjectNormsHook, scale_free_indices

K = 3


def _net(layer_norm: bool | str = True, mode: str = "psp", seed: int = 0) -> TaskMLP:
    torch.manual_seed(seed)
    config = NetworkConfig(K, mode=mode, layer_norm=layer_norm, weight_projection=True)
    return TaskMLP(4, [32, 32], config, "q", out_dim=2)


def _norm(layer: nn.Module) -> float:
    return float(torch.sqrt(sum(p.detach().pow(2).sum() for p in layer.parameters())))


def _batch(n: int = 24) -> TaskBatch:
    gen = torch.Generator().manual_seed(1)
    return TaskBatch(torch.randn(n, 4, generator=gen), torch.arange(n) % K)


def _grow(net: nn.Module, factor: float) -> None:
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(factor)


def test_the_layers_that_feed_a_layer_norm_are_projected() -> None:
    assert [name for name, _ in _net().projected_layers()] == ["layers.0", "layers.3"]
    assert [name for name, _ in _net("skip_first").projected_layers()] == ["layers.2"]
    plain = TaskMLP(4, [32, 32], NetworkConfig(K, layer_norm=True), "q", out_dim=2)
    assert plain.projected_layers() == [] and plain.norm_projection is None
    assert "norm_projection.targets" in _net().state_dict()
    assert (
        "norm_projection.targets" not in plain.state_dict()
    )  # saved models without the option are unchanged


@pytest.mark.parametrize("mode", ["psp", "separate", "shared"])
def test_projection_restores_the_recorded_norm_and_keeps_the_function(mode: str) -> None:
    net = _net(mode=mode)
    layers = [layer for _, layer in net.projected_layers()]
    recorded = [_norm(layer) for layer in layers]  # recorded at construction
    assert net.norm_projection is not None
    assert net.norm_projection.targets.tolist() == pytest.approx(recorded)
    before = net(_batch())
    for layer in layers:  # what Adam does to a scale-free layer: it grows
        _grow(layer, 7.0)
    grown = [_norm(layer) for layer in layers]
    assert all(g == pytest.approx(7 * r, rel=1e-5) for g, r in zip(grown, recorded))
    net.project_norms()
    assert [_norm(layer) for layer in layers] == pytest.approx(recorded, rel=1e-5)
    torch.testing.assert_close(net(_batch()), before, atol=1e-5, rtol=1e-5)


def test_norms_are_recorded_again_after_re_initialisation() -> None:
    net = _net()
    first = net.layers[0]
    _grow(first, 3.0)  # a re-initialisation at another scale (as SB3's orthogonal init)
    net.record_norms()
    net.project_norms()
    assert net.norm_projection is not None
    assert float(net.norm_projection.targets[0]) == pytest.approx(_norm(first), rel=1e-6)


def test_the_output_layer_is_left_alone() -> None:
    net = _net()
    net.project_norms()
    head = net.layers[-1]
    _grow(head, 3.0)
    norm = _norm(head)
    net.project_norms()
    assert _norm(head) == pytest.approx(norm)


def test_an_optimizer_hook_projects_after_every_step() -> None:
    net = _net()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    optimizer.register_step_post_hook(ProjectNormsHook([net]))
    layers = [layer for _, layer in net.projected_layers()]
    batch = _batch()
    for step in range(30):
        loss = net(batch).pow(2).mean() - net(batch)[:, 0].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step == 0:
            recorded = [_norm(layer) for layer in layers]
    assert [_norm(layer) for layer in layers] == pytest.approx(recorded, rel=1e-4)
    # without the hook the same steps grow the scale-free layers
    free = _net()
    optimizer = torch.optim.Adam(free.parameters(), lr=0.05)
    start = [_norm(layer) for _, layer in free.projected_layers()]
    for _ in range(30):
        loss = free(batch).pow(2).mean() - free(batch)[:, 0].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert all(_norm(layer) > 1.2 * s for (_, layer), s in zip(free.projected_layers(), start))


def test_targets_travel_with_the_state_dict() -> None:
    net = _net(seed=0)
    net.project_norms()
    _grow(net, 2.0)
    net.project_norms()
    copy = _net(seed=5)
    copy.load_state_dict(net.state_dict())
    _grow(copy, 3.0)
    copy.project_norms()  # projects onto the loaded targets, not onto new ones
    torch.testing.assert_close(copy.state_dict()["layers.0.weight"], net.state_dict()["layers.0.weight"])


def test_scale_free_indices_need_a_parameter_free_layer_norm() -> None:
    free = nn.LayerNorm(3, elementwise_affine=False)
    layers = [nn.Linear(3, 3), free, nn.ReLU(), nn.Linear(3, 3), nn.LayerNorm(3), nn.Linear(3, 3)]
    assert scale_free_indices(layers) == [0]
    assert NormProjection(0).targets.numel() == 0


def test_projection_needs_a_layer_norm() -> None:
    with pytest.raises(ValueError, match="set layer_norm: true"):
        NetworkConfig(K, weight_projection=True)
    with pytest.raises(ValueError, match="weight_projection must be true or false"):
        NetworkConfig(K, layer_norm=True, weight_projection="yes")  # type: ignore[arg-type]
