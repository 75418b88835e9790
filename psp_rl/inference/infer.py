"""Which task fits a window of recent data: one-shot inference from the entropy gradient over
superposed keys, its iterative (halving) variant, and score-based inference from the critic's TD error.

One-shot (the "Supermasks in Superposition" idea, Wortsman et al. 2020, carried to RL): every layer
computes with the mixed key ``Σ α_k c_k`` and bias ``Σ α_k b_k``, ``α_k = 1/K``; the policy's mean
entropy ``H`` over the window is differentiated in ``α`` and the task whose weight lowers ``H`` the
most, ``k* = argmin_k ∂H/∂α_k``, is chosen -- one forward and one backward pass, whatever ``K``.
The iterative variant repeats this on the half of the candidates with the smallest gradients
(``α`` re-normalised over the survivors) until one is left: ``⌈log2 K⌉`` passes, more robust at large K.

Score-based: each candidate ``k`` is scored by its mean absolute TD error on the window (see
:class:`~psp_rl.inference.heads.TaskHeads`); the lowest score wins. It works for every algorithm,
TD3 included, and for variants whose observations look alike but whose dynamics differ.

Example::

    heads = TaskHeads(model)
    result = infer_entropy(heads, recent_obs)          # recent_obs: (B, *obs_shape)
    result.task, result.scores                         # the chosen id, ∂H/∂α per task
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from psp_rl.inference.heads import TaskHeads

__all__ = ["Inference", "entropy_gradient", "infer_entropy", "infer_score", "ITERATIVE_FROM"]

#: ``iterative=None`` uses the halving variant from this many tasks on
ITERATIVE_FROM = 32


@dataclass(frozen=True)
class Inference:
    """The outcome of one inference.

    :param task: the chosen task id
    :param scores: ``(K,)`` what was compared, lowest wins (``∂H/∂α_k`` of the first pass for the
        entropy method, mean ``|TD error|`` for the score method); ``nan`` for tasks not scored
    :param method: ``"entropy"`` or ``"score"``
    :param passes: forward/backward passes used (entropy method)
    """

    task: int
    scores: np.ndarray
    method: str
    passes: int = 1


def entropy_gradient(heads: TaskHeads, obs: np.ndarray, candidates: list[int]) -> np.ndarray:
    """``∂H/∂α_k`` for the candidates, with ``α`` uniform over them (0 elsewhere).

    :param heads: the model's inference view
    :param obs: ``(B, *obs_shape)`` base observations
    :param candidates: task ids to mix
    :return: one gradient per candidate
    """
    alpha = torch.zeros(heads.num_tasks, device=heads.policy.device)
    alpha[candidates] = 1.0 / len(candidates)
    alpha.requires_grad_(True)
    with torch.enable_grad():
        entropy = heads.mixed_entropy(obs, alpha).mean()
        (grad,) = torch.autograd.grad(entropy, alpha)
    return grad[candidates].detach().cpu().numpy().astype(np.float64)


def _check_window(obs: Any, heads: TaskHeads) -> np.ndarray:
    arr = np.asarray(obs)
    shape = tuple(heads.obs_space.shape)
    if arr.shape == shape:
        arr = arr[None]
    if arr.ndim < 1 or tuple(arr.shape[1:]) != shape or len(arr) == 0:
        raise ValueError(
            f"a window of base observations must have shape (B, {', '.join(map(str, shape))}) with B >= 1, "
            f"got {arr.shape}."
        )
    return arr


def infer_entropy(
    heads: TaskHeads, obs: np.ndarray, iterative: bool | None = None, candidates: list[int] | None = None
) -> Inference:
    """Choose the task whose key lowers the policy's entropy the most on a window of observations.

    :param heads: the model's inference view (not TD3)
    :param obs: ``(B, *obs_shape)`` recent base observations (or one observation)
    :param iterative: halve the candidates until one is left; ``None``: from :data:`ITERATIVE_FROM` tasks
    :param candidates: task ids to choose among (default all)
    :return: the chosen task and the gradients of the first pass
    """
    heads.check_entropy()
    window = _check_window(obs, heads)
    cands = sorted(range(heads.num_tasks) if candidates is None else {int(k) for k in candidates})
    if not cands:
        raise ValueError("candidates must name at least one task.")
    scores = np.full(heads.num_tasks, np.nan)
    grads = entropy_gradient(heads, window, cands)
    scores[cands] = grads
    if iterative is None:
        iterative = len(cands) >= ITERATIVE_FROM
    if not iterative:
        return Inference(cands[int(np.argmin(grads))], scores, "entropy")
    passes = 1
    while len(cands) > 1:
        keep = np.argsort(grads, kind="stable")[: math.ceil(len(cands) / 2)]
        cands = sorted(cands[i] for i in keep)
        if len(cands) > 1:
            grads, passes = entropy_gradient(heads, window, cands), passes + 1
    return Inference(cands[0], scores, "entropy", passes)


def infer_score(
    heads: TaskHeads,
    obs: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    next_obs: np.ndarray,
    dones: np.ndarray,
    candidates: list[int] | None = None,
) -> Inference:
    """Choose the task whose critic explains a window of transitions best (lowest mean ``|TD error|``).

    :param heads: the model's inference view
    :param obs: ``(B, *obs_shape)`` base observations
    :param actions: ``(B, ...)`` the actions taken
    :param rewards: ``(B,)`` rewards
    :param next_obs: ``(B, *obs_shape)`` the next base observations
    :param dones: ``(B,)`` whether the episode ended (terminated) there
    :param candidates: task ids to choose among (default all)
    :return: the chosen task and every candidate's mean ``|TD error|``
    """
    obs, next_obs = _check_window(obs, heads), _check_window(next_obs, heads)
    rewards, dones = np.asarray(rewards, dtype=np.float32).reshape(-1), np.asarray(dones).reshape(-1)
    if not len(obs) == len(next_obs) == len(rewards) == len(dones) == len(np.asarray(actions)):
        raise ValueError(
            "obs, actions, rewards, next_obs and dones must hold the same number of transitions."
        )
    cands = list(range(heads.num_tasks)) if candidates is None else [int(k) for k in candidates]
    errors = heads.candidate_td_errors(obs, np.asarray(actions), rewards, next_obs, dones, cands)
    scores = np.full(heads.num_tasks, np.nan)
    scores[cands] = errors.mean(axis=1)
    return Inference(cands[int(np.argmin(errors.mean(axis=1)))], scores, "score")
