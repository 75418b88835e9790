"""What the four PSP policy families share: context options, weight init, input checks."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from psp_rl.nn.layers import SuperposedLinear, TaskLayer
from psp_rl.nn.networks import NetworkConfig, TaskStack
from psp_rl.nn.projection import ProjectNormsHook
from psp_rl.policies.extractor import TaskFeaturesExtractor, num_tasks_of
from psp_rl.policies.obs_checks import check_observation


class PSPPolicyMixin:
    """Mixed into SB3 policies (before the SB3 class) to make every layer task-conditioned.

    It takes the SB3 policy's arguments plus the PSP options below, checks the observation space,
    and hands SB3 the task-conditioned features extractor.

    :param mode: ``"psp"`` (default) or a baseline mode (see :data:`psp_rl.nn.MODES`)
    :param context: ``"binary"`` (default), ``"complex"`` or ``"rotation"``
    :param context_seed: seed of the context keys
    :param task_bias: one bias per task in superposed layers (default; a shared bias is a path for interference between tasks)
    :param width_scaling: the width rule: superposed layers wider than ``base_width`` learn
        ``base_width / fan_in`` times slower, so widening never increases interference (default on;
        see :class:`psp_rl.nn.NetworkConfig`)
    :param base_width: the fan-in up to which superposed layers keep the full learning rate
    :param layer_norm: parameter-free LayerNorm on every hidden layer, or ``"skip_first"`` on every one but
        the first (see :class:`psp_rl.nn.NetworkConfig`)
    :param layer_norm_eps: the LayerNorm's ``eps`` (see :class:`psp_rl.nn.NetworkConfig`)
    :param weight_projection: after every step of each of the policy's optimisers, rescale the layers that
        feed a LayerNorm to their starting norm (normalize-and-project, see :mod:`psp_rl.nn.projection`)
    :param drift_context: keys that follow the observation's continuous ``coord`` entry (``power``,
        ``geodesic``, ``interpolate``, ``binned``; see :mod:`psp_rl.nn.drift`); ``None``: keys by task id
    :param drift_keys: ``M`` of the drifting context
    :param coord_input: append ``[sin 2πs, cos 2πs]`` of the coordinate to the features
    """

    network_config: NetworkConfig
    observation_space: spaces.Space
    #: the networks SB3 acts with (the whole policy when empty): their superposed layers keep each task's
    #: folded weights while in evaluation mode (:meth:`~psp_rl.nn.layers.SuperposedLinear.set_acting`).
    #: Never a target network: SB3 moves those through ``.data``, which parameter versions do not see.
    acting_networks: tuple[str, ...] = ()

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *args: Any,
        mode: str = "psp",
        context: str = "binary",
        context_seed: int = 0,
        task_bias: bool = True,
        width_scaling: bool = True,
        base_width: int = 64,
        layer_norm: bool | str = False,
        drift_context: str | None = None,
        drift_keys: int = 8,
        coord_input: bool = False,
        layer_norm_eps: float = 1e-5,
        weight_projection: bool = False,
        features_extractor_class: type[BaseFeaturesExtractor] | None = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("use_sde", False):
            raise ValueError("PSP policies do not support gSDE: set use_sde=False.")
        if features_extractor_class not in (None, TaskFeaturesExtractor):
            name = getattr(features_extractor_class, "__name__", features_extractor_class)
            raise ValueError(
                f"PSP policies use their own task-conditioned extractor; remove features_extractor_class={name} "
                "from policy_kwargs (set its options, e.g. cnn_output_dim, through features_extractor_kwargs)."
            )
        # Set before the SB3 constructor, which builds the networks.
        self.network_config = NetworkConfig(
            num_tasks_of(observation_space), mode, context, context_seed, task_bias, width_scaling, base_width,
            layer_norm, drift_context, drift_keys, coord_input, layer_norm_eps, weight_projection,
        )  # fmt: skip
        super().__init__(  # type: ignore[call-arg]
            observation_space, action_space, lr_schedule, *args, features_extractor_class=TaskFeaturesExtractor,
            features_extractor_kwargs={**(features_extractor_kwargs or {}), **self.network_config.policy_kwargs()},
            **kwargs,
        )  # fmt: skip
        if weight_projection:
            self._register_norm_projection()

    def _register_norm_projection(self) -> None:
        """Record the initialised norms and hook every optimiser of the policy so that, after each of its
        steps, the stacks it trains project their scale-free layers back to them
        (:meth:`~psp_rl.nn.networks.TaskStack.project_norms`). A loaded model's saved norms replace these."""
        policy = cast(nn.Module, self)
        stacks = [m for m in policy.modules() if isinstance(m, TaskStack) and m.norm_projection is not None]
        for stack in stacks:  # SB3 initialises the weights again after building the networks
            stack.record_norms()
        for optimizer in module_optimizers(policy):
            trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
            own = [s for s in stacks if any(id(p) in trained for p in s.parameters())]
            if own:
                optimizer.register_step_post_hook(ProjectNormsHook(own))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = {**super()._get_constructor_parameters(), **self.network_config.policy_kwargs()}  # type: ignore[misc]
        if hasattr(self, "share_features_extractor"):  # SB3 does not save it itself
            data["share_features_extractor"] = self.share_features_extractor
        return data

    def set_training_mode(self, mode: bool) -> None:
        """SB3's switch between training and evaluation mode; in evaluation mode (rollouts, ``predict``)
        the acting networks keep each task's weights with its key folded in, rebuilt when the parameters
        change (see :meth:`~psp_rl.nn.layers.SuperposedLinear.set_acting`).

        :param mode: ``True`` for training mode
        """
        super().set_training_mode(mode)  # type: ignore[misc]
        layers = self.__dict__.get("_acting_layers")  # found once: predict() calls this at every step
        if layers is None:
            nets = [getattr(self, name) for name in self.acting_networks] or [self]
            layers = [m for net in nets for m in net.modules() if isinstance(m, SuperposedLinear)]
            self.__dict__["_acting_layers"] = layers
        for layer in layers:
            layer.set_acting(not mode)

    @property
    def num_tasks(self) -> int:
        """Number of tasks ``K`` the policy holds."""
        return self.network_config.num_tasks

    @staticmethod
    def init_weights(module: nn.Module, gain: float = 1) -> None:
        """Orthogonal init (SB3's ``ortho_init``), extended to task-conditioned layers.

        :param module: a module visited by ``nn.Module.apply``
        :param gain: orthogonal gain
        """
        if isinstance(module, TaskLayer):
            module.reset_parameters(gain)
        elif isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.orthogonal_(module.weight, gain=gain)
            if module.bias is not None:
                module.bias.data.fill_(0.0)

    def obs_to_tensor(self, observation: np.ndarray | dict[str, np.ndarray]) -> tuple[PyTorchObs, bool]:
        """SB3's conversion, after :func:`~psp_rl.policies.obs_checks.check_observation` (on the host): a
        ``{"obs", "task"}`` dict with every entry of the space, one task id per observation, each an integer
        in ``[0, K)``, and no NaN or inf. Every ``predict`` (yours, SB3's evaluation, the rollouts of the
        off-policy algorithms) passes here.

        Task ids of any integer dtype (``int8`` ... ``uint64``) are accepted and handed on as ``int64``;
        floating-point and boolean ids are refused.

        :param observation: a (batch of) ``{"obs", "task"}`` observation(s)
        :raises ValueError: naming what is wrong with the observation and the fix
        """
        checked = check_observation(observation, self.observation_space, self.num_tasks)  # type: ignore[arg-type]
        return super().obs_to_tensor(checked)  # type: ignore[misc]

    def is_vectorized_observation(self, observation: np.ndarray | dict[str, np.ndarray]) -> bool:
        """SB3's test, after the same checks as :meth:`obs_to_tensor` (DQN's exploring ``predict`` asks it
        without converting the observation).

        :param observation: a (batch of) ``{"obs", "task"}`` observation(s)
        """
        checked = check_observation(observation, self.observation_space, self.num_tasks)  # type: ignore[arg-type]
        return super().is_vectorized_observation(checked)  # type: ignore[misc]


