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

from psp_rl.nn.networks import NetworkConfig, TaskCNN

__all__ = ["NATURE_CNN_MIN_SIZE", "SmallTaskCNN", "image_trunk"]

#: the smallest height / width NatureCNN's 8x8, 4x4 and 3x3 convolutions accept
NATURE_CNN_MIN_SIZE = 36
_CHANNELS = (16, 32, 64)
_KERNEL = 3


class SmallTaskCNN(TaskCNN):
    """:class:`~psp_rl.nn.networks.TaskCNN` with up to three 3x3 stride-1 convolutions (16, 32, 64
    channels, as many as the image allows) for small images.

    :param image_shape: ``(C, H, W)`` of the (channel-first) images, ``H, W >= 3``
    :param config: the network config (mode, context, K)
    :param features_dim: size of the output features
    :param name: the network's unique name in its policy (seeds its context keys)
    :raises ValueError: for images smaller than 3x3
    """

    def __init__(
        self, image_shape: tuple[int, ...], config: NetworkConfig, features_dim: int = 512, name: str = "cnn"
    ) -> None:
        size = min(image_shape[1:])
        if size < _KERNEL:
            raise ValueError(
                f"Images of {image_shape} are too small for a CNN (at least 3x3): use a vector view."
            )
        fitting = min(len(_CHANNELS), (size - 1) // (_KERNEL - 1))  # each 3x3 convolution removes 2
        convs = [(c, _KERNEL, 1) for c in _CHANNELS[:fitting]]
        super().__init__(image_shape, config, features_dim, name, convs)


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
