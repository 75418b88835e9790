"""A toy with K clearly distinguishable variants and PSP models fitted to it by supervised steps, so
that which task fits which data is known by construction (no RL training, deterministic, fast).

* ``looks`` variants: variant ``k``'s observations lie around their own centre ``c_k``; the fitted
  policy of task ``k`` is confident (low entropy) on them and uniform on the other variants' data.
* ``rewards`` variants: every variant's observations have the same distribution; the reward is
  ``r = w_k · x + u_k · a`` and each task's critic is fitted to its own reward (``gamma = 0``), so only
  the TD error tells the variants apart.
* ``dynamics`` variants: the same observation distribution and reward for every variant; only the
  response differs, ``x' = 0.8 M_k x + 0.5 e(a) + noise`` (noise sd 0.002: nearly deterministic, as simulated physics) with a variant's own orthogonal ``M_k``, so
  only a model of one step (the dynamics method) tells them apart.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.vec_env import DummyVecEnv

from psp_rl.policies import PSPActorCriticPolicy, PSPDQNPolicy, PSPSACPolicy, PSPTD3Policy

OBS_DIM, N_ACTIONS, ACT_DIM = 4, 3, 2
ALGOS: dict[str, tuple[Any, Any, bool]] = {
    "ppo": (PPO, PSPActorCriticPolicy, False),
    "a2c": (A2C, PSPActorCriticPolicy, False),
    "dqn": (DQN, PSPDQNPolicy, False),
    "sac": (SAC, PSPSACPolicy, True),
    "td3": (TD3, PSPTD3Policy, True),
}


def centres(num_tasks: int) -> np.ndarray:
    """``(K, OBS_DIM)`` well separated centres (K <= OBS_DIM + 1)."""
    c = np.zeros((num_tasks, OBS_DIM), dtype=np.float32)
    for k in range(num_tasks):
        if k < OBS_DIM:
            c[k, k] = 1.5
        else:
            c[k] = -1.0
    return c


def dynamics_matrices(num_tasks: int) -> np.ndarray:
    """``(K + 1, OBS_DIM, OBS_DIM)`` orthogonal matrices, one per variant (one spare: never trained)."""
    rng = np.random.default_rng(321)
    return np.stack([np.linalg.qr(rng.normal(size=(OBS_DIM, OBS_DIM)))[0] for _ in range(num_tasks + 1)])


def reward_weights(num_tasks: int, box: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-task reward weights ``w_k`` (on x) and ``u_k`` (on the action)."""
    rng = np.random.default_rng(123)
    w = rng.normal(0, 2.0, (num_tasks + 1, OBS_DIM)).astype(np.float32)  # one spare: a never-trained variant
    u = rng.normal(0, 0.3, (num_tasks + 1, ACT_DIM if box else N_ACTIONS)).astype(np.float32)
    return w, u


class ToyVariants(gym.Env):
    """A one-step-at-a-time toy: observations depend on the variant (``looks``) or only rewards do.

    ``task`` may be ``num_tasks`` (one past the last trained id: a never-trained variant); the ``task``
    entry then reports 0 (the agent under test never reads it).
    """

    def __init__(self, num_tasks: int = 3, task: int = 0, family: str = "looks", box: bool = False) -> None:
        self.num_tasks, self.task, self.family, self.box = num_tasks, task, family, box
        self.observation_space = spaces.Dict(
            {"obs": spaces.Box(-5, 5, (OBS_DIM,), np.float32), "task": spaces.Discrete(num_tasks)}
        )
        self.action_space = spaces.Box(-1, 1, (ACT_DIM,), np.float32) if box else spaces.Discrete(N_ACTIONS)
        self.w, self.u = reward_weights(num_tasks, box)
        self.m = dynamics_matrices(num_tasks).astype(np.float32)
        self._x = np.zeros(OBS_DIM, np.float32)
        self._t = 0

    def sample_x(self, task: int, n: int | None = None) -> np.ndarray:
        shape = (OBS_DIM,) if n is None else (n, OBS_DIM)
        noise = self.np_random.normal(0, 0.3, shape).astype(np.float32)
        if self.family == "looks":
            return centres(self.num_tasks + 1)[task] + noise
        return noise * 3

    def reward(self, task: int, x: np.ndarray, a: Any) -> float:
        onehot = np.asarray(a, np.float32) if self.box else np.eye(N_ACTIONS, dtype=np.float32)[int(a)]
        return float(self.w[task] @ x + self.u[task] @ onehot)

    def _obs(self) -> dict[str, Any]:
        return {"obs": self._x.copy(), "task": np.int64(min(self.task, self.num_tasks - 1))}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        self._x, self._t = self.sample_x(self.task), 0
        return self._obs(), {}

    def successor(self, task: int, x: np.ndarray, a: Any) -> np.ndarray:
        """The ``dynamics`` family's next observation."""
        push = np.zeros(OBS_DIM, np.float32)
        if self.box:
            push[:ACT_DIM] = np.asarray(a, np.float32)
        else:
            push[int(a)] = 1.0
        noise = self.np_random.normal(0, 0.002, OBS_DIM).astype(np.float32)
        return (0.8 * self.m[task] @ x + 0.5 * push + noise).astype(np.float32)

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        if self.family == "dynamics":
            r = float(-np.abs(self._x).sum())
            self._x, self._t = self.successor(self.task, self._x, action), self._t + 1
            return self._obs(), r, False, self._t >= 50, {"task": self.task}
        r = self.reward(self.task, self._x, action)
        self._x, self._t = self.sample_x(self.task), self._t + 1
        return self._obs(), r, False, self._t >= 50, {"task": self.task}


