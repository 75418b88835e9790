"""Stable-Baselines3 policies whose every layer holds one model per task (Parameter Superposition).

* :class:`PSPActorCriticPolicy` -- PPO, A2C
* :class:`PSPDQNPolicy` -- DQN
* :class:`PSPSACPolicy` -- SAC
* :class:`PSPTD3Policy` -- TD3

:func:`expand_tasks` grows a trained model to more tasks.

- :mod:`~psp_rl.policies.common` -- what the four families share: the task networks from the options,
  the optimizers of a policy;
- :mod:`~psp_rl.policies.extractor` -- the features extractor: the observation, its task ids (one-hot or
  index), lifting and image trunks;
- :mod:`~psp_rl.policies.obs_checks` -- what ``predict`` is given, checked (task entry, shapes, NaN/inf);
- :mod:`~psp_rl.policies.actor_critic` -- :class:`PSPActorCriticPolicy` (PPO, A2C; per-task ``log_std``);
- :mod:`~psp_rl.policies.dqn` -- :class:`PSPDQNPolicy` (the Q-network and its target);
- :mod:`~psp_rl.policies.continuous` -- the superposed actor and critics of SAC and TD3;
- :mod:`~psp_rl.policies.sac` -- :class:`PSPSACPolicy`;
- :mod:`~psp_rl.policies.td3` -- :class:`PSPTD3Policy`;
- :mod:`~psp_rl.policies.small_cnn` -- the CNN trunk for images under 36x36 (MiniGrid's 7x7 view);
- :mod:`~psp_rl.policies.expand` -- growing a trained model to more tasks.
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
