"""A task-conditioned CNN trunk for small images (under 36x36, e.g. MiniGrid's 7x7 view), built from the
same layer factories as every other PSP network.

NatureCNN (:class:`~psp_rl.nn.networks.TaskCNN`) needs images of at least 36x36; :func:`image_trunk` picks
it for those and :class:`SmallTaskCNN` for smaller ones: up to three 3x3 convolutions of stride 1 (16, 32,
64 channels, as many as the image allows), then a linear layer to ``features_dim``, each superposed (or
whatever the mode builds) and followed by a ReLU. For a 7x7 view: 7 -> 5 -> 3 -> 1, 64 features, then the
linear layer.

Example::

    >>> cnn = image_trunk((3, 7, 7), NetworkConfig(num_tasks=2), features_dim=32)
    >>> cnn(TaskBatch(torch.rand(4, 3, 7, 7), torch.tensor([0, 1, 0, 1]))).x.shape
    torch.Size([4, 32])
"""

from __future__ import annotations

from torch import nn

from psp_rl.nn.networks import NetworkConfig, TaskBatch, TaskCNN, TaskStack

__all__ = ["NATURE_CNN_MIN_SIZE", "SmallTaskCNN", "image_trunk"]

#: the smallest height / width NatureCNN's 8x8, 4x4 and 3x3 convolutions accept
NATURE_CNN_MIN_SIZE = 36
_CHANNELS = (16, 32, 64)
_KERNEL = 3


class SmallTaskCNN(TaskStack):
    """Up to three 3x3 stride-1 convolutions and a linear layer, task-conditioned, for small images.

    :param image_shape: ``(C, H, W)`` of the (channel-first) images, ``H, W >= 3``
    :param config: the network config (mode, context, K)
    :param features_dim: size of the output features
    :param name: the network's unique name in its policy (seeds its context keys)
    :raises ValueError: for images smaller than 3x3
    """

    def __init__(
        self, image_shape: tuple[int, ...], config: NetworkConfig, features_dim: int = 512, name: str = "cnn"
    ) -> None:
        channels, height, width = image_shape
        if min(height, width) < _KERNEL:
            raise ValueError(
                f"Images of {image_shape} are too small for a CNN (at least 3x3): use a vector view."
            )
        layers: list[nn.Module] = []
        for i, out_c in enumerate(_CHANNELS):
            if min(height, width) < _KERNEL:
                break
            layers += [config.conv(f"{name}/{i}", channels, out_c, _KERNEL, 1), config.activation(nn.ReLU)]
            channels, height, width = out_c, height - _KERNEL + 1, width - _KERNEL + 1
        n_convs = len(layers) // 2
        layers += [nn.Flatten(), config.linear(f"{name}/{n_convs}", channels * height * width, features_dim)]
        layers.append(config.activation(nn.ReLU))
        super().__init__(layers)
        self.features_dim = features_dim

    def forward(self, batch: TaskBatch) -> TaskBatch:
        """:param batch: images (float, normalised) and task ids"""
        return batch._replace(x=self.run(batch))


def image_trunk(
    image_shape: tuple[int, ...], config: NetworkConfig, features_dim: int = 512
) -> TaskCNN | SmallTaskCNN:
    """The CNN trunk for images of a shape: NatureCNN from 36x36 on, :class:`SmallTaskCNN` below.

    :param image_shape: ``(C, H, W)``
    :param config: the network config
    :param features_dim: size of the output features
    """
    if min(image_shape[1:]) >= NATURE_CNN_MIN_SIZE:
        return TaskCNN(image_shape, config, features_dim)
    return SmallTaskCNN(image_shape, config, features_dim)
