"""Drifting contexts: keys that follow a continuous coordinate s in [0, 1) -- deterministic, periodic,
smooth in s, picked per sample, saved with the layer; geodesic keys stay orthogonal."""

from __future__ import annotations

import pytest
import torch

from psp_rl.nn import NetworkConfig
from psp_rl.nn.conv import SuperposedConv2d
from psp_rl.nn.drift import DRIFT_CONTEXTS, DriftingKeys
from psp_rl.nn.layers import SuperposedLinear
from psp_rl.nn.networks import TaskBatch, TaskMLP

KINDS = [
    ("power", "complex"),
    ("geodesic", "rotation"),
    ("interpolate", "binary"),
    ("interpolate", "complex"),
    ("interpolate", "rotation"),
    ("binned", "binary"),
    ("binned", "rotation"),
]


def key_distance(keys: DriftingKeys, a: float, b: float) -> float:
    k = keys.keys(torch.tensor([a, b]))
    return float((k[0] - k[1]).abs().pow(2).sum().sqrt() / k[0].abs().pow(2).sum().sqrt())


@pytest.mark.parametrize(("drift", "context"), KINDS)
def test_keys_are_deterministic_and_periodic(drift: str, context: str) -> None:
    a, b = (
        DriftingKeys(drift, context, 16, 8, seed=3, layer_index=5),
        DriftingKeys(drift, context, 16, 8, 3, 5),
    )
    s = torch.tensor([0.0, 0.27, 0.5, 0.93])
    assert torch.equal(a.keys(s), b.keys(s))
    assert torch.allclose(a.keys(s), a.keys(s + 1.0), atol=1e-4)  # s = 1 is s = 0
    other = DriftingKeys(drift, context, 16, 8, seed=3, layer_index=6)
    assert not torch.allclose(a.keys(s), other.keys(s))  # another layer, other keys


@pytest.mark.parametrize(("drift", "context"), [k for k in KINDS if k[0] != "binned"])
def test_nearby_coordinates_give_nearby_keys(drift: str, context: str) -> None:
    keys = DriftingKeys(drift, context, 64, 8, seed=0, layer_index=1)
    for s in (0.0, 0.31, 0.77):
        near, far = key_distance(keys, s, s + 1e-3), key_distance(keys, s, s + 0.5)
        assert near < 0.05 and far > 0.5, (s, near, far)


def test_binned_keys_are_constant_within_a_bin_and_jump_between() -> None:
    keys = DriftingKeys("binned", "binary", 32, 4)
    assert key_distance(keys, 0.01, 0.24) == 0.0
    assert key_distance(keys, 0.24, 0.26) > 0.5


def test_geodesic_keys_are_rotations_everywhere() -> None:
    keys = DriftingKeys("geodesic", "rotation", 17, 8)  # odd N: one coordinate is not rotated
    mats = keys.keys(torch.rand(6))
    eye = torch.eye(17).expand(6, -1, -1)
    torch.testing.assert_close(mats @ mats.transpose(1, 2), eye, atol=1e-5, rtol=0)
    det = torch.linalg.det(mats)  # the base key's determinant (±1) all along the geodesic
    torch.testing.assert_close(det, torch.linalg.det(keys.base).expand(6), atol=1e-4, rtol=0)


@pytest.mark.parametrize(("drift", "context"), KINDS)
def test_a_mixed_batch_equals_each_coordinate_alone(drift: str, context: str) -> None:
    layer = SuperposedLinear(12, 5, num_tasks=2, context=context, drift_context=drift, drift_keys=4)
    x, task, coord = torch.randn(7, 12), torch.tensor([0, 1, 0, 1, 1, 0, 0]), torch.rand(7)
    mixed = layer(x, task, coord)
    alone = torch.cat([layer(x[i : i + 1], task[i : i + 1], coord[i : i + 1]) for i in range(7)])
    torch.testing.assert_close(mixed, alone, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(layer(x, task, coord), layer(x, task, torch.remainder(coord + 0.5, 1.0)))


def test_conv_and_mlp_carry_the_coordinate() -> None:
    conv = SuperposedConv2d(2, 3, 3, num_tasks=1, drift_context="interpolate", drift_keys=4)
    images, task, coord = torch.randn(4, 2, 6, 6), torch.zeros(4, dtype=torch.long), torch.rand(4)
    alone = torch.cat([conv(images[i : i + 1], task[:1], coord[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(conv(images, task, coord), alone, atol=1e-5, rtol=1e-5)
    config = NetworkConfig(num_tasks=1, context="complex", drift_context="power")
    head = TaskMLP(4, [16], config, "q", out_dim=2)
    out = head(TaskBatch(torch.randn(3, 4), torch.zeros(3, dtype=torch.long), False, torch.rand(3)))
    assert out.shape == (3, 2) and not out.is_complex()


@pytest.mark.parametrize(("drift", "context"), KINDS)
def test_saved_and_loaded_with_the_layer(drift: str, context: str) -> None:
    a = SuperposedLinear(8, 3, 1, context=context, seed=1, drift_context=drift)
    b = SuperposedLinear(8, 3, 1, context=context, seed=2, drift_context=drift)  # other keys
    b.load_state_dict(a.state_dict())
    x, task, coord = torch.randn(5, 8), torch.zeros(5, dtype=torch.long), torch.rand(5)
    assert torch.equal(a(x, task, coord), b(x, task, coord))
    assert any(name.startswith("drift.") for name in a.state_dict())


def test_missing_coordinate_and_bad_settings_are_clear_errors() -> None:
    layer = SuperposedLinear(8, 3, 1, drift_context="interpolate")
    with pytest.raises(ValueError, match="coordinate"):
        layer(torch.randn(2, 8), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="context=complex"):
        NetworkConfig(num_tasks=1, context="binary", drift_context="power")
    with pytest.raises(ValueError, match="context=rotation"):
        NetworkConfig(num_tasks=1, context="complex", drift_context="geodesic")
    with pytest.raises(ValueError, match="Unknown drift_context"):
        NetworkConfig(num_tasks=1, drift_context="spline")
    with pytest.raises(ValueError, match="coord_input"):
        NetworkConfig(num_tasks=1, mode="shared", drift_context="interpolate")
    with pytest.raises(ValueError, match="positive integer"):
        DriftingKeys("binned", "binary", 8, num_keys=0)
    assert set(DRIFT_CONTEXTS) == {"power", "geodesic", "interpolate", "binned"}