def module_optimizers(module: nn.Module, *extra: Any) -> list[torch.optim.Optimizer]:
    """The torch optimizers a module holds: the ``optimizer`` attribute of the module and of each of its
    sub-modules (an SB3 policy's, or SAC / TD3's actor and critic), then ``extra``, each once.

    :param module: a policy (any module tree)
    :param extra: more candidates (e.g. SAC's ``ent_coef_optimizer``); anything not an optimizer is skipped
    """
    candidates = [getattr(m, "optimizer", None) for m in module.modules()] + list(extra)
    found: list[torch.optim.Optimizer] = []
    for optimizer in candidates:
        if isinstance(optimizer, torch.optim.Optimizer) and all(optimizer is not o for o in found):
            found.append(optimizer)
    return found


def action_dim_of(action_space: spaces.Space) -> int:
    """Number of outputs an action head needs (logits or means).

    :param action_space: the environment's action space
    """
    if isinstance(action_space, spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, spaces.MultiDiscrete):
        return int(np.sum(action_space.nvec))
    if isinstance(action_space, spaces.MultiBinary):
        return int(np.prod(action_space.shape))
    if isinstance(action_space, spaces.Box):
        return int(np.prod(action_space.shape))
    raise ValueError(
        f"Unsupported action space {action_space}: use Discrete, MultiDiscrete, MultiBinary or Box."
    )


class TaskSubNetwork:
    """Mixed into SB3's sub-networks (Q-network, actors, critics): SB3 builds them as usual, then
    :meth:`build_task_layers` replaces their MLPs by task-conditioned ones. Their ``forward`` methods
    stay SB3's, since a task-conditioned MLP takes and gives what the SB3 code passes along.

    :param network_config: the policy's network config
    """

    network_config: NetworkConfig

    def __init__(self, *args: Any, network_config: NetworkConfig, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.network_config = network_config
        self.build_task_layers(kwargs)

    def build_task_layers(self, kwargs: dict[str, Any]) -> None:
        """Replace the SB3-built MLPs.

        :param kwargs: the keyword arguments the sub-network was built with
        """
        raise NotImplementedError

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "network_config": self.network_config}  # type: ignore[misc]
