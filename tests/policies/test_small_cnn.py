"""The CNN trunk for small images: picked below 36x36, task-conditioned, every layer built by the mode."""

from __future__ import annotations

import pytest
import torch

from psp_rl.nn.conv import SuperposedConv2d
from psp_rl.nn.networks import NetworkConfig, TaskBatch, TaskCNN
from psp_rl.policies.small_cnn import SmallTaskCNN, image_trunk


def test_small_images_get_the_small_trunk_and_large_ones_nature_cnn() -> None:
    config = NetworkConfig(num_tasks=3)
    assert isinstance(image_trunk((3, 36, 36), config, 8), TaskCNN)
    small = image_trunk((3, 7, 7), config, 8)
    assert isinstance(small, SmallTaskCNN)
    assert sum(isinstance(layer, SuperposedConv2d) for layer in small.layers) == 3  # 7 -> 5 -> 3 -> 1
    assert (
        sum(isinstance(layer, SuperposedConv2d) for layer in SmallTaskCNN((3, 4, 5), config, 8).layers) == 1
    )
    with pytest.raises(ValueError, match="too small for a CNN"):
        SmallTaskCNN((3, 2, 7), config)


@pytest.mark.parametrize("mode", ["psp", "shared", "separate"])
def test_the_small_trunk_depends_on_the_task_in_task_modes(mode: str) -> None:
    torch.manual_seed(0)
    cnn = SmallTaskCNN((3, 7, 7), NetworkConfig(num_tasks=2, mode=mode), features_dim=8)
    x = torch.rand(4, 3, 7, 7)
    out = [cnn(TaskBatch(x, torch.full((4,), k))).x for k in (0, 1)]
    assert out[0].shape == (4, 8)
    assert torch.equal(out[0], out[1]) == (mode == "shared")
