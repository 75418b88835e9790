"""The registry of variant families and :func:`make_variant_env`, which stacks them on a Gymnasium id.

Families compose: each entry of a suite's ``variants`` list wraps the previous one, and
:class:`~psp_rl.envs.task.TaskObservation` on top forwards the task to all of them::

    from psp_rl.envs import make_variant_env

    env = make_variant_env(
        "CartPole-v1",
        [{"family": "physics", "grid": {"length": [0.5, 1.0]}}, {"family": "permute_obs"}],
        task=1,
        num_tasks=2,
        seed=0,
    )
    obs, info = env.reset(seed=0)   # obs == {"obs": array(4,), "task": 1}, info["task_id"] == 1
    env.set_task(0)                 # the next episode runs variant 0

With ``coordinate=True`` a family that reports a continuous task coordinate (``drift``: its phase) also
fills ``obs["coord"]``::

    env = make_variant_env(
        "Pendulum-v1",
        [{"family": "drift", "attributes": {"g": [6.0, 14.0], "m": [0.7, 1.5]}, "period": 40_000}],
        coordinate=True,
    )
    obs, info = env.reset(seed=0)   # obs == {"obs": array(3,), "task": 0, "coord": array([0.], float32)}
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym

from psp_rl.envs.drift import PhysicsDrift
from psp_rl.envs.permute import PermuteActions, PermuteObservation
from psp_rl.envs.physics import PhysicsVariant
from psp_rl.envs.task import TaskObservation
from psp_rl.envs.variant import VariantWrapper, check_num_tasks, check_task
from psp_rl.utils import did_you_mean, unknown

__all__ = ["FAMILIES", "check_family_spec", "family_parameters", "make_variant_env"]

FAMILIES: dict[str, type[VariantWrapper]] = {
    "permute_obs": PermuteObservation,
    "permute_actions": PermuteActions,
    "physics": PhysicsVariant,
    "drift": PhysicsDrift,
}


def family_parameters(family: str) -> list[str]:
    """The parameters a family accepts in a suite spec (besides ``family``).

    :param family: a name in :data:`FAMILIES`.
    :return: the parameter names.
    """
    cls = _family_class(family)
    signature = inspect.signature(cls.__init__)
    return [n for n, p in signature.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def _family_class(family: str) -> type[VariantWrapper]:
    if family not in FAMILIES:
        raise unknown("variant family", family, FAMILIES)
    return FAMILIES[family]


def check_family_spec(spec: Mapping[str, Any]) -> None:
    """Check one entry of a ``variants`` list: a known ``family`` and only its parameters.

    :param spec: e.g. ``{"family": "physics", "grid": {"gravity": [9.8, 12.0]}}``.
    :raises ValueError: on an unknown family or parameter (with the closest valid name).
    """
    if not isinstance(spec, Mapping) or "family" not in spec:
        raise ValueError(f"Each variant entry must be a mapping with a 'family' key, got {spec!r}.")
    allowed = family_parameters(spec["family"])
    for key in spec:
        if key != "family" and key not in allowed:
            raise ValueError(
                f"Unknown parameter {key!r} for variant family {spec['family']!r}."
                f"{did_you_mean(key, ['family', *allowed])}"
            )


def make_variant_env(
    env_id: str,
    families: Sequence[Mapping[str, Any]],
    task: int = 0,
    num_tasks: int = 1,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    render_mode: str | None = None,
    coordinate: bool = False,
) -> TaskObservation:
    """Build ``gym.make(env_id)``, stack the variant families in order and add the task observation.

    Example::

        env = make_variant_env("Pendulum-v1", [{"family": "physics", "ranges": {"g": [5, 15]}}],
                               task=2, num_tasks=4, seed=0)

    :param env_id: any registered Gymnasium id.
    :param families: variant entries, e.g. ``[{"family": "permute_obs", "flip_signs": False}]``, applied
        in order (the first wraps the base environment).
    :param task: the initial task.
    :param num_tasks: number of tasks ``K``.
    :param seed: variant seed; each variant depends only on ``(seed, task)``.
    :param env_kwargs: keyword arguments for ``gym.make`` (e.g. ``max_episode_steps``).
    :param render_mode: passed to ``gym.make``.
    :param coordinate: also put the continuous task coordinate (the drift phase) into ``obs["coord"]``;
        needs a family that reports one (``drift``).
    :return: a :class:`TaskObservation` environment.
    :raises ValueError: on a bad family entry, or ``coordinate=True`` without exactly one family that
        reports a coordinate.
    """
    num_tasks = check_num_tasks(num_tasks)
    task = check_task(task, num_tasks)
    for spec in families:
        check_family_spec(spec)
    kwargs = dict(env_kwargs or {})
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    env = gym.make(env_id, **kwargs)
    for spec in families:
        params = {k: v for k, v in spec.items() if k != "family"}
        env = _family_class(spec["family"])(env, num_tasks, seed, task, **params)
    return TaskObservation(env, task=task, num_tasks=num_tasks, coordinate=coordinate)
