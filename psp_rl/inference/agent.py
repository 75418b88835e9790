"""A drop-in agent for plain SB3 code that acts without being told the task: :func:`infer_task`.

``agent.predict(obs)`` takes *base* observations (the bare array, or a dict with an ``"obs"`` entry;
any other entry, a ``task`` included, is ignored), one row per sub-env of a VecEnv (or one
unbatched observation), chooses a task per sub-env from its recent data and acts with the model's
policy for that task.

Per sub-env the agent keeps a window of the last ``window`` observations (entropy method) or
transitions (score and dynamics methods), the inferred task and a switch detector. Life cycle of one sub-env:

1. *warm-up*: until its window is full, it re-infers on every new sample (the first decision comes
   from one sample, later ones from more);
2. *watching*: the task is fixed; the chosen task's per-step score feeds a Page-Hinkley test
   (``switches="detect"``). An alarm keeps the samples since the estimated switch and goes back to 1.
   ``switches="sliding"`` re-infers on every step instead, ``"none"`` keeps the task until a reset;
3. *new*: a window that no key fits (see :class:`~psp_rl.inference.detect.TaskReference`) is
   reported as ``-1`` in :attr:`InferenceAgent.current_tasks` (and ``True`` in :attr:`~InferenceAgent.is_new`);
   the agent still acts with the best-fitting key and re-infers every ``window`` steps.

The score and dynamics methods need what happened: call :meth:`InferenceAgent.observe` after each
``env.step`` with ``(obs, action, reward, next_obs, done)`` (predict alone does not see rewards or
successors). Until a sub-env has a transition it acts with the task inferred most recently on any
sub-env (task 0 at first). The dynamics method scores transitions with per-task models of one env
step (:class:`~psp_rl.inference.dynamics.TaskDynamics`, fitted beforehand on labelled transitions);
transitions that end an episode carry no score there.

Episode starts do **not** reset the inference by default (a variant usually outlives an episode and
the detector catches switches); pass ``reset_on_episode_start=True`` to start every episode afresh.

Example::

    agent = psp_rl.infer_task(model, window=16, method="entropy")
    obs = base_vec_env.reset()
    for _ in range(1000):
        actions, _ = agent.predict(obs, deterministic=True)
        next_obs, rewards, dones, infos = base_vec_env.step(actions)
        agent.observe(obs, actions, rewards, next_obs, dones)   # needed by method="score"
        obs = next_obs
    agent.current_tasks                                          # one id per sub-env, -1: new
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from psp_rl.inference.detect import SwitchDetector, TaskReference
from psp_rl.inference.dynamics import TaskDynamics
from psp_rl.inference.heads import TaskHeads
from psp_rl.inference.infer import Inference, infer_entropy

__all__ = ["InferenceAgent", "infer_task", "METHODS", "SWITCHES", "TRANSITION_METHODS"]

METHODS = ("entropy", "score", "dynamics")
#: the methods that read transitions (given to :meth:`InferenceAgent.observe`)
TRANSITION_METHODS = ("score", "dynamics")
SWITCHES = ("detect", "sliding", "none")


@dataclass
class _EnvState:
    obs: deque
    transitions: deque
    detector: SwitchDetector
    task: int = -1  # the reported task (-1: unknown or new)
    acting: int | None = None  # the key used for acting
    new: bool = False
    warm: bool = True
    since_inference: int = 0
    alarms: int = 0
    last: Inference | None = field(default=None, repr=False)
    # the chosen task's scores not yet in its reference: they join it ``window`` steps later if no
    # alarm came in between (so a switch not yet detected does not leak into the reference)
    pending: deque = field(default_factory=deque, repr=False)


class InferenceAgent:
    """Acts with a PSP model on base observations, inferring each sub-env's task (see the module doc).

    :param model: a trained SB3 model with a PSP policy
    :param window: samples ``B`` each inference looks at
    :param method: ``"entropy"`` (one-shot, from the observations; not TD3), ``"score"`` (TD error of
        the critic on transitions passed to :meth:`observe`; every algorithm) or ``"dynamics"`` (how well
        each task's model of one env step explains those transitions; needs ``dynamics``)
    :param iterative: entropy method: the halving variant (``None``: from 32 tasks on)
    :param switches: ``"detect"`` (Page-Hinkley on the chosen task's score), ``"sliding"`` (re-infer on
        every step) or ``"none"``
    :param delta: Page-Hinkley's tolerated increase, in units of the chosen task's scale
    :param threshold: Page-Hinkley's alarm threshold, in the same units
    :param new_factor: a window is *new* when every task's median score exceeds this multiple of its
        reference level (``None``: never report new; default 3, and 100 for the dynamics method, whose
        wrong tasks score 10⁴-10⁶ times the right one)
    :param auto_calibrate: add the chosen task's per-step scores to its reference while watching, each
        ``window`` steps late and only when no alarm and no change of choice came in between (else only
        :meth:`calibrate` sets references)
    :param reset_on_episode_start: forget a sub-env's window and task at every episode start
    :param dqn_temperature: see :class:`~psp_rl.inference.heads.TaskHeads`
    :param dynamics: the fitted per-task step models of the dynamics method
        (:meth:`TaskDynamics.collect <psp_rl.inference.dynamics.TaskDynamics.collect>`)
    :param quantile: the quantile of a task's own scores that sets the detector's scale and the
        new-variant level (``None``: 0.9 for the dynamics method, whose scores span orders of magnitude
        between calm and wild states, else the median); the dynamics method's detector also works on
        ``log10`` of the normalised score (see :class:`~psp_rl.inference.detect.SwitchDetector`)
    """

    def __init__(
        self,
        model: Any,
        window: int = 16,
        method: str = "entropy",
        iterative: bool | None = None,
        switches: str = "detect",
        delta: float = 1.0,
        threshold: float = 10.0,
        new_factor: float | None | str = "auto",
        auto_calibrate: bool = True,
        reset_on_episode_start: bool = False,
        dqn_temperature: float = 1.0,
        dynamics: TaskDynamics | None = None,
        quantile: float | None = None,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
        if switches not in SWITCHES:
            raise ValueError(f"switches must be one of {SWITCHES}, got {switches!r}.")
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a positive integer (samples per inference), got {window!r}.")
        self.model, self.window, self.method, self.iterative = model, window, method, iterative
        self.heads = TaskHeads(model, dqn_temperature=dqn_temperature)
        if method == "entropy":
            self.heads.check_entropy()
        if method == "dynamics":
            if dynamics is None or not dynamics.fitted:
                raise ValueError(
                    "method='dynamics' needs fitted per-task step models: pass "
                    "dynamics=TaskDynamics.collect(model, per_task_vec_envs) (psp_rl.inference.TaskDynamics)."
                )
            if dynamics.num_tasks != self.heads.num_tasks or dynamics.obs_dim != int(
                np.prod(self.heads.obs_space.shape)
            ):
                raise ValueError(
                    f"the dynamics models cover {dynamics.num_tasks} tasks of {dynamics.obs_dim} entries, the "
                    f"model has {self.heads.num_tasks} tasks of {int(np.prod(self.heads.obs_space.shape))}: "
                    "collect them for this model."
                )
        self.dynamics = dynamics
        self.switches, self.delta, self.threshold = switches, float(delta), float(threshold)
        self.auto_calibrate, self.reset_on_episode_start = bool(auto_calibrate), bool(reset_on_episode_start)
        self.quantile = float(quantile if quantile is not None else 0.9 if method == "dynamics" else 0.5)
        if isinstance(new_factor, str):
            if new_factor != "auto":
                raise ValueError(f"new_factor must be a number > 1, None or 'auto', got {new_factor!r}.")
            new_factor = 100.0 if method == "dynamics" else 3.0
        self.new_factor: float | None = None if new_factor is None else float(new_factor)
        self.reference = TaskReference(
            self.heads.num_tasks, factor=self.new_factor or 2.0, quantile=self.quantile
        )
        self._fallback = 0
        self._envs: list[_EnvState] = []

    # ---- state ----------------------------------------------------------------------------------
    def _fresh(self) -> _EnvState:
        return _EnvState(
            deque(maxlen=self.window),
            deque(maxlen=self.window),
            SwitchDetector(
                self.delta, self.threshold, quantile=self.quantile, log_scale=self.method == "dynamics"
            ),
        )

    def reset(self, indices: Any = None) -> None:
        """Forget the window and task of some sub-envs (default: all, also the number of sub-envs)."""
        if indices is None:
            self._envs = []
            return
        for i in np.atleast_1d(indices):
            self._envs[int(i)] = self._fresh()

    def _ensure(self, n: int) -> None:
        if len(self._envs) != n:  # a new batch size: a new set of sub-envs
            self._envs = [self._fresh() for _ in range(n)]

    @property
    def num_envs(self) -> int:
        """Sub-envs the agent tracks (set by the first call)."""
        return len(self._envs)

    @property
    def current_tasks(self) -> np.ndarray:
        """The inferred task per sub-env; ``-1`` while unknown or for a new variant."""
        return np.array([st.task for st in self._envs], dtype=np.int64)

    @property
    def acting_tasks(self) -> np.ndarray:
        """The key each sub-env acts with (the best fit, also for a new variant)."""
        return np.array(
            [self._fallback if st.acting is None else st.acting for st in self._envs], dtype=np.int64
        )

    @property
    def is_new(self) -> np.ndarray:
        """Whether each sub-env's data fits no key."""
        return np.array([st.new for st in self._envs], dtype=bool)

    @property
    def alarms(self) -> np.ndarray:
        """Switch alarms raised so far per sub-env."""
        return np.array([st.alarms for st in self._envs], dtype=np.int64)

    # ---- inputs ---------------------------------------------------------------------------------
    def _base(self, obs: Any) -> tuple[np.ndarray, bool]:
        if isinstance(obs, dict):
            if "obs" not in obs:
                raise ValueError("a dict observation needs an 'obs' entry (the base observation).")
            obs = obs["obs"]
        arr = np.asarray(obs)
        shape = tuple(self.heads.obs_space.shape)
        if arr.shape == shape:
            return arr[None], True
        if tuple(arr.shape[1:]) != shape:
            raise ValueError(
                f"base observations must have shape {shape} or (n_envs, {', '.join(map(str, shape))}), got "
                f"{arr.shape}: pass the 'obs' entry (no task) of the suite's observations."
            )
        return arr, False

    def calibrate(self, task: int, scores: np.ndarray | None = None, **data: Any) -> None:
        """Give ``task`` reference scores on its own data (for telling new variants from known ones).

        :param task: the task the data comes from
        :param scores: per-sample scores, already computed; or else, as keyword arguments, the data:
            ``obs=`` (entropy method) or ``obs=, actions=, rewards=, next_obs=, dones=`` (score and
            dynamics methods)
        """
        if scores is None:
            obs = np.asarray(data["obs"])
            tasks = np.full(len(obs), int(task))
            if self.method == "entropy":
                scores = self.heads.entropies(obs, tasks)
            else:
                actions, rewards, nxt, dones = (
                    np.asarray(data[k]) for k in ("actions", "rewards", "next_obs", "dones")
                )
                scores = self._transition_scores(obs, actions, rewards, nxt, dones, tasks)
        scores = np.asarray(scores, dtype=np.float64)
        self.reference.add(int(task), scores[np.isfinite(scores)])

    def _transition_scores(
        self, obs: Any, actions: Any, rewards: Any, nxt: Any, dones: Any, tasks: Any
    ) -> np.ndarray:
        """``(B,)`` score of each transition under its own task (TD error, or the step models' score)."""
        if self.dynamics is not None and self.method == "dynamics":
            return self.dynamics.scores(obs, actions, nxt, dones, tasks)
        return self.heads.td_errors(obs, actions, rewards, nxt, dones, tasks)

    def _candidate_scores(self, obs: Any, actions: Any, rewards: Any, nxt: Any, dones: Any) -> np.ndarray:
        """``(K, B)`` scores of a window of transitions under every task."""
        if self.dynamics is not None and self.method == "dynamics":
            return self.dynamics.candidate_scores(obs, actions, nxt, dones)
        return self.heads.candidate_td_errors(obs, actions, rewards, nxt, dones)

    # ---- acting ---------------------------------------------------------------------------------
    def predict(
        self,
        observation: Any,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """SB3's ``predict`` on base observations: infer each sub-env's task, then act with it.

        :param observation: base observations ``(n_envs, *obs_shape)``, one unbatched observation, or a
            dict with an ``"obs"`` entry
        :param state: recurrent state (passed to the model)
        :param episode_start: episode starts (passed on; reset the inference with ``reset_on_episode_start``)
        :param deterministic: deterministic actions
        :return: the actions and the state, as ``model.predict``
        """
        base, single = self._base(observation)
        self._ensure(len(base))
        if episode_start is not None and self.reset_on_episode_start:
            for i in np.flatnonzero(np.asarray(episode_start, dtype=bool).reshape(-1)[: len(base)]):
                self._envs[i] = self._fresh()
        if self.method == "entropy":
            for st, row in zip(self._envs, base):
                st.obs.append(row)
            self._step(lambda tasks: self.heads.entropies(base, tasks))
        full = {"obs": base, "task": self.acting_tasks}
        actions, state = self.model.predict(
            full, state=state, episode_start=episode_start, deterministic=deterministic
        )
        return (actions[0] if single else actions), state

    def observe(self, obs: Any, action: Any, reward: Any, next_obs: Any, done: Any) -> None:
        """Tell the agent what happened at the last step (one row per sub-env); the score method's input.

        :param obs: the base observations the actions were chosen on
        :param action: the actions taken (as the env got them)
        :param reward: rewards (as the model was trained on them)
        :param next_obs: the next base observations (a VecEnv's reset observation at an episode end is fine:
            a ``done`` transition has no bootstrap term)
        :param done: episode ends; pass ``terminated`` when available (a truncation counts as terminal)
        """
        if self.method not in TRANSITION_METHODS:
            return
        base, single = self._base(obs)
        nxt, _ = self._base(next_obs)
        self._ensure(len(base))
        actions = np.asarray(action)
        actions = actions[None] if single else actions
        rewards = np.asarray(reward, dtype=np.float32).reshape(-1)
        dones = np.asarray(done, dtype=np.float32).reshape(-1)
        for i, st in enumerate(self._envs):
            st.transitions.append((base[i], actions[i], rewards[i], nxt[i], dones[i]))

        self._step(lambda tasks: self._transition_scores(base, actions, rewards, nxt, dones, tasks))
        if self.reset_on_episode_start:
            for j in np.flatnonzero(dones):
                self._envs[j] = self._fresh()

    # ---- the life cycle -------------------------------------------------------------------------
    def _step(self, stream: Any) -> None:
        """Feed each watched sub-env's new score to its detector, then re-infer where needed."""
        watched = [
            i for i, st in enumerate(self._envs) if st.acting is not None and not st.warm and not st.new
        ]
        if watched and (self.switches == "detect" or self.auto_calibrate):
            scores = stream(self.acting_tasks)
            for i in watched:
                st = self._envs[i]
                if not np.isfinite(scores[i]):  # an episode end: nothing to score (dynamics)
                    continue
                if self.auto_calibrate:
                    st.pending.append((st.task, float(scores[i])))
                    while len(st.pending) > self.window:
                        self.reference.add(*st.pending.popleft())
                    if st.detector.active and not st.detector.known and self.reference.known(st.task):
                        st.detector.start(self.reference.scores(st.task))  # a reliable baseline now
                if self.switches == "detect" and st.detector.update(scores[i]):
                    st.alarms += 1
                    self._restart(st, keep=st.detector.since_change)
        for st in self._envs:
            st.since_inference += 1
            due = st.warm or self.switches == "sliding" or (st.new and st.since_inference >= self.window)
            if due and len(st.obs if self.method == "entropy" else st.transitions):
                self._infer(st)

    def _restart(self, st: _EnvState, keep: int) -> None:
        st.pending.clear()
        for window in (st.obs, st.transitions):
            for _ in range(max(0, len(window) - max(1, keep))):
                window.popleft()
        st.warm = True

    def _infer(self, st: _EnvState) -> None:
        if self.method == "entropy":
            obs = np.stack(list(st.obs))
            result = infer_entropy(self.heads, obs, iterative=self.iterative)
            per_task = self.heads.candidate_entropies(obs) if self._check_new else None
            own = self.heads.entropies(obs, np.full(len(obs), result.task))
            full = len(st.obs) >= self.window
        else:
            obs, actions, rewards, nxt, dones = (np.stack(list(c)) for c in zip(*st.transitions))
            errors = self._candidate_scores(obs, actions, rewards, nxt, dones)
            scored = np.isfinite(errors).all(axis=0)
            if not scored.any():  # only episode ends so far: nothing to infer from
                return
            errors = errors[:, scored]
            task = int(np.argmin(errors.mean(axis=1)))
            result = Inference(task, errors.mean(axis=1), self.method)
            per_task, own = (errors if self._check_new else None), errors[task]
            full = len(st.transitions) >= self.window
        before = (st.acting, st.new)
        st.last, st.acting, st.since_inference = result, result.task, 0
        st.new = per_task is not None and self.reference.is_new(np.median(per_task, axis=1))
        st.task = -1 if st.new else result.task
        if not st.new:
            self._fallback = result.task
        if before != (st.acting, st.new):
            st.pending.clear()
        if full and (st.warm or before != (st.acting, st.new)):  # watch the (new) choice afresh
            st.warm = False
            if self.switches == "detect":  # own data: the task's reference, or else the window
                known = self.reference.known(result.task)
                st.detector.start(self.reference.scores(result.task) if known else own, known=known)

    @property
    def _check_new(self) -> bool:
        return self.new_factor is not None and self.reference.calibrated


def infer_task(model: Any, window: int = 16, method: str = "entropy", **kwargs: Any) -> InferenceAgent:
    """Wrap a trained PSP model so that it acts on observations without the task entry.

    :param model: a trained SB3 model (PPO, A2C, DQN, SAC, TD3) with a PSP policy
    :param window: samples each inference looks at (``B``)
    :param method: ``"entropy"`` (one-shot from the policy's entropy; not TD3), ``"score"`` (critic
        TD error on transitions given to :meth:`InferenceAgent.observe`) or ``"dynamics"`` (per-task step
        models on those transitions; pass ``dynamics=TaskDynamics.collect(...)``)
    :param kwargs: further options of :class:`InferenceAgent`
    :return: the agent; ``agent.predict(obs)`` acts, ``agent.current_tasks`` holds the inferred ids

    Example::

        agent = psp_rl.infer_task(model, window=16)
        actions, _ = agent.predict(base_obs, deterministic=True)
    """
    return InferenceAgent(model, window=window, method=method, **kwargs)
