"""What task inference reads from a trained PSP model, for every algorithm: the policy's entropy under
mixed task weights ``α`` (differentiable in ``α``), each candidate task's entropy and each candidate
task's TD error, all computed from *base* observations (the ``obs`` entry, no ``task``).

* PPO / A2C: the action distribution's entropy; TD error ``r + γ V_k(s') − V_k(s)``.
* DQN: the entropy of ``softmax(Q / τ)`` (temperature ``τ``, default 1: set it to about the typical
  gap between the Q-values of a state's actions); TD error
  ``Q_k(s, a) − (r + γ max Q⁻_k(s', ·))`` with the target network.
* SAC: the actor's Gaussian entropy (before the ``tanh`` squashing); TD error of the first critic
  ``q1_k(s, a) − (r + γ q1⁻_k(s', π_k(s')))`` with the target critic and the deterministic action.
* TD3: no action distribution, hence no entropy; the TD error as for SAC.

Terminal transitions (``done``) have no bootstrap term. Rewards and observations must be what the
model was trained on (normalised when training used ``VecNormalize``); SAC / TD3 actions are the env's
(they are scaled to ``[-1, 1]`` here, as SB3's replay buffer stores them).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import DiagGaussianDistribution
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN

from psp_rl.nn.networks import TaskBatch
from psp_rl.policies import PSPActorCriticPolicy, PSPDQNPolicy, PSPPolicyMixin, PSPSACPolicy, PSPTD3Policy
from psp_rl.policies.extractor import TaskFeaturesExtractor, num_tasks_of

__all__ = ["ALGORITHMS", "TaskHeads"]

#: the algorithm families task inference knows
ALGORITHMS = ("actor_critic", "dqn", "sac", "td3")
_KINDS = (
    (PSPActorCriticPolicy, "actor_critic"),
    (PSPDQNPolicy, "dqn"),
    (PSPSACPolicy, "sac"),
    (PSPTD3Policy, "td3"),
)
# Rows of one forward pass when many candidate tasks are scored on one window.
_MAX_ROWS = 8192


def _softmax_entropy(q: torch.Tensor, temperature: float) -> torch.Tensor:
    logp = torch.log_softmax(q / temperature, dim=1)
    return -(logp.exp() * logp).sum(dim=1)


def _gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    return log_std.sum(dim=1) + 0.5 * log_std.shape[1] * (1.0 + math.log(2 * math.pi))


class TaskHeads:
    """A trained PSP model seen through what task inference needs.

    :param model: a trained SB3 model (PPO, A2C, DQN, SAC, TD3) with a PSP policy
    :param dqn_temperature: softmax temperature ``τ`` of the DQN entropy ``H(softmax(Q / τ))``
    :raises ValueError: for a non-PSP policy, a task-blind network (mode ``shared``) or an observation
        with a continuous task coordinate (drift suites: the coordinate is not inferred)
    """

    def __init__(self, model: Any, dqn_temperature: float = 1.0) -> None:
        policy = getattr(model, "policy", None)
        kind = next((name for cls, name in _KINDS if isinstance(policy, cls)), None)
        if kind is None or not isinstance(policy, PSPPolicyMixin):
            raise ValueError(
                f"task inference needs an SB3 model with a PSP policy (PPO, A2C, DQN, SAC or TD3), got "
                f"{type(model).__name__} with policy {type(policy).__name__}."
            )
        space = policy.observation_space
        self.num_tasks = num_tasks_of(space)
        if "coord" in space.spaces:  # type: ignore[attr-defined]
            raise ValueError(
                "this model reads a continuous task coordinate ('coord'); task inference chooses discrete "
                "task ids only: use a model trained on a suite without coordinate."
            )
        if policy.network_config.mode == "shared":
            raise ValueError("mode 'shared' ignores the task id: there is no task to infer.")
        self.model, self.kind = model, kind
        self.policy: Any = policy
        self.gamma = float(getattr(model, "gamma", 0.99))
        self.obs_space: spaces.Box = space["obs"]  # type: ignore[index]
        if not dqn_temperature > 0:
            raise ValueError(f"dqn_temperature must be > 0, got {dqn_temperature}.")
        self.dqn_temperature = float(dqn_temperature)
        self._warned = False
        self.gaussian = kind == "actor_critic" and isinstance(policy.action_dist, DiagGaussianDistribution)  # type: ignore[attr-defined]

    @property
    def has_entropy(self) -> bool:
        """Whether the policy has an action distribution (all but TD3)."""
        return self.kind != "td3"

    def check_entropy(self) -> None:
        """:raises ValueError: for TD3 (a deterministic actor: no entropy), naming the score method"""
        if not self.has_entropy:
            raise ValueError(
                "TD3's actor is deterministic: it has no entropy, so one-shot inference (method='entropy') "
                "is not available; use method='score' (the critic's TD error on recent transitions)."
            )
        if self.gaussian and not self._warned:
            self._warned = True
            warnings.warn(
                "the Gaussian of PPO/A2C has a state-independent log_std: its entropy does not depend on "
                "the observations, so method='entropy' only compares the tasks' action noise; prefer "
                "method='score'.",
                stacklevel=3,
            )

    # ---- observations -------------------------------------------------------------------------
    def obs_tensor(self, base: np.ndarray, tasks: np.ndarray) -> Any:
        """SB3's observation tensors of ``{"obs": base, "task": tasks}`` (a batch)."""
        return self.policy.obs_to_tensor({"obs": base, "task": np.asarray(tasks, dtype=np.int64)})[0]

    def _features(
        self, extractor: TaskFeaturesExtractor, base: np.ndarray, weights: torch.Tensor
    ) -> TaskBatch:
        """The extractor's features of base observations with the tasks mixed by ``weights``."""
        obs = self.obs_tensor(base, np.zeros(len(base), dtype=np.int64))
        x = preprocess_obs(obs, self.policy.observation_space, normalize_images=self.policy.normalize_images)
        x = x["obs"]  # type: ignore[index]
        dummy = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        rows = weights if weights.dim() == 2 else weights.expand(x.shape[0], -1)
        return extractor.features(TaskBatch(x, dummy, True, None, weights), rows)

    # ---- entropy --------------------------------------------------------------------------------
    def mixed_entropy(self, base: np.ndarray, weights: torch.Tensor) -> torch.Tensor:
        """The policy's entropy on each observation with the tasks mixed by ``weights``.

        :param base: ``(B, *obs_shape)`` base observations
        :param weights: ``(K,)`` or ``(B, K)`` task weights (may require grad)
        :return: ``(B,)`` entropies, differentiable in ``weights``
        """
        self.check_entropy()
        weights = weights.to(self.policy.device)
        p: Any = self.policy
        if self.kind == "actor_critic":
            latent = p.mlp_extractor.forward_actor(self._features(p.pi_features_extractor, base, weights))
            mean = p.action_net(latent)
            if self.gaussian:
                log_std = (weights @ p.log_std).expand_as(mean)
                return p.action_dist.proba_distribution(mean, log_std).entropy()
            return p.action_dist.proba_distribution(action_logits=mean).entropy()
        if self.kind == "dqn":
            q = p.q_net.q_net(self._features(p.q_net.features_extractor, base, weights))
            return _softmax_entropy(q, self.dqn_temperature)
        actor = p.actor
        latent = actor.latent_pi(self._features(actor.features_extractor, base, weights))
        return _gaussian_entropy(torch.clamp(actor.log_std(latent), LOG_STD_MIN, LOG_STD_MAX))

    def _entropy_ids(self, base: np.ndarray, tasks: np.ndarray) -> torch.Tensor:
        p: Any = self.policy
        obs = self.obs_tensor(base, tasks)
        if self.kind == "actor_critic":
            return p.get_distribution(obs).entropy()
        if self.kind == "dqn":
            return _softmax_entropy(p.q_net(obs), self.dqn_temperature)
        _, log_std, _ = p.actor.get_action_dist_params(obs)
        return _gaussian_entropy(log_std)

    def entropies(self, base: np.ndarray, tasks: np.ndarray) -> np.ndarray:
        """Per-sample entropy of sample ``b`` under its own task ``tasks[b]`` (the id path)."""
        self.check_entropy()
        with torch.no_grad():
            return self._entropy_ids(base, tasks).cpu().numpy().reshape(-1)

    def candidate_entropies(self, base: np.ndarray, candidates: list[int] | None = None) -> np.ndarray:
        """``(C, B)`` entropy of every observation under every candidate task."""
        return self._per_candidate(lambda idx, tasks: self.entropies(base[idx], tasks), len(base), candidates)

    # ---- TD errors ------------------------------------------------------------------------------
    def _td(
        self, obs: Any, actions: np.ndarray, rewards: np.ndarray, next_obs: Any, dones: np.ndarray
    ) -> Any:
        p: Any = self.policy
        device = p.device
        r = torch.as_tensor(np.asarray(rewards, dtype=np.float32).reshape(-1), device=device)
        live = 1.0 - torch.as_tensor(np.asarray(dones, dtype=np.float32).reshape(-1), device=device)
        if self.kind == "actor_critic":
            v, v_next = p.predict_values(obs).flatten(), p.predict_values(next_obs).flatten()
            return r + self.gamma * live * v_next - v
        if self.kind == "dqn":
            a = torch.as_tensor(np.asarray(actions).reshape(-1).astype(np.int64), device=device)
            q = p.q_net(obs).gather(1, a[:, None]).flatten()
            q_next = p.q_net_target(next_obs).max(dim=1).values
            return q - (r + self.gamma * live * q_next)
        a_np = np.asarray(actions, dtype=np.float32).reshape(len(r), -1)
        a = torch.as_tensor(p.scale_action(a_np) if p.squash_output else a_np, device=device)
        q = p.critic.q1_forward(obs, a).flatten()
        q_next = p.critic_target.q1_forward(next_obs, p._predict(next_obs, deterministic=True)).flatten()
        return q - (r + self.gamma * live * q_next)

    def td_errors(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        dones: np.ndarray,
        tasks: np.ndarray,
    ) -> np.ndarray:
        """``|TD error|`` of transition ``b`` under its own task ``tasks[b]``.

        :param obs: ``(B, *obs_shape)`` base observations
        :param actions: ``(B, ...)`` actions as the env took them
        :param rewards: ``(B,)`` rewards
        :param next_obs: ``(B, *obs_shape)`` next base observations
        :param dones: ``(B,)`` episode ends (no bootstrap)
        :param tasks: ``(B,)`` task ids
        :return: ``(B,)`` absolute TD errors
        """
        with torch.no_grad():
            td = self._td(
                self.obs_tensor(obs, tasks), actions, rewards, self.obs_tensor(next_obs, tasks), dones
            )
        return td.abs().cpu().numpy().reshape(-1)

    def candidate_td_errors(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        dones: np.ndarray,
        candidates: list[int] | None = None,
    ) -> np.ndarray:
        """``(C, B)`` absolute TD error of every transition under every candidate task."""
        actions = np.asarray(actions)

        def run(idx: np.ndarray, tasks: np.ndarray) -> np.ndarray:
            return self.td_errors(obs[idx], actions[idx], rewards[idx], next_obs[idx], dones[idx], tasks)

        return self._per_candidate(run, len(obs), candidates)

    def _per_candidate(self, fn: Any, n: int, candidates: list[int] | None) -> np.ndarray:
        """``fn(rows, tasks)`` for every candidate on all ``n`` samples, batched in chunks of candidates."""
        cands = list(range(self.num_tasks)) if candidates is None else list(candidates)
        per_chunk = max(1, _MAX_ROWS // max(1, n))
        out = []
        for start in range(0, len(cands), per_chunk):
            chunk = cands[start : start + per_chunk]
            rows = np.tile(np.arange(n), len(chunk))
            out.append(fn(rows, np.repeat(np.asarray(chunk, dtype=np.int64), n)).reshape(len(chunk), n))
        return np.concatenate(out) if out else np.zeros((0, n))
