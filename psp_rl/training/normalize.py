"""Observation normalisation with one set of running statistics per task (a ``VecNormalize`` subclass).

SB3's ``VecNormalize`` keeps one running mean / variance of the observations. In continual RL that
moves every old task's inputs while a new task trains, undoing what superposition keeps apart.
:class:`TaskVecNormalize` keeps one :class:`~stable_baselines3.common.running_mean_std.RunningMeanStd`
per task for every normalised key (``"obs"``), picked per sample by the task id in the observation
(``obs["task"]``), so a batch may mix tasks. Reward normalisation is SB3's, unchanged.

The per-task statistics live inside ``obs_rms`` (``{"obs": TaskRunningMeanStd}``), so SB3's
``VecNormalize.save`` / ``VecNormalize.load``, ``get_vec_normalize_env`` and
``sync_envs_normalization`` (which deep-copies ``obs_rms``) carry them unchanged.

Example::

    from psp_rl.training.normalize import TaskVecNormalize

    env = TaskVecNormalize(suite.make_vec_env(n_envs=4))   # normalises obs["obs"] per task
    env.save("vecnormalize.pkl")
    env = VecNormalize.load("vecnormalize.pkl", suite.make_vec_env(n_envs=4))   # a TaskVecNormalize
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

__all__ = [
    "NORMALIZE_OPTIONS",
    "TaskRunningMeanStd",
    "TaskVecNormalize",
    "eval_vec_normalize",
    "make_vec_normalize",
]

#: keys of the config's ``normalize`` mapping on top of the ``VecNormalize`` arguments
NORMALIZE_OPTIONS: dict[str, type] = {"per_task": bool}
#: ``VecNormalize`` arguments that evaluation envs share with the training env
_OBS_ARGS = ("norm_obs", "clip_obs", "epsilon")


class TaskRunningMeanStd:
    """Running mean and variance of a data stream, one :class:`RunningMeanStd` per task.

    A task that has seen no data keeps the initial statistics (mean 0, variance 1).

    :param num_tasks: number of tasks ``K``.
    :param shape: the shape of one sample.
    :param epsilon: the initial count of every task (as in ``RunningMeanStd``).
    """

    def __init__(self, num_tasks: int, shape: tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        if isinstance(num_tasks, bool) or not isinstance(num_tasks, (int, np.integer)) or num_tasks < 1:
            raise ValueError(f"num_tasks must be a positive integer, got {num_tasks!r}.")
        self.shape = tuple(int(d) for d in shape)
        self.tasks = [RunningMeanStd(epsilon=epsilon, shape=self.shape) for _ in range(int(num_tasks))]

    @property
    def num_tasks(self) -> int:
        """The number of tasks ``K``."""
        return len(self.tasks)

    def __getitem__(self, task: int) -> RunningMeanStd:
        """:param task: a task id.
        :return: the statistics of that task.
        """
        return self.tasks[task]

    def _ids(self, tasks: Any, arr: np.ndarray) -> np.ndarray | int:
        """The task id of every sample of ``arr`` (an ``int`` for a single sample)."""
        ids = np.asarray(tasks).reshape(-1).astype(np.int64)
        single = arr.ndim == len(self.shape)
        expected = 1 if single else arr.shape[0]
        if ids.size != expected:
            raise ValueError(
                f"got {ids.size} task ids for {expected} observations: give one task id per sample."
            )
        bad = ids[(ids < 0) | (ids >= self.num_tasks)]
        if bad.size:
            raise ValueError(
                f"task {int(bad[0])} is out of range: these statistics hold K={self.num_tasks} tasks, "
                f"use a task in [0, {self.num_tasks - 1}]."
            )
        return int(ids[0]) if single else ids

    def update(self, arr: np.ndarray, tasks: Any) -> None:
        """Update every task's statistics with its own samples of a batch.

        :param arr: a batch of samples, shape ``(B, *shape)``.
        :param tasks: the task id of each sample, ``B`` values (any shape).
        """
        arr = np.asarray(arr)
        ids = self._ids(tasks, arr)
        if isinstance(ids, int):
            self.tasks[ids].update(arr[None])
            return
        for task in np.unique(ids):
            self.tasks[int(task)].update(arr[ids == task])

    def moments(self, arr: np.ndarray, tasks: Any) -> tuple[np.ndarray, np.ndarray]:
        """The mean and variance that apply to each sample (those of its task).

        :param arr: one sample (shape ``shape``) or a batch (``(B, *shape)``).
        :param tasks: the task id of each sample.
        :return: ``(mean, var)``, each the shape of ``arr``.
        """
        arr = np.asarray(arr)
        ids = self._ids(tasks, arr)
        if isinstance(ids, int):
            return self.tasks[ids].mean, self.tasks[ids].var
        mean = np.empty(arr.shape, dtype=np.float64)
        var = np.empty(arr.shape, dtype=np.float64)
        for task in np.unique(ids):
            rows = ids == task
            mean[rows] = self.tasks[int(task)].mean
            var[rows] = self.tasks[int(task)].var
        return mean, var

    def grow(self, num_tasks: int, epsilon: float = 1e-4) -> None:
        """Add tasks with initial statistics (mean 0, variance 1); the old tasks' are kept.

        :param num_tasks: the new number of tasks, at least the current one.
        :param epsilon: the initial count of the new tasks.
        """
        if num_tasks < self.num_tasks:
            raise ValueError(
                f"per-task statistics cannot drop tasks: they hold K={self.num_tasks}, got num_tasks={num_tasks}."
            )
        self.tasks += [
            RunningMeanStd(epsilon=epsilon, shape=self.shape) for _ in range(num_tasks - self.num_tasks)
        ]

    def copy(self) -> TaskRunningMeanStd:
        """:return: an independent copy."""
        new = TaskRunningMeanStd(self.num_tasks, self.shape)
        new.tasks = [rms.copy() for rms in self.tasks]
        return new


class TaskVecNormalize(VecNormalize):
    """``VecNormalize`` with one running mean / variance of the observations per task.

    Every sample updates and is normalised with the statistics of its own task (``obs[task_key]``),
    so training a new task never moves an old task's normalised inputs; a batch may mix tasks (as
    the sub-envs of a parallel schedule, or replay-buffer samples, do). Rewards are normalised as in
    ``VecNormalize`` (one statistic; the agent never sees them at evaluation). Save and load it with
    ``VecNormalize.save`` / ``VecNormalize.load``; ``sync_envs_normalization`` copies the per-task
    statistics to an evaluation ``TaskVecNormalize``.

    :param venv: a VecEnv with ``Dict`` observations holding a ``Discrete(K)`` task id.
    :param training: update the statistics.
    :param norm_obs: normalise the observations.
    :param norm_reward: normalise the rewards.
    :param clip_obs: clip normalised observations to ``[-clip_obs, clip_obs]``.
    :param clip_reward: clip normalised rewards to ``[-clip_reward, clip_reward]``.
    :param gamma: discount of the returns used for reward normalisation.
    :param epsilon: added to the variance before dividing.
    :param norm_obs_keys: the observation keys to normalise (default: every key but ``task_key`` and
        the task coordinate ``coord``, which is a position in ``[0, 1)``, not a measurement).
    :param task_key: the observation key holding the task id.
    """

    def __init__(
        self,
        venv: VecEnv,
        training: bool = True,
        norm_obs: bool = True,
        norm_reward: bool = True,
        clip_obs: float = 10.0,
        clip_reward: float = 10.0,
        gamma: float = 0.99,
        epsilon: float = 1e-8,
        norm_obs_keys: Sequence[str] | None = None,
        task_key: str = "task",
    ) -> None:
        space = venv.observation_space
        if not isinstance(space, spaces.Dict) or not isinstance(space.spaces.get(task_key), spaces.Discrete):
            raise ValueError(
                f"TaskVecNormalize needs Dict observations with a Discrete task id under {task_key!r}, "
                f"got {space}: wrap the env in psp_rl.TaskObservation (or use VecNormalize)."
            )
        keys = (
            [k for k in space.spaces if k not in (task_key, "coord")]
            if norm_obs_keys is None
            else list(norm_obs_keys)
        )
        if task_key in keys:
            raise ValueError(
                f"norm_obs_keys must not hold the task key {task_key!r}: it is an id, not a value."
            )
        super().__init__(
            venv,
            training=training,
            norm_obs=norm_obs,
            norm_reward=norm_reward,
            clip_obs=clip_obs,
            clip_reward=clip_reward,
            gamma=gamma,
            epsilon=epsilon,
            norm_obs_keys=keys,
        )
        self.task_key = task_key
        self.num_tasks = int(space.spaces[task_key].n)  # type: ignore[attr-defined]
        if self.norm_obs:
            self.obs_rms = {  # type: ignore[assignment]
                key: TaskRunningMeanStd(self.num_tasks, self.obs_spaces[key].shape or ())  # type: ignore[misc]
                for key in keys
            }

    def set_venv(self, venv: VecEnv) -> None:
        """Attach the VecEnv (``VecNormalize.load`` does). A VecEnv with more tasks than the saved
        statistics (a grown run, see :func:`psp_rl.expand_tasks`) adds fresh statistics for the new
        tasks; fewer tasks is an error.

        :param venv: the VecEnv to normalise.
        """
        space = venv.observation_space
        task_space = space.spaces.get(self.task_key) if isinstance(space, spaces.Dict) else None
        if isinstance(task_space, spaces.Discrete) and self.norm_obs:
            num_tasks = int(task_space.n)
            if num_tasks < self.num_tasks:
                raise ValueError(
                    f"these statistics hold K={self.num_tasks} tasks but the VecEnv has {num_tasks}: build it "
                    f"with num_tasks={self.num_tasks}."
                )
            for key in self.norm_obs_keys or ():
                self._stats(key).grow(num_tasks)
            self.num_tasks = num_tasks
            self.observation_space = space  # the saved one has the old Discrete(K)
        super().set_venv(venv)

    def _stats(self, key: str) -> TaskRunningMeanStd:
        return cast(TaskRunningMeanStd, self.obs_rms[key])  # type: ignore[index]

    def task_obs_rms(self, task: int, key: str = "obs") -> RunningMeanStd:
        """The running statistics of one task.

        :param task: the task id.
        :param key: the observation key.
        :return: that task's ``RunningMeanStd``.
        """
        return self._stats(key)[task]

    def _update_obs(self, obs: dict[str, np.ndarray]) -> None:
        for key in self.norm_obs_keys or ():
            self._stats(key).update(obs[key], obs[self.task_key])

    def _check_dict(self, obs: Any) -> dict[str, np.ndarray]:
        if not isinstance(obs, Mapping) or self.task_key not in obs:
            raise ValueError(
                f"TaskVecNormalize needs dict observations with the task id under {self.task_key!r}."
            )
        return dict(obs)

    def normalize_obs(self, obs: Any) -> dict[str, np.ndarray]:
        """Normalise one observation or a batch with the statistics of each sample's task
        (does not update them).

        :param obs: a dict observation (one sample or a batch) holding the task id.
        :return: a normalised copy.
        """
        obs_ = {key: np.array(value, copy=True) for key, value in self._check_dict(obs).items()}
        if self.norm_obs:
            for key in self.norm_obs_keys or ():
                mean, var = self._stats(key).moments(obs[key], obs[self.task_key])
                value = (np.asarray(obs[key]) - mean) / np.sqrt(var + self.epsilon)
                obs_[key] = np.clip(value, -self.clip_obs, self.clip_obs).astype(np.float32)
        return obs_

    def unnormalize_obs(self, obs: Any) -> dict[str, np.ndarray]:
        """Undo :meth:`normalize_obs` (up to clipping).

        :param obs: a normalised dict observation (one sample or a batch) holding the task id.
        :return: an unnormalised copy.
        """
        obs_ = {key: np.array(value, copy=True) for key, value in self._check_dict(obs).items()}
        if self.norm_obs:
            for key in self.norm_obs_keys or ():
                mean, var = self._stats(key).moments(obs[key], obs[self.task_key])
                obs_[key] = np.asarray(obs[key]) * np.sqrt(var + self.epsilon) + mean
        return obs_

    def step_wait(self) -> VecEnvStepReturn:
        """Step the envs; update (when training) and apply the per-task statistics.

        :return: normalised ``(obs, rewards, dones, infos)``; terminal observations normalised too.
        """
        raw, rewards, dones, infos = self.venv.step_wait()
        obs = self._check_dict(raw)
        self.old_obs = obs
        self.old_reward = rewards
        if self.training and self.norm_obs:
            self._update_obs(obs)
        if self.training:
            self._update_reward(rewards)
        for idx, done in enumerate(dones):
            if done and "terminal_observation" in infos[idx]:
                infos[idx]["terminal_observation"] = self.normalize_obs(infos[idx]["terminal_observation"])
        self.returns[dones] = 0
        return self.normalize_obs(obs), self.normalize_reward(rewards), dones, infos

    def reset(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        """Reset every env; update (when training) and apply the per-task statistics.

        :return: the normalised first observations.
        """
        obs = self._check_dict(self.venv.reset())
        self.old_obs = obs
        self.returns = np.zeros(self.num_envs)
        if self.training and self.norm_obs:
            self._update_obs(obs)
        return self.normalize_obs(obs)


def make_vec_normalize(venv: VecEnv, options: bool | Mapping[str, Any]) -> VecNormalize:
    """The training normalisation wrapper a config's ``normalize`` value asks for.

    ``normalize: true`` (or a mapping) gives a :class:`TaskVecNormalize` of ``obs["obs"]``;
    ``normalize: {per_task: false, ...}`` gives SB3's ``VecNormalize`` with one set of statistics
    for every task. The other keys are ``VecNormalize`` arguments.

    :param venv: the task-observation VecEnv.
    :param options: ``True`` or a mapping of ``VecNormalize`` arguments plus ``per_task``.
    :return: the wrapped VecEnv.
    """
    kwargs = dict(options) if isinstance(options, Mapping) else {}
    per_task = kwargs.pop("per_task", True)
    if not isinstance(per_task, bool):
        raise ValueError(f"normalize.per_task must be true or false, got {per_task!r}.")
    if per_task:
        return TaskVecNormalize(venv, norm_obs_keys=["obs"], **kwargs)
    return VecNormalize(venv, norm_obs_keys=["obs"], **kwargs)


def eval_vec_normalize(venv: VecEnv, train_env: VecNormalize) -> VecNormalize:
    """An evaluation wrapper matching a training env's: same class and observation arguments
    (``norm_obs``, ``clip_obs``, ``epsilon``), no updates, no reward normalisation. Its statistics
    come from the training env through ``sync_envs_normalization`` before every evaluation.

    :param venv: the evaluation VecEnv.
    :param train_env: the training env's (``Task``)``VecNormalize``.
    :return: the wrapped evaluation VecEnv.
    """
    kwargs: dict[str, Any] = {name: getattr(train_env, name) for name in _OBS_ARGS}
    kwargs.update(training=False, norm_reward=False, norm_obs_keys=train_env.norm_obs_keys)
    if isinstance(train_env, TaskVecNormalize):
        return TaskVecNormalize(venv, task_key=train_env.task_key, **kwargs)
    return VecNormalize(venv, **kwargs)
