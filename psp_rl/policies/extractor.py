"""The features extractor of every PSP policy: splits ``{"obs", "task"}`` into features and task ids."""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from psp_rl.nn.config import NetworkConfig, takes_network_options
from psp_rl.nn.contexts import layer_id
from psp_rl.nn.networks import TaskBatch
from psp_rl.nn.pertask import single_task
from psp_rl.policies.small_cnn import image_trunk

# Vector observations with fewer dimensions are lifted to this many in psp mode (see TaskFeaturesExtractor).
DEFAULT_LIFT_DIM = 64


def num_tasks_of(observation_space: spaces.Space) -> int:
    """The number of tasks ``K`` of a PSP observation space ``Dict({"obs": Box, "task": Discrete(K)})``
    (optionally with a continuous task coordinate ``"coord": Box(0, 1, (1,))``).

    :param observation_space: the environment's observation space
    :raises ValueError: if the space does not carry the task id
    """
    if (
        not isinstance(observation_space, spaces.Dict)
        or set(observation_space.spaces) - {"coord"} != {"obs", "task"}
        or not isinstance(observation_space["task"], spaces.Discrete)
        or not isinstance(observation_space["obs"], spaces.Box)
        or ("coord" in observation_space.spaces and _coord_shape(observation_space) != (1,))
    ):
        raise ValueError(
            "PSP policies need the task id inside the observation: an observation space "
            "Dict({'obs': Box, 'task': Discrete(K)}) (and optionally 'coord': Box of shape (1,)), got "
            f"{observation_space}. Wrap the env with psp_rl.TaskObservation or build it "
            "with psp_rl.load_suite(...).make_vec_env()."
        )
    if observation_space["task"].start != 0:
        raise ValueError("The 'task' space must be Discrete(K) starting at 0 (task ids 0..K-1).")
    return int(observation_space["task"].n)


def _coord_shape(space: spaces.Dict) -> tuple[int, ...] | None:
    coord = space.spaces["coord"]
    return tuple(coord.shape) if isinstance(coord, spaces.Box) else None


