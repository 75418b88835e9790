"""PSP policy for TD3: task-conditioned deterministic actor and twin Q critics."""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.td3.policies import Actor, TD3Policy

from psp_rl.nn.networks import TaskMLP
from psp_rl.policies.common import TaskSubNetwork
from psp_rl.policies.continuous import PSPOffPolicyMixin


class PSPTD3Actor(TaskSubNetwork, Actor):
    """SB3's TD3 ``Actor`` with a task-conditioned network ending in ``tanh``.

    :param network_config: the policy's network config
    """

    def build_task_layers(self, kwargs: dict[str, Any]) -> None:  # noqa: D102
        self.mu = TaskMLP(  # type: ignore[assignment]
            self.features_dim,
            list(self.net_arch),
            self.network_config,
            "actor",
            out_dim=get_action_dim(self.action_space),
            activation_fn=self.activation_fn,
            squash=True,
        )


class PSPTD3Policy(PSPOffPolicyMixin, TD3Policy):
    """TD3 policy whose actor, critics and their targets hold one model per task.

    Takes SB3's ``TD3Policy`` arguments plus the network options of :class:`~psp_rl.nn.NetworkConfig`
    (see :class:`~psp_rl.policies.common.PSPPolicyMixin`).

    Example::

        from stable_baselines3 import TD3
        model = TD3(PSPTD3Policy, vec_env, policy_kwargs=dict(net_arch=[256, 256]))
    """

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> PSPTD3Actor:  # noqa: D102
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return PSPTD3Actor(**actor_kwargs, network_config=self.network_config).to(self.device)
