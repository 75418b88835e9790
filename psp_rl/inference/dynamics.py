"""Per-task models of one environment step, for telling variants apart by how the world responds.

A trained PSP agent holds one policy per variant but no model of what each variant does. Variants whose
observations look alike (physics variants) or whose critics are flat (CartPole's value is nearly
constant under a good policy) are hard to tell apart from the policy or the TD error. What *does*
differ is the response of the environment: variant ``k`` maps ``(s, a)`` to ``s'`` in its own way.

:class:`TaskDynamics` fits, per task, a ridge regression of the change ``s' − s`` on features of
``(s, a)`` (a constant, the observation, the encoded action and, for small inputs, their pairwise
products), from transitions of that task -- collected once with the task id known, e.g. by
:meth:`TaskDynamics.collect` running the trained agent on each variant. A transition is then scored
under each candidate by its Gaussian negative log-likelihood per observation entry, shifted so that
the tightest model's offset is 0 (scores are ``>= 0``; the true task's are about 0.5 per entry):
``0.5 * mean_d (r_d² / σ²_kd + log(σ²_kd / min_j σ²_jd))``.

Transitions that end an episode are not scored (``nan``): a VecEnv's next observation there is the
reset observation, not the successor.

Example::

    dyn = TaskDynamics.collect(model, suite.make_vec_env(4), steps_per_task=1000)
    agent = psp_rl.infer_task(model, window=16, method="dynamics", dynamics=dyn)
    dyn.save("task_dynamics.npz"); TaskDynamics.load("task_dynamics.npz")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = ["FEATURES", "TaskDynamics"]

#: feature sets: ``linear`` ``[1, s, a]``; ``quadratic`` adds the products ``z_i z_j`` (``i <= j``) of ``z = [s, a]``;
#: ``auto`` is quadratic up to :data:`QUADRATIC_UP_TO` inputs
FEATURES = ("auto", "linear", "quadratic")
QUADRATIC_UP_TO = 16
#: inputs (observation entries + encoded action) above which a per-task model is refused
MAX_INPUTS = 512
# Variance floor, relative to the variance of the change ``s' − s`` of the entry over all tasks' data
# (an exactly linear entry -- Euler integration -- would otherwise have zero residual variance).
_REL_FLOOR = 1e-6
_ABS_FLOOR = 1e-12


def _action_width(space: spaces.Space) -> int:
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.MultiDiscrete):
        return int(np.sum(space.nvec))
    if isinstance(space, (spaces.Box, spaces.MultiBinary)):
        return int(np.prod(space.shape))
    raise ValueError(f"TaskDynamics cannot encode actions of {type(space).__name__}; use method='score'.")


class TaskDynamics:
    """Per-task ridge regressions of ``s' − s`` on features of ``(s, a)`` (see the module doc).

    :param num_tasks: ``K``
    :param obs_shape: shape of the base observation (flattened inside)
    :param action_space: the env's action space (Discrete and MultiDiscrete one-hot, Box and MultiBinary as is)
    :param features: ``auto``, ``linear`` or ``quadratic`` (see :data:`FEATURES`)
    :param ridge: ridge penalty, relative to the mean diagonal of each task's feature Gram matrix
    :raises ValueError: for an unknown feature set, a non-positive ridge or too many inputs
    """

    def __init__(
        self,
        num_tasks: int,
        obs_shape: Sequence[int],
        action_space: spaces.Space,
        features: str = "auto",
        ridge: float = 1e-6,
    ) -> None:
        if features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {features!r}.")
        if not ridge > 0:
            raise ValueError(f"ridge must be > 0, got {ridge}.")
        if int(num_tasks) < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}.")
        self.num_tasks, self.action_space = int(num_tasks), action_space
        self.obs_dim = int(np.prod(obs_shape))
        self.inputs = self.obs_dim + _action_width(action_space)
        if self.inputs > MAX_INPUTS:
            raise ValueError(
                f"TaskDynamics models {self.inputs} inputs per task (at most {MAX_INPUTS}): observations this "
                "large (images) need a learnt model; use method='score' or 'entropy'."
            )
        self.features = (
            ("quadratic" if self.inputs <= QUADRATIC_UP_TO else "linear") if features == "auto" else features
        )
        self.ridge = float(ridge)
        f = self.num_features
        self.gram = np.zeros((self.num_tasks, f, f))
        self.cross = np.zeros((self.num_tasks, f, self.obs_dim))
        self.target_sq = np.zeros((self.num_tasks, self.obs_dim))
        self.target_sum = np.zeros((self.num_tasks, self.obs_dim))
        self.counts = np.zeros(self.num_tasks, dtype=np.int64)
        self.weights: np.ndarray | None = None
        self.variances: np.ndarray | None = None

    # ---- features -------------------------------------------------------------------------------
    @property
    def num_features(self) -> int:
        """Features per transition."""
        n = self.inputs
        return 1 + n + (n * (n + 1) // 2 if self.features == "quadratic" else 0)

    def _encode_actions(self, actions: np.ndarray, n: int) -> np.ndarray:
        space = self.action_space
        a = np.asarray(actions)
        if isinstance(space, spaces.Discrete):
            idx = a.reshape(n).astype(np.int64) - int(space.start)
            return np.eye(int(space.n))[idx]
        if isinstance(space, spaces.MultiDiscrete):
            cols = a.reshape(n, -1).astype(np.int64)
            return np.concatenate([np.eye(int(m))[cols[:, j]] for j, m in enumerate(space.nvec)], axis=1)
        return a.reshape(n, -1).astype(np.float64)

    def design(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``(B, F)`` features of a batch of ``(s, a)``.

        :param obs: ``(B, *obs_shape)`` base observations
        :param actions: ``(B, ...)`` actions as the env got them
        """
        n = len(obs)
        z = np.concatenate(
            [np.asarray(obs, np.float64).reshape(n, -1), self._encode_actions(actions, n)], axis=1
        )
        parts = [np.ones((n, 1)), z]
        if self.features == "quadratic":
            i, j = np.triu_indices(z.shape[1])
            parts.append(z[:, i] * z[:, j])
        return np.concatenate(parts, axis=1)

    def _rows(
        self, obs: Any, actions: Any, next_obs: Any, dones: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features, targets ``s' − s`` and the mask of scorable (non-terminal) transitions."""
        obs = np.asarray(obs)
        n = len(obs)
        nxt = np.asarray(next_obs)
        if nxt.shape != obs.shape or obs.reshape(n, -1).shape[1] != self.obs_dim:
            raise ValueError(
                f"obs and next_obs must both be (B, ...) base observations of {self.obs_dim} entries, got "
                f"{obs.shape} and {nxt.shape}."
            )
        live = ~np.asarray(dones, dtype=bool).reshape(n)
        target = nxt.reshape(n, -1).astype(np.float64) - obs.reshape(n, -1).astype(np.float64)
        return self.design(obs, actions), target, live

    # ---- fitting --------------------------------------------------------------------------------
    def add(self, tasks: Any, obs: Any, actions: Any, next_obs: Any, dones: Any) -> None:
        """Accumulate transitions with known task ids (terminal ones are skipped); call :meth:`fit` after.

        :param tasks: ``(B,)`` task id of each transition
        :param obs: ``(B, *obs_shape)`` base observations
        :param actions: ``(B, ...)`` actions as the env got them
        :param next_obs: ``(B, *obs_shape)`` next base observations
        :param dones: ``(B,)`` episode ends
        """
        x, y, live = self._rows(obs, actions, next_obs, dones)
        ids = np.asarray(tasks, dtype=np.int64).reshape(-1)
        if len(ids) != len(x) or ids.min(initial=0) < 0 or ids.max(initial=0) >= self.num_tasks:
            raise ValueError(f"tasks must give one id in [0, {self.num_tasks}) per transition, got {ids}.")
        for k in np.unique(ids[live]):
            rows = live & (ids == k)
            xk, yk = x[rows], y[rows]
            self.gram[k] += xk.T @ xk
            self.cross[k] += xk.T @ yk
            self.target_sq[k] += (yk**2).sum(axis=0)
            self.target_sum[k] += yk.sum(axis=0)
            self.counts[k] += int(rows.sum())

    def fit(self) -> TaskDynamics:
        """Solve every task's regression and its residual variances.

        :return: self
        :raises ValueError: naming the tasks with too few transitions (fewer than features)
        """
        missing = [k for k in range(self.num_tasks) if self.counts[k] < self.num_features]
        if missing:
            raise ValueError(
                f"tasks {missing} have fewer transitions than the {self.num_features} features of their model "
                "(counts: " + ", ".join(str(int(self.counts[k])) for k in missing) + "): collect more steps "
                "per task."
            )
        f = self.num_features
        weights = np.zeros((self.num_tasks, f, self.obs_dim))
        sse = np.zeros((self.num_tasks, self.obs_dim))
        for k in range(self.num_tasks):
            g = self.gram[k]
            penalty = self.ridge * max(float(np.trace(g)) / f, _ABS_FLOOR)
            w = np.linalg.solve(g + penalty * np.eye(f), self.cross[k])
            weights[k] = w
            # Σ (y - xw)² = Σ y² - 2 wᵀ Xᵀy + wᵀ XᵀX w, per output entry
            sse[k] = (
                self.target_sq[k]
                - 2 * np.einsum("fd,fd->d", w, self.cross[k])
                + np.einsum("fd,fg,gd->d", w, g, w)
            )
        total = self.counts.sum()
        mean = self.target_sum.sum(axis=0) / total
        spread = np.maximum(self.target_sq.sum(axis=0) / total - mean**2, 0.0)
        floor = np.maximum(_REL_FLOOR * spread, _ABS_FLOOR)
        self.weights = weights
        self.variances = np.maximum(sse / self.counts[:, None], floor)
        return self

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has run."""
        return self.weights is not None

    # ---- scoring --------------------------------------------------------------------------------
    def _score(self, x: np.ndarray, y: np.ndarray, live: np.ndarray, tasks: np.ndarray) -> np.ndarray:
        """Scores of rows ``(x, y)`` under ``tasks`` (broadcast against the rows: ``(C, 1)`` or ``(B,)``)."""
        if self.weights is None or self.variances is None:
            raise ValueError(
                "TaskDynamics has not been fitted: call add(...) with labelled transitions, then fit()."
            )
        pred = np.einsum("...f,...fd->...d", x, self.weights[tasks])
        var = self.variances[tasks]
        log_ratio = np.log(var / self.variances.min(axis=0))
        scores = 0.5 * ((y - pred) ** 2 / var + log_ratio).mean(axis=-1)
        return np.where(live, scores, np.nan)

    def candidate_scores(
        self, obs: Any, actions: Any, next_obs: Any, dones: Any, candidates: Sequence[int] | None = None
    ) -> np.ndarray:
        """``(C, B)`` score of every transition under every candidate task (``nan`` where it ended an episode).

        :param candidates: task ids (default all)
        """
        x, y, live = self._rows(obs, actions, next_obs, dones)
        cands = (
            np.arange(self.num_tasks) if candidates is None else np.asarray(list(candidates), dtype=np.int64)
        )
        return self._score(x[None], y[None], live[None], cands[:, None])

    def scores(self, obs: Any, actions: Any, next_obs: Any, dones: Any, tasks: Any) -> np.ndarray:
        """``(B,)`` score of transition ``b`` under its own task ``tasks[b]`` (only that task's model runs)."""
        x, y, live = self._rows(obs, actions, next_obs, dones)
        return self._score(x, y, live, np.asarray(tasks, dtype=np.int64).reshape(-1))

    # ---- collecting, saving -------------------------------------------------------------------------
    @classmethod
    def collect(
        cls,
        model: Any,
        vec_envs: Any,
        steps_per_task: int = 1000,
        deterministic: bool = False,
        **kwargs: Any,
    ) -> TaskDynamics:
        """Fit per-task models from the trained agent's own behaviour on each variant, task ids known.

        :param model: a trained SB3 model whose observations are ``{"obs", "task"}`` dicts
        :param vec_envs: one VecEnv per task (index = task), or one VecEnv whose ``task`` entries say the task
        :param steps_per_task: transitions to collect per task (summed over sub-envs; those that end an
            episode do not count)
        :param deterministic: act deterministically (default stochastic: more varied states)
        :param kwargs: further options of :class:`TaskDynamics`
        :return: the fitted models
        """
        envs = list(vec_envs) if isinstance(vec_envs, (list, tuple)) else [vec_envs]
        space = model.observation_space
        if not isinstance(space, spaces.Dict) or "task" not in space.spaces:
            raise ValueError("TaskDynamics.collect needs a model trained on {'obs', 'task'} observations.")
        num_tasks = int(space["task"].n)  # type: ignore[attr-defined]
        dyn = cls(num_tasks, space["obs"].shape, model.action_space, **kwargs)  # type: ignore[arg-type]
        if steps_per_task < 1:
            raise ValueError(f"steps_per_task must be >= 1, got {steps_per_task}.")
        per_env = len(envs) == num_tasks and num_tasks > 1
        limit = 20 * steps_per_task * (1 if per_env else num_tasks)
        for env in envs:
            obs, taken = env.reset(), 0
            seen: set[int] = set()
            while True:
                actions, _ = model.predict(obs, deterministic=deterministic)
                nxt, _, dones, _ = env.step(actions)
                dyn.add(obs["task"], obs["obs"], actions, nxt["obs"], dones)
                seen.update(int(k) for k in np.asarray(obs["task"]).reshape(-1))
                obs, taken = nxt, taken + env.num_envs
                wanted = sorted(seen) if per_env else list(range(num_tasks))
                if dyn.counts[wanted].min() >= steps_per_task:
                    break
                if taken >= limit:
                    short = [k for k in wanted if dyn.counts[k] < steps_per_task]
                    raise ValueError(
                        f"after {taken} steps, tasks {short} still have fewer than {steps_per_task} transitions "
                        "that do not end an episode: give a VecEnv that runs every task (or one per task)."
                    )
        return dyn.fit()

    def state(self) -> dict[str, np.ndarray]:
        """The accumulated statistics and settings as arrays (what :meth:`save` writes)."""
        return {
            "gram": self.gram,
            "cross": self.cross,
            "target_sq": self.target_sq,
            "target_sum": self.target_sum,
            "counts": self.counts,
            "features": np.array(self.features),
            "ridge": np.array(self.ridge),
            "obs_dim": np.array(self.obs_dim),
        }

    def save(self, path: str | Path) -> None:
        """Write the statistics to an ``.npz`` file (the fit is recomputed on load)."""
        np.savez(Path(path), **self.state())  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path, model: Any) -> TaskDynamics:
        """Read :meth:`save`'s file for ``model`` (its spaces must match the file's).

        :raises ValueError: when the file was written for other spaces or another number of tasks
        """
        with np.load(Path(path), allow_pickle=False) as data:
            space = model.observation_space
            dyn = cls(
                int(space["task"].n),
                space["obs"].shape,
                model.action_space,
                str(data["features"]),
                float(data["ridge"]),
            )
            if data["gram"].shape != dyn.gram.shape or int(data["obs_dim"]) != dyn.obs_dim:
                raise ValueError(
                    f"{path} holds dynamics for {data['gram'].shape[0]} tasks with {data['gram'].shape[1]} features, "
                    f"the model needs {dyn.num_tasks} tasks with {dyn.num_features}: collect them again for this model."
                )
            for key in ("gram", "cross", "target_sq", "target_sum", "counts"):
                setattr(dyn, key, np.array(data[key]))
        return dyn.fit()
