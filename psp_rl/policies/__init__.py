"""Stable-Baselines3 policies whose every layer holds one model per task (Parameter Superposition).

* :class:`PSPActorCriticPolicy` -- PPO, A2C
* :class:`PSPDQNPolicy` -- DQN
* :class:`PSPSACPolicy` -- SAC
* :class:`PSPTD3Policy` -- TD3

:func:`expand_tasks` grows a trained model to more tasks.
"""

from psp_rl.policies.actor_critic import PSPActorCriticPolicy
from psp_rl.policies.common import PSPPolicyMixin
from psp_rl.policies.dqn import PSPDQNPolicy, PSPQNetwork
from psp_rl.policies.expand import check_model_fits, expand_tasks
from psp_rl.policies.extractor import TaskFeaturesExtractor, num_tasks_of
from psp_rl.policies.sac import PSPSACPolicy
from psp_rl.policies.td3 import PSPTD3Policy

__all__ = [
    "PSPActorCriticPolicy",
    "PSPDQNPolicy",
    "PSPPolicyMixin",
    "PSPQNetwork",
    "PSPSACPolicy",
    "PSPTD3Policy",
    "TaskFeaturesExtractor",
    "check_model_fits",
    "expand_tasks",
    "num_tasks_of",
]
