"""PSP policy for SAC: task-conditioned squashed-Gaussian actor and twin Q critics."""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.sac.policies import Actor, SACPolicy

from psp_rl.nn.networks import TaskMLP
from psp_rl.policies.common import TaskSubNetwork
from psp_rl.policies.continuous import PSPOffPolicyMixin


class PSPSACActor(TaskSubNetwork, Actor):
    """SB3's SAC ``Actor`` with a task-conditioned trunk and mean / log-std heads.

    :param network_config: the policy's network config
    """

    latent_pi: TaskMLP  # type: ignore[assignment]

    def build_task_layers(self, kwargs: dict[str, Any]) -> None:  # noqa: D102
        config, action_dim = self.network_config, int(self.action_space.shape[0])
        self.latent_pi = TaskMLP(
            self.features_dim, list(self.net_arch), config, "actor", activation_fn=self.activation_fn
        )
        self.mu = TaskMLP(self.latent_pi.output_dim, [], config, "mu", out_dim=action_dim)  # type: ignore[assignment]
        self.log_std = TaskMLP(self.latent_pi.output_dim, [], config, "log_std", out_dim=action_dim)  # type: ignore[assignment]


class PSPSACPolicy(PSPOffPolicyMixin, SACPolicy):
    """SAC policy whose actor, critics and target critics hold one model per task.

    Takes SB3's ``SACPolicy`` arguments plus the network options of :class:`~psp_rl.nn.NetworkConfig`
    (see :class:`~psp_rl.policies.common.PSPPolicyMixin`). gSDE is not supported.

    Example::

        from stable_baselines3 import SAC
        model = SAC(PSPSACPolicy, vec_env, policy_kwargs=dict(net_arch=[256, 256]))
    """

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> PSPSACActor:  # noqa: D102
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return PSPSACActor(**actor_kwargs, network_config=self.network_config).to(self.device)
