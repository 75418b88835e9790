"""What the four PSP policy families share: context options, weight init, input checks."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from psp_rl.nn.config import NetworkConfig, pop_network_options, takes_network_options
from psp_rl.nn.layers import TaskLayer
from psp_rl.nn.networks import TaskStack
from psp_rl.nn.projection import ProjectNormsHook
from psp_rl.policies.extractor import TaskFeaturesExtractor, num_tasks_of
from psp_rl.policies.obs_checks import check_observation


class PSPPolicyMixin:
    """Mixed into SB3 policies (before the SB3 class) to make every layer task-conditioned.

    It takes the SB3 policy's arguments plus the network options (every option of
    :class:`psp_rl.nn.NetworkConfig`: ``mode``, ``context``, ``context_seed``, ...; listed with their
    meanings in ``help(PSPPolicyMixin.__init__)``), checks the observation space, and hands SB3 the
    task-conditioned features extractor. The options are saved with the model.
    """

    network_config: NetworkConfig
    observation_space: spaces.Space

    @takes_network_options
    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *args: Any,
        features_extractor_class: type[BaseFeaturesExtractor] | None = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        options = pop_network_options(kwargs)
        if kwargs.get("use_sde", False):
            raise ValueError("PSP policies do not support gSDE: set use_sde=False.")
        if features_extractor_class not in (None, TaskFeaturesExtractor):
            name = getattr(features_extractor_class, "__name__", features_extractor_class)
            raise ValueError(
                f"PSP policies use their own task-conditioned extractor; remove features_extractor_class={name} "
                "from policy_kwargs (set its options, e.g. cnn_output_dim, through features_extractor_kwargs)."
            )
        # Set before the SB3 constructor, which builds the networks.
        self.network_config = NetworkConfig(num_tasks_of(observation_space), **options)
        extractor_kwargs = {**(features_extractor_kwargs or {}), **self.network_config.policy_kwargs()}
        super().__init__(  # type: ignore[call-arg]
            observation_space,
            action_space,
            lr_schedule,
            *args,
            features_extractor_class=TaskFeaturesExtractor,
            features_extractor_kwargs=extractor_kwargs,
            **kwargs,
        )
        if self.network_config.weight_projection:
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
