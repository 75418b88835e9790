"""The seeds of every kind of episode, in one place: each purpose owns its own range of seeds.

An episode's start state follows from the seed of its env's first reset, and later episodes of that env
follow from the same stream. If two purposes shared a seed, their episodes would start from the same
states: a validation score (``keep_best``) would pick weights on the very episodes that the reported
evaluation then scores, and a calibration (the dynamics models of ``psp-rl eval --infer-task``) would be
fitted on the evaluation's episodes. So every purpose gets a range of its own, above the run's seed::

    purpose         first seed of task k's env                       used by
    training        seed                  (a resumed run: below)     psp-rl train
    evaluation      seed +        10_000 + 1000 k                    psp-rl train, psp-rl eval
    training (resumed at step n)  seed + 200_000_000 + n mod 10^8    psp-rl train --resume
    validation      seed + 400_000_000 + 1000 k                      keep_best
    calibration     seed + 600_000_000 + 1000 k                      psp-rl eval --method dynamics
    switching       seed + 800_000_000  (one env, sub-env i)         psp-rl eval --switch-every
    new variants    seed + 1_000_000_000 + 1000 k                    psp-rl eval --new-variants
    switch draws    seed + 1_200_000_000 (an RNG seed, not an env)   psp-rl eval --switch-every

Sub-env ``i`` of an env adds ``i`` (Stable-Baselines3's ``VecEnv.seed``). The evaluation seeds are those of
every earlier release, so published evaluations stay comparable; ``psp-rl eval`` now evaluates on the same
start states as the run's own evaluations (it reproduces the final table with the same episodes), where it
used to start task 0 from keep_best's validation states.

The ranges stay apart as long as a run has at most :data:`MAX_TASKS` tasks, at most :data:`TASK_STRIDE`
sub-envs per task and a seed of at most :data:`MAX_SEED` (the config checks these); every seed then fits
into 32 bits, as NumPy's legacy seeding needs.

Example::

    >>> from psp_rl import seeds
    >>> seeds.of_task(seeds.evaluation(0), 2), seeds.of_task(seeds.validation(0), 2)
    (12000, 400002000)
"""

from __future__ import annotations

__all__ = [
    "MAX_SEED",
    "MAX_TASKS",
    "TASK_STRIDE",
    "calibration",
    "evaluation",
    "new_variants",
    "of_task",
    "switch_draws",
    "switching",
    "training",
    "validation",
]

#: task ``k``'s env of a purpose starts at ``base + TASK_STRIDE * k`` (so at most this many sub-envs per task)
TASK_STRIDE = 1000
#: tasks whose seeds stay inside their purpose's range
MAX_TASKS = 100_000
#: the largest run seed (every derived seed then stays below ``2**32``)
MAX_SEED = 2**31 - 1
#: width of a purpose's range (``MAX_TASKS`` tasks of ``TASK_STRIDE`` seeds each)
_RANGE = TASK_STRIDE * MAX_TASKS
_EVALUATION = 10_000  # every release's evaluation seed: published evaluations stay comparable
_TRAINING_RESUMED = 2 * _RANGE
_VALIDATION = 4 * _RANGE
_CALIBRATION = 6 * _RANGE
_SWITCHING = 8 * _RANGE
_NEW_VARIANTS = 10 * _RANGE
_SWITCH_DRAWS = 12 * _RANGE


def of_task(base: int, task: int) -> int:
    """The first seed of task ``task``'s env in a purpose whose task 0 starts at ``base``.

    :param base: a purpose's seed (:func:`evaluation`, :func:`validation`, ...).
    :param task: the task id.
    :return: ``base + TASK_STRIDE * task``.
    """
    return int(base) + TASK_STRIDE * int(task)


def training(seed: int, start_step: int = 0) -> int:
    """The seed of the training envs' first reset (sub-env ``i``: ``+ i``).

    :param seed: the run's seed.
    :param start_step: the step the run starts from (0, or a resumed run's checkpoint step).
    :return: ``seed`` for a new run; a resumed run draws from its own range, so its episodes start neither
        from the first ones nor from an evaluation's.
    """
    if start_step == 0:
        return int(seed)
    return int(seed) + _TRAINING_RESUMED + int(start_step) % _RANGE


def evaluation(seed: int) -> int:
    """The evaluation seed of task 0 (task ``k``: :func:`of_task`): the run's evaluations and ``psp-rl eval``.

    :param seed: the run's seed.
    """
    return int(seed) + _EVALUATION


def validation(seed: int) -> int:
    """The validation seed of task 0 (task ``k``: :func:`of_task`): keep_best's scores.

    :param seed: the run's seed.
    """
    return int(seed) + _VALIDATION


def calibration(seed: int) -> int:
    """The calibration seed of task 0 (task ``k``: :func:`of_task`): the transitions that the dynamics
    method of task inference fits its per-task models on.

    :param seed: the run's seed.
    """
    return int(seed) + _CALIBRATION


def switching(seed: int) -> int:
    """The seed of the env whose sub-envs switch tasks inside their episodes (``psp-rl eval --switch-every``).

    :param seed: the run's seed.
    """
    return int(seed) + _SWITCHING


def new_variants(seed: int) -> int:
    """The seed of variant 0 of the never-trained variants (``psp-rl eval --new-variants``; variant ``k``:
    :func:`of_task`).

    :param seed: the run's seed.
    """
    return int(seed) + _NEW_VARIANTS


def switch_draws(seed: int) -> int:
    """The seed of the random generator that draws the switches of ``psp-rl eval --switch-every``.

    :param seed: the run's seed.
    """
    return int(seed) + _SWITCH_DRAWS
