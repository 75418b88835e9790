"""The seeds of every purpose (:mod:`psp_rl.seeds`): their ranges never meet, and in ``psp-rl train`` and
``psp-rl eval`` the episodes of the evaluation, the validation (keep_best) and the calibration (task inference's
dynamics models) start from different states, for every task."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from psp_rl import seeds
from psp_rl.cli import main
from psp_rl.envs.task import TaskObservation


def test_the_ranges_of_the_purposes_never_meet() -> None:
    n, last = seeds.TASK_STRIDE - 1, seeds.MAX_TASKS - 1  # the last sub-env of the last task
    for seed in (0, 7, seeds.MAX_SEED):
        spans = {
            "training": (seeds.training(seed), seeds.training(seed) + n),
            "training resumed": (seeds.training(seed, 1), seeds.training(seed, 10**8 - 1) + n),
            "switching": (seeds.switching(seed), seeds.switching(seed) + n),
            "switch draws": (seeds.switch_draws(seed), seeds.switch_draws(seed)),
        }
        for name, base in [
            ("evaluation", seeds.evaluation(seed)),
            ("validation", seeds.validation(seed)),
            ("calibration", seeds.calibration(seed)),
            ("new variants", seeds.new_variants(seed)),
        ]:
            spans[name] = (seeds.of_task(base, 0), seeds.of_task(base, last) + n)
        ordered = sorted(spans.items(), key=lambda item: item[1])
        for (name, (_, end)), (after, (start, _)) in zip(ordered, ordered[1:]):
            assert end < start, (seed, name, after)
        assert ordered[-1][1][1] < 2**32  # NumPy's legacy seeding takes 32 bits


def test_evaluation_seeds_are_those_of_every_release() -> None:
    """Published evaluations stay comparable: task k's evaluation starts from seed + 10 000 + 1000 k."""
    assert [seeds.of_task(seeds.evaluation(3), k) for k in range(3)] == [10_003, 11_003, 12_003]


def _purpose() -> str:
    """Which part of psp_rl reset the env, read from the call stack."""
    frame: Any = sys._getframe(2)
    while frame is not None:
        name, file = frame.f_code.co_name, frame.f_code.co_filename
        if name == "task_dynamics_of_run":
            return "calibration"
        if name == "evaluate_inferred":
            return "inference runs"  # the switching env and never-trained variants
        if "keep_best" in file:
            return "validation"
        if file.endswith(("evaluation/callback.py", "evaluation\\callback.py")):
            return "evaluation (train)"
        if name == "evaluate_run":
            return "evaluation (eval)"
        frame = frame.f_back
    return "training"


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[int, set[tuple[float, ...]]]]:
    """Every seeded reset's start state (CartPole's state, before the variant's permutation), by purpose and
    task."""
    found: dict[str, dict[int, set[tuple[float, ...]]]] = defaultdict(lambda: defaultdict(set))
    reset = TaskObservation.reset

    def recording_reset(self: TaskObservation, *, seed: int | None = None, options: Any = None) -> Any:
        out = reset(self, seed=seed, options=options)
        if seed is not None:
            found[_purpose()][int(self.task)].add(tuple(round(float(x), 9) for x in self.unwrapped.state))
        return out

    monkeypatch.setattr(TaskObservation, "reset", recording_reset)
    return found


def test_evaluation_validation_and_calibration_start_apart_for_every_task(
    tmp_path: Path, starts: dict[str, dict[int, set[tuple[float, ...]]]]
) -> None:
    """11 tasks: under the former seeds, task 10's evaluation started where task 0's validation did, and
    ``psp-rl eval`` started every task where task 0's validation did."""
    k = 11
    sets = ["policy_kwargs.net_arch=[8]", "hyperparams.n_steps=32", "hyperparams.batch_size=32"]
    sets += ["hyperparams.n_epochs=1", "eval.episodes=1", "eval.matrix=diagonal"]
    sets += ["keep_best.freq=32", "keep_best.episodes=1"]
    argv = ["train", "--num-tasks", str(k), "--steps-per-task", "64", "--n-envs", "1", "--device", "cpu"]
    assert main([*argv, "--no-progress", "--run-dir", str(tmp_path), "--set", *sets]) == 0
    (run,) = tmp_path.iterdir()
    argv = ["eval", str(run), "--episodes", "1", "--infer-task", "--calibration-steps", "40"]
    assert main([*argv, "--switch-every", "10", "--switch-episodes", "1"]) == 0

    purposes = ["evaluation (train)", "evaluation (eval)", "validation", "calibration"]
    for purpose in purposes:
        assert sorted(starts[purpose]) == list(range(k)), purpose  # every task
    # psp-rl eval starts where the run's own evaluations did (one namespace): it reproduces them
    assert starts["evaluation (eval)"] == starts["evaluation (train)"]
    every = {p: set().union(*starts[p].values()) for p in [*purposes[1:], "training", "inference runs"]}
    names = list(every)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not every[a] & every[b], (a, b)  # no start state shared, whatever the tasks
