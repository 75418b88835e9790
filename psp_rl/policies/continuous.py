"""What SAC and TD3 share: the task-conditioned Q critic and the policy plumbing around it."""

from __future__ import annotations

from typing import Any

import torch
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import PyTorchObs

from psp_rl.nn.networks import TaskBatch, TaskMLP
from psp_rl.policies.common import PSPPolicyMixin, TaskSubNetwork


class PSPContinuousCritic(TaskSubNetwork, ContinuousCritic):
    """SB3's ``ContinuousCritic`` with task-conditioned Q-networks.

    The Q input is ``[features, action]``; the task id travels beside it, never inside the numbers.

    :param network_config: the policy's network config
    """

    def build_task_layers(self, kwargs: dict[str, Any]) -> None:  # noqa: D102
        in_dim = kwargs["features_dim"] + get_action_dim(kwargs["action_space"])
        activation_fn = kwargs.get("activation_fn", torch.nn.ReLU)
        for idx in range(self.n_critics):
            q_net = TaskMLP(
                in_dim,
                list(kwargs["net_arch"]),
                self.network_config,
                f"qf{idx}",
                out_dim=1,
                activation_fn=activation_fn,
            )
            self.add_module(f"qf{idx}", q_net)
            self.q_networks[idx] = q_net

    def _q_input(self, obs: PyTorchObs, actions: torch.Tensor, grad: bool) -> TaskBatch:
        with torch.set_grad_enabled(grad):
            features: TaskBatch = self.extract_features(obs, self.features_extractor)  # type: ignore[assignment]
        x = torch.cat([features.x, actions.to(features.x.dtype)], dim=1)
        if features.lift is None:
            return features._replace(x=x)
        # the actions join the features unlifted: the pending lifting becomes diag(R, I)
        eye = torch.eye(actions.shape[1], dtype=features.lift.dtype, device=features.lift.device)
        return features._replace(x=x, lift=torch.block_diag(features.lift, eye))

    def forward(self, obs: PyTorchObs, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:  # noqa: D102
        # Learn the features extractor with the policy loss only when it is shared with the actor.
        q_input = self._q_input(
            obs, actions, grad=not self.share_features_extractor and torch.is_grad_enabled()
        )
        return tuple(q_net(q_input) for q_net in self.q_networks)

    def q1_forward(self, obs: PyTorchObs, actions: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.q_networks[0](self._q_input(obs, actions, grad=False))


class PSPOffPolicyMixin(PSPPolicyMixin):
    """Critic construction common to :class:`PSPSACPolicy` and :class:`PSPTD3Policy`."""

    critic_kwargs: dict[str, Any]

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> PSPContinuousCritic:  # noqa: D102
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)  # type: ignore[attr-defined]
        return PSPContinuousCritic(**critic_kwargs, network_config=self.network_config).to(self.device)  # type: ignore[attr-defined]
