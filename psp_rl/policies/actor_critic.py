"""PSP actor-critic policy for PPO and A2C."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from stable_baselines3.common.distributions import DiagGaussianDistribution, Distribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from psp_rl.nn.networks import TaskBatch, TaskMLP, TaskMlpExtractor
from psp_rl.policies.common import PSPPolicyMixin, action_dim_of


class PSPActorCriticPolicy(PSPPolicyMixin, ActorCriticPolicy):
    """Actor-critic policy whose every layer holds one model per task (PPO, A2C).

    Discrete, MultiDiscrete, MultiBinary and Box actions; for Box actions the Gaussian ``log_std`` is a
    ``(K, action_dim)`` table, one row per task. Takes SB3's ``ActorCriticPolicy`` arguments plus
    the network options of :class:`~psp_rl.nn.NetworkConfig` (see :class:`PSPPolicyMixin`).

    Example::

        from stable_baselines3 import PPO
        model = PPO(PSPActorCriticPolicy, vec_env, policy_kwargs=dict(context="complex"))
    """

    mlp_extractor: TaskMlpExtractor  # type: ignore[assignment]

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = TaskMlpExtractor(
            self.features_dim, self.net_arch, self.activation_fn, self.network_config
        )

    def _build(self, lr_schedule: Schedule) -> None:
        # SB3's _build, with task-conditioned heads and a per-task log_std.
        self._build_mlp_extractor()
        config = self.network_config
        self.action_net = TaskMLP(
            self.mlp_extractor.latent_dim_pi, [], config, "action", out_dim=action_dim_of(self.action_space)
        )
        self.value_net = TaskMLP(self.mlp_extractor.latent_dim_vf, [], config, "value", out_dim=1)  # type: ignore[assignment]
        if isinstance(self.action_dist, DiagGaussianDistribution):
            self.log_std = nn.Parameter(
                torch.full((config.num_tasks, action_dim_of(self.action_space)), float(self.log_std_init))
            )
        if self.ortho_init:
            module_gains = {self.mlp_extractor: np.sqrt(2), self.action_net: 0.01, self.value_net: 1.0}
            for extractor in {self.pi_features_extractor, self.vf_features_extractor}:
                module_gains[extractor] = np.sqrt(2)
            for module, gain in module_gains.items():
                module.apply(partial(self.init_weights, gain=gain))
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[call-arg]

    def _get_action_dist_from_latent(self, latent_pi: TaskBatch) -> Distribution:  # type: ignore[override]
        mean_actions = self.action_net(latent_pi)
        if isinstance(self.action_dist, DiagGaussianDistribution):
            return self.action_dist.proba_distribution(
                mean_actions, self.log_std.index_select(0, latent_pi.task)
            )
        return self.action_dist.proba_distribution(action_logits=mean_actions)  # type: ignore[call-arg]
