"""PSP policy for DQN: a task-conditioned Q-network and its target."""

from __future__ import annotations

from typing import Any

from stable_baselines3.dqn.policies import DQNPolicy, QNetwork

from psp_rl.nn.networks import TaskDuelingHead, TaskMLP
from psp_rl.policies.common import PSPPolicyMixin, TaskSubNetwork


class PSPQNetwork(TaskSubNetwork, QNetwork):
    """SB3's ``QNetwork`` with a task-conditioned MLP (``forward`` and greedy ``_predict`` unchanged).

    :param network_config: the policy's network config
    :param dueling: a dueling head (:class:`~psp_rl.nn.networks.TaskDuelingHead`) instead of one MLP
    """

    def __init__(self, *args: Any, dueling: bool = False, **kwargs: Any) -> None:
        self.dueling = bool(dueling)
        super().__init__(*args, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "dueling": self.dueling}

    def build_task_layers(self, kwargs: dict[str, Any]) -> None:  # noqa: D102
        if self.dueling:
            self.q_net = TaskDuelingHead(  # type: ignore[assignment]
                self.features_dim,
                list(self.net_arch),
                int(self.action_space.n),
                self.network_config,
                "q",
                activation_fn=self.activation_fn,
            )
            return
        self.q_net = TaskMLP(  # type: ignore[assignment]
            self.features_dim,
            list(self.net_arch),
            self.network_config,
            "q",
            out_dim=int(self.action_space.n),
            activation_fn=self.activation_fn,
        )


class PSPDQNPolicy(PSPPolicyMixin, DQNPolicy):
    """DQN policy whose Q-network (and target) holds one model per task.

    Takes SB3's ``DQNPolicy`` arguments plus the network options of :class:`~psp_rl.nn.NetworkConfig`
    (see :class:`~psp_rl.policies.common.PSPPolicyMixin`), and ``dueling`` (a dueling Q head). The target
    network is a ``load_state_dict`` copy, so it holds exactly the context keys of the online network.

    Example::

        from stable_baselines3 import DQN
        model = DQN(PSPDQNPolicy, vec_env, policy_kwargs=dict(net_arch=[64, 64]))
    """

    def __init__(self, *args: Any, dueling: bool = False, **kwargs: Any) -> None:
        self.dueling = bool(dueling)
        super().__init__(*args, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "dueling": self.dueling}

    def make_q_net(self) -> PSPQNetwork:  # noqa: D102
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return PSPQNetwork(**net_args, network_config=self.network_config, dueling=self.dueling).to(
            self.device
        )