def make_model(
    algo: str, num_tasks: int = 3, family: str = "looks", context: str = "binary", **policy: Any
) -> Any:
    """An untrained model on the toy (``gamma = 0``: the critic's target is the reward)."""
    cls, policy_cls, box = ALGOS[algo]
    env = DummyVecEnv([lambda: ToyVariants(num_tasks, 0, family, box)])
    kwargs: dict[str, Any] = {"gamma": 0.0, "device": "cpu", "seed": 0}
    if algo in ("ppo", "a2c"):
        kwargs["n_steps"] = 8
        if algo == "ppo":
            kwargs["batch_size"] = 8
    else:
        kwargs["learning_starts"] = 10_000
        kwargs["buffer_size"] = 100
    return cls(policy_cls, env, policy_kwargs={"net_arch": [32, 32], "context": context, **policy}, **kwargs)


def _obs_tensor(model: Any, x: np.ndarray, tasks: np.ndarray) -> Any:
    return model.policy.obs_to_tensor({"obs": x, "task": tasks.astype(np.int64)})[0]


def fit(
    model: Any,
    fit_policy: bool,
    fit_critic: bool,
    steps: int = 300,
    n: int = 128,
    seed: int = 0,
    foreign: bool = False,
) -> Any:
    """Fit the model's heads by supervised steps: task ``k``'s policy confident on variant ``k`` and uniform
    on the others (``fit_policy``), task ``k``'s critic to variant ``k``'s reward (``fit_critic``)."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # module-scoped fixtures run before the conftest's per-test setting
    env = model.get_env().envs[0]
    env.reset(seed=seed)
    k_all = env.num_tasks
    policy = model.policy
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    algo = next(name for name, (cls, _, _) in ALGOS.items() if type(model) is cls)
    for _ in range(steps):
        loss = torch.zeros(())
        for data_task in range(k_all):
            x = env.sample_x(data_task, n)
            for task in range(k_all):
                obs = _obs_tensor(model, x, np.full(n, task))
                own = task == data_task
                if fit_policy and (own or foreign):
                    loss = loss + _policy_loss(algo, policy, obs, own)
                if fit_critic and own:
                    loss = loss + _critic_loss(algo, policy, env, obs, x, task)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if algo == "dqn":
        policy.q_net_target.load_state_dict(policy.q_net.state_dict())
    if algo in ("sac", "td3"):
        policy.critic_target.load_state_dict(policy.critic.state_dict())
    return model


def _policy_loss(algo: str, policy: Any, obs: Any, own: bool) -> torch.Tensor:
    if algo in ("ppo", "a2c"):
        logp = torch.log_softmax(policy.get_distribution(obs).distribution.logits, dim=1)
        target = torch.eye(N_ACTIONS)[0] if own else torch.full((N_ACTIONS,), 1.0 / N_ACTIONS)
        return -(logp * target).sum(dim=1).mean()
    if algo == "dqn":
        target = torch.tensor([3.0, 0.0, 0.0]) if own else torch.ones(N_ACTIONS)
        return ((policy.q_net(obs) - target) ** 2).mean()
    if algo == "sac":
        _, log_std, _ = policy.actor.get_action_dist_params(obs)
        return ((log_std - (-3.0 if own else 0.0)) ** 2).mean()
    raise ValueError(algo)


def _critic_loss(
    algo: str, policy: Any, env: ToyVariants, obs: Any, x: np.ndarray, task: int
) -> torch.Tensor:
    n = len(x)
    if env.box:
        a = np.random.default_rng(len(x) + task).uniform(-1, 1, (n, ACT_DIM)).astype(np.float32)
    else:
        a = np.random.default_rng(len(x) + task).integers(0, N_ACTIONS, n)
    r = torch.as_tensor([env.reward(task, x[i], a[i]) for i in range(n)], dtype=torch.float32)
    if algo in ("ppo", "a2c"):  # V fits the reward averaged over the actions
        mean_r = torch.as_tensor(x @ env.w[task] + env.u[task].mean(), dtype=torch.float32)
        return ((policy.predict_values(obs).flatten() - mean_r) ** 2).mean()
    if algo == "dqn":
        q = policy.q_net(obs).gather(1, torch.as_tensor(a)[:, None]).flatten()
        return ((q - r) ** 2).mean()
    qs = policy.critic(obs, torch.as_tensor(a))  # env actions are in [-1, 1]: scaled == unscaled
    return sum(((q.flatten() - r) ** 2).mean() for q in qs)  # type: ignore[return-value]


def transitions(env: ToyVariants, task: int, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``n`` transitions of variant ``task`` with random actions (rewards are the variant's)."""
    x = env.sample_x(task, n)
    if env.box:
        a: np.ndarray = rng.uniform(-1, 1, (n, ACT_DIM)).astype(np.float32)
    else:
        a = rng.integers(0, N_ACTIONS, n)
    r = np.array([env.reward(task, x[i], a[i]) for i in range(n)], np.float32)
    return {"obs": x, "actions": a, "rewards": r, "next_obs": env.sample_x(task, n), "dones": np.zeros(n)}
