"""The features extractor of every PSP policy: splits ``{"obs", "task"}`` into features and task ids."""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from psp_rl.networks import NetworkConfig, TaskBatch, TaskCNN


def num_tasks_of(observation_space: spaces.Space) -> int:
    """The number of tasks ``K`` of a PSP observation space ``Dict({"obs": Box, "task": Discrete(K)})``.

    :param observation_space: the environment's observation space
    :raises ValueError: if the space does not carry the task id
    """
    if (
        not isinstance(observation_space, spaces.Dict)
        or set(observation_space.spaces) != {"obs", "task"}
        or not isinstance(observation_space["task"], spaces.Discrete)
        or not isinstance(observation_space["obs"], spaces.Box)
    ):
        raise ValueError(
            "PSP policies need the task id inside the observation: an observation space "
            "Dict({'obs': Box, 'task': Discrete(K)}), got "
            f"{observation_space}. Wrap the env with psp_rl.wrappers.TaskObservation or build it "
            "with psp_rl.load_suite(...).make_vec_env()."
        )
    if observation_space["task"].start != 0:
        raise ValueError("The 'task' space must be Discrete(K) starting at 0 (task ids 0..K-1).")
    return int(observation_space["task"].n)


class TaskFeaturesExtractor(BaseFeaturesExtractor):
    """Features of the ``"obs"`` entry (flattened vector, or a task-conditioned NatureCNN for images) and
    the task id of every sample, returned together as a :class:`~psp_rl.networks.TaskBatch`.

    SB3 one-hot encodes the ``Discrete`` task before this module (``(B, K)`` from a VecEnv, ``(B, 1, K)``
    from the buffers); the id is recovered with ``argmax``. In ``onehot`` mode the one-hot vector is
    also appended to the features.

    :param observation_space: ``Dict({"obs": Box, "task": Discrete(K)})``
    :param mode: network mode (see :data:`psp_rl.networks.MODES`)
    :param context: context kind
    :param context_seed: context seed
    :param task_bias: per-task biases in superposed layers
    :param cnn_output_dim: feature size of the CNN trunk for image observations
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        mode: str = "psp",
        context: str = "binary",
        context_seed: int = 0,
        task_bias: bool = True,
        cnn_output_dim: int = 512,
    ) -> None:
        num_tasks = num_tasks_of(observation_space)
        config = NetworkConfig(num_tasks, mode, context, context_seed, task_bias)
        obs_space = observation_space["obs"]
        is_image = is_image_space(obs_space, check_channels=False)
        dim = cnn_output_dim if is_image else int(np.prod(obs_space.shape))
        if mode == "onehot":
            dim += num_tasks
        super().__init__(observation_space, features_dim=dim)
        self.config = config
        self.cnn = TaskCNN(obs_space.shape, config, cnn_output_dim) if is_image else None

    def forward(self, observations: dict[str, torch.Tensor]) -> TaskBatch:  # type: ignore[override]
        """:param observations: preprocessed observations (task one-hot encoded)"""
        onehot = observations["task"].flatten(1)
        task = onehot.argmax(dim=1)  # in [0, K) by construction: no range check needed downstream
        x = observations["obs"]
        x = self.cnn(TaskBatch(x, task, True)).x if self.cnn is not None else x.flatten(1)
        if self.config.mode == "onehot":
            x = torch.cat([x, onehot.to(x.dtype)], dim=1)
        return TaskBatch(x, task, True)