class TaskFeaturesExtractor(BaseFeaturesExtractor):
    """Features of the ``"obs"`` entry (flattened vector, or a task-conditioned CNN for images: NatureCNN,
    or :class:`~psp_rl.policies.small_cnn.SmallTaskCNN` for images under 36x36) and
    the task id of every sample, returned together as a :class:`~psp_rl.nn.networks.TaskBatch`.

    SB3 one-hot encodes the ``Discrete`` task before this module (``(B, K)`` from a VecEnv, ``(B, 1, K)``
    from the buffers); the id is recovered with ``argmax``. In ``onehot`` mode the one-hot vector is
    also appended to the features.

    Input lifting (``psp`` mode, vector observations): superposition separates tasks by ~``1/sqrt(N)``
    where ``N`` is a layer's fan-in, so a 4-dimensional CartPole observation would give the first layer
    almost no isolation (4 random signs: some tasks even share a key up to sign). The observation is
    therefore first mapped by a fixed random Gaussian matrix ``R`` (``lift_dim × obs_dim``, scaled by
    ``1/sqrt(obs_dim)``, a persistent buffer seeded by ``context_seed``, never trained) into
    ``lift_dim`` dimensions, where the first superposed layer's keys act. ``R`` is injective for
    ``lift_dim ≥ obs_dim``, so no information is lost.

    :param observation_space: ``Dict({"obs": Box, "task": Discrete(K)})``
    :param cnn_output_dim: feature size of the CNN trunk for image observations (NatureCNN from 36x36
        on, :class:`~psp_rl.policies.small_cnn.SmallTaskCNN` for smaller images)
    :param lift_dim: dimension of the fixed random lifting of vector observations in ``psp`` mode;
        ``None`` (default) lifts observations of fewer than :data:`DEFAULT_LIFT_DIM` dimensions to
        that many, ``0`` disables lifting
    :param options: the network options (:class:`~psp_rl.nn.NetworkConfig`; the CNN trunk has no LayerNorm)
    """

    lift: torch.Tensor  # the lifting matrix R: a buffer registered in __init__ when lift_dim > 0

    @takes_network_options
    def __init__(
        self,
        observation_space: spaces.Dict,
        cnn_output_dim: int = 512,
        lift_dim: int | None = None,
        **options: Any,
    ) -> None:
        num_tasks = num_tasks_of(observation_space)
        config = NetworkConfig(num_tasks, **options)
        has_coord = "coord" in observation_space.spaces
        if (config.drift_context is not None or config.coord_input) and not has_coord:
            raise ValueError(
                "drift_context / coord_input need the continuous task coordinate in the observation "
                "('coord' entry): use a suite with coordinate: true (e.g. pendulum-drift, mountaincar-drift)."
            )
        obs_space = cast(spaces.Box, observation_space["obs"])  # checked by num_tasks_of
        is_image = is_image_space(obs_space, check_channels=False)
        obs_dim = int(np.prod(obs_space.shape))
        if lift_dim is None:
            lift = config.spec.lift_inputs and not is_image and obs_dim < DEFAULT_LIFT_DIM
            lift_dim = DEFAULT_LIFT_DIM if lift else 0
        if lift_dim < 0 or (lift_dim and is_image):
            raise ValueError(f"lift_dim must be >= 0 and only for vector observations, got {lift_dim}.")
        dim = cnn_output_dim if is_image else (lift_dim or obs_dim)
        if config.spec.onehot_inputs:
            dim += num_tasks
        if config.coord_input:
            dim += 2
        super().__init__(observation_space, features_dim=dim)
        self.config = config
        self.has_coord = has_coord
        self.lift_dim = lift_dim
        self.cnn = image_trunk(obs_space.shape, config, cnn_output_dim) if is_image else None
        if lift_dim:
            rng = np.random.default_rng(np.random.SeedSequence([config.context_seed, layer_id("lift")]))
            lift = rng.standard_normal((lift_dim, obs_dim)) / np.sqrt(obs_dim)
            self.register_buffer("lift", torch.as_tensor(lift, dtype=torch.float32))

    def forward(self, observations: dict[str, torch.Tensor]) -> TaskBatch:  # type: ignore[override]
        """:param observations: preprocessed observations (task one-hot encoded)"""
        onehot = observations["task"].flatten(1)
        coord = observations["coord"].reshape(-1).to(torch.float32) if self.has_coord else None
        task = onehot.argmax(dim=1)  # in [0, K) by construction: no range check needed downstream
        batch = TaskBatch(observations["obs"], task, True, coord, single=single_task(task))  # read once here
        return self.features(batch, onehot)

    def features(self, batch: TaskBatch, onehot: torch.Tensor) -> TaskBatch:
        """The features of the observations ``batch.x`` for the tasks of ``batch`` (ids, or mixing weights).

        :param batch: preprocessed ``"obs"`` entries with their task ids (or ``weights``) and coordinates
        :param onehot: ``(B, K)`` task rows, appended to the features in ``onehot`` mode
        :return: the features; a vector lifting is left pending for the networks' first superposed layer
            (see :class:`~psp_rl.nn.networks.TaskBatch`), which folds it into its weight when cheaper
        """
        x = self.cnn(batch).x if self.cnn is not None else batch.x.flatten(1)
        if self.lift_dim and not (self.config.spec.onehot_inputs or self.config.coord_input):
            return batch._replace(x=x, lift=self.lift)
        if self.lift_dim:
            x = x @ self.lift.T
        if self.config.spec.onehot_inputs:
            x = torch.cat([x, onehot.to(x.dtype)], dim=1)
        if self.config.coord_input and batch.coord is not None:
            angle = 2 * math.pi * batch.coord[:, None]
            x = torch.cat([x, torch.sin(angle).to(x.dtype), torch.cos(angle).to(x.dtype)], dim=1)
        return batch._replace(x=x)
