"""Mode ``separate`` with ``drift_context=binned``: one independent network per bin of the coordinate, the
bins those of the binned keys."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from psp_rl.nn import NetworkConfig
from psp_rl.nn.drift import DriftingKeys, phase_bins
from psp_rl.nn.networks import TaskBatch, TaskMLP
from psp_rl.nn.task_layers import BinnedLinear

COORDS = torch.tensor([0.0, 0.1, 0.26, 0.49, 0.5, 0.74, 0.75, 0.999, 1.2])


def test_the_bins_are_those_of_the_binned_keys() -> None:
    assert phase_bins(COORDS, 4).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 0]
    keys = DriftingKeys("binned", "binary", 16, 4)
    assert torch.equal(keys.keys(COORDS), keys.anchors[phase_bins(COORDS, 4)])


def test_each_sample_uses_its_bins_weights() -> None:
    layer = BinnedLinear(5, 3, num_bins=4, num_tasks=2)
    x = torch.randn(len(COORDS), 5)
    y = layer(x, torch.zeros(len(COORDS), dtype=torch.long), COORDS)
    for i, b in enumerate(phase_bins(COORDS, 4).tolist()):
        assert torch.allclose(y[i], F.linear(x[i], layer.weight[b], layer.bias[b]), atol=1e-6)
    assert layer.weight.shape == (4, 3, 5) and layer.num_tasks == 2
    with pytest.raises(ValueError, match="'coord' entry"):
        layer(x, torch.zeros(len(COORDS), dtype=torch.long))


def test_training_one_bin_leaves_the_other_bins_networks_unchanged() -> None:
    torch.manual_seed(0)
    cfg = NetworkConfig(1, mode="separate", drift_context="binned", drift_keys=4)
    net = TaskMLP(3, [16, 16], cfg, "pi", out_dim=2)
    assert [type(m) for m in net.layers if not isinstance(m, torch.nn.ReLU)] == [BinnedLinear] * 3
    x, task = torch.randn(len(COORDS), 3), torch.zeros(len(COORDS), dtype=torch.long)
    before = net(TaskBatch(x, task, coord=COORDS)).detach()
    trained = phase_bins(COORDS, 4) == 1
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(5):
        optimizer.zero_grad()
        net(TaskBatch(x[trained], task[trained], coord=COORDS[trained])).pow(2).sum().backward()
        optimizer.step()
    after = net(TaskBatch(x, task, coord=COORDS)).detach()
    assert torch.equal(after[~trained], before[~trained])
    assert not torch.allclose(after[trained], before[trained])


def test_separate_takes_binned_keys_only_and_vector_inputs_only() -> None:
    with pytest.raises(ValueError, match="mode separate with drift_context binned"):
        NetworkConfig(1, mode="separate", drift_context="interpolate")
    with pytest.raises(ValueError, match="mode 'shared' has none"):
        NetworkConfig(1, mode="shared", drift_context="binned")
    cfg = NetworkConfig(1, mode="separate", drift_context="binned")
    with pytest.raises(ValueError, match="vector observations only"):
        cfg.conv("cnn/0", 3, 8, 3, 1)
    assert type(NetworkConfig(2, mode="separate").linear("pi/0", 4, 4)).__name__ == "TaskLinear"
