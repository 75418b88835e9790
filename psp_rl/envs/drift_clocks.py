"""Read, restore and restart the drift clocks of the ``PhysicsDrift`` sub-envs of a VecEnv.

A :class:`~psp_rl.envs.PhysicsDrift` wrapper counts its steps across episodes (its drift clock); a
rebuilt environment starts at 0. :func:`get_drift_steps` / :func:`set_drift_steps` carry the clocks
of a training VecEnv through a checkpoint, and :class:`DriftClockReset` makes every evaluation start
each evaluation env's clock at 0, so evaluations see the same drift at every phase and after a resume.

Example::

    steps = get_drift_steps(env)          # [1200, 1200] for two drifting sub-envs, [] without drift
    set_drift_steps(rebuilt_env, steps)   # the rebuilt env continues the same drift
"""

from __future__ import annotations

from collections.abc import Sequence

from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from psp_rl.envs.drift import PhysicsDrift

__all__ = ["DriftClockReset", "drift_indices", "get_drift_steps", "set_drift_steps", "with_drift_reset"]


def drift_indices(venv: VecEnv) -> list[int]:
    """The sub-envs of a VecEnv that hold a :class:`PhysicsDrift` wrapper.

    :param venv: any VecEnv (wrappers such as ``VecNormalize`` are looked through).
    :return: their indices.
    """
    return [i for i, wrapped in enumerate(venv.env_is_wrapped(PhysicsDrift)) if wrapped]


def get_drift_steps(venv: VecEnv) -> list[int | None]:
    """The drift clock of every sub-env.

    :param venv: any VecEnv.
    :return: one entry per sub-env (``None`` where it does not drift); ``[]`` when none drifts.
    """
    indices = drift_indices(venv)
    if not indices:
        return []
    steps: list[int | None] = [None] * venv.num_envs
    for i, step in zip(indices, venv.env_method("get_drift_step", indices=indices)):
        steps[i] = int(step)
    return steps


def set_drift_steps(venv: VecEnv, steps: Sequence[int | None]) -> None:
    """Set the drift clock of every sub-env (as saved by :func:`get_drift_steps`).

    :param venv: any VecEnv.
    :param steps: one entry per sub-env (``None``: leave it); ``[]`` does nothing.
    :raises ValueError: when the entries do not match the drifting sub-envs.
    """
    if len(steps) == 0:
        return
    indices = drift_indices(venv)
    given = [i for i, step in enumerate(steps) if step is not None]
    if len(steps) != venv.num_envs or given != indices:
        raise ValueError(
            f"saved drift clocks {list(steps)} do not match this VecEnv ({venv.num_envs} sub-envs, "
            f"drifting: {indices}): resume with the run's own config.yaml (same suite and n_envs)."
        )
    for i in indices:
        venv.env_method("set_drift_step", int(steps[i]), indices=[i])  # type: ignore[arg-type]


class DriftClockReset(VecEnvWrapper):
    """Restart the drift clock of every drifting sub-env at 0 on every ``reset()`` of the VecEnv.

    SB3's ``evaluate_policy`` resets the VecEnv once, at its start (episodes after the first reset
    their sub-env only), so each evaluation starts at drift step 0 and its clocks then run on across
    the evaluation's episodes: every evaluation of a task sees the same drift.

    :param venv: the evaluation VecEnv.
    """

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)
        self.indices = drift_indices(venv)

    def reset(self) -> VecEnvObs:
        """Set every drift clock to 0, then reset every sub-env.

        :return: the first observations.
        """
        if self.indices:
            self.venv.env_method("set_drift_step", 0, indices=self.indices)
        return self.venv.reset()

    def step_wait(self) -> VecEnvStepReturn:
        """:return: the sub-envs' ``(obs, rewards, dones, infos)``, unchanged."""
        return self.venv.step_wait()


def with_drift_reset(venv: VecEnv) -> VecEnv:
    """Wrap an evaluation VecEnv in :class:`DriftClockReset` when one of its sub-envs drifts.

    :param venv: the evaluation VecEnv.
    :return: the wrapped VecEnv, or ``venv`` itself when nothing drifts.
    """
    return DriftClockReset(venv) if drift_indices(venv) else venv
