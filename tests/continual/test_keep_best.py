"""keep_best: each phase ends on its best-scoring weights; position and copy survive a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from psp_rl.continual.keep_best import KeepBest
from psp_rl.training import TrainConfig, train
from tests.training.callback_fakes import FakeModel

BOUNDARIES = [100, 200]


class WeightModel(FakeModel):
    """A model whose one weight is set to the step count at every step (what training would change)."""

    def __init__(self) -> None:
        super().__init__()
        self.policy = nn.Linear(1, 1, bias=False)

    def advance(self, step: int) -> None:
        self.num_timesteps = step
        with torch.no_grad():
            self.policy.weight.fill_(float(step))


class ScriptedKeepBest(KeepBest):
    """Scores come from ``scores[step]`` instead of validation episodes."""

    def __init__(
        self, scores: dict[int, float], boundaries: list[int] = BOUNDARIES, tasks: tuple = (0, 1), **kwargs
    ) -> None:
        kwargs = {"freq": 20, "start": 0.5, **kwargs}
        envs = [None] * len(tasks)
        super().__init__(envs, lambda task, ret: ret, boundaries, list(tasks), **kwargs)  # type: ignore[arg-type]
        self.scores = scores
        self.scored: list[tuple[int, int]] = []

    def score(self) -> float:
        self.scored.append((self.num_timesteps, self.phase_tasks[self.phase]))
        return self.scores.get(self.num_timesteps, 0.0)


def _run(callback: KeepBest, model: WeightModel, steps: range) -> list[float]:
    """Step the callback; return the model's weight right after each phase end."""
    ends = []
    for step in steps:
        model.advance(step)
        callback.on_step()
        if step in BOUNDARIES:
            ends.append(float(model.policy.weight.detach()))
    return ends


def _callback(scores: dict[int, float], model: WeightModel, **kwargs) -> ScriptedKeepBest:
    callback = ScriptedKeepBest(scores, **kwargs)
    callback.init_callback(model)  # type: ignore[arg-type]
    return callback


def test_a_phase_ends_on_its_best_scoring_weights() -> None:
    model = WeightModel()
    # phase 0 scores at 50, 70, 90 and the final weights at 100; phase 1 at 150, 170, 190 and 200
    scores = {50: 0.2, 70: 0.9, 90: 0.5, 100: 0.4, 150: 0.3, 170: 0.6, 190: 0.6, 200: 0.8}
    callback = _callback(scores, model)
    ends = _run(callback, model, range(1, 201))
    assert [s for s, _ in callback.scored] == [50, 70, 90, 100, 150, 170, 190, 200]
    assert [task for _, task in callback.scored] == [0] * 4 + [1] * 4  # only the current task
    assert ends == [70.0, 200.0]  # phase 0 back to step 70 (0.9 > 0.4); phase 1 keeps its final weights
    assert callback.restored == [True, False]


def test_a_tie_goes_to_the_later_weights() -> None:
    model = WeightModel()
    callback = _callback({50: 1.0, 70: 1.0, 90: 1.0, 100: 0.5}, model)
    assert _run(callback, model, range(1, 101)) == [90.0]
    model = WeightModel()
    callback = _callback({50: 1.0, 100: 1.0}, model)
    assert _run(callback, model, range(1, 101)) == [100.0]  # the final weights tie the best: kept


def test_scoring_starts_at_the_given_fraction_of_each_phase() -> None:
    model = WeightModel()
    callback = _callback({}, model, freq=30, start=0.0)
    _run(callback, model, range(1, 201))
    assert [s for s, _ in callback.scored] == [1, 31, 61, 91, 100, 101, 131, 161, 191, 200]


def test_resuming_from_the_state_dict_ends_the_phase_the_same_way() -> None:
    scores = {50: 0.2, 70: 0.9, 90: 0.5, 100: 0.4}
    whole = _callback(scores, WeightModel())
    expected = _run(whole, whole.model, range(1, 101))  # type: ignore[arg-type]
    first_model = WeightModel()
    first = _callback(scores, first_model)
    _run(first, first_model, range(1, 81))
    state = first.state_dict()
    second_model = WeightModel()
    second = _callback(scores, second_model)
    second.load_state_dict(state)
    assert _run(second, second_model, range(81, 101)) == expected == [70.0]


def test_a_run_grown_after_its_last_phase_scores_the_added_phases() -> None:
    model = WeightModel()
    finished = _callback({}, model)
    _run(finished, model, range(1, 201))  # both phases closed: nothing left to score
    grown = ScriptedKeepBest({250: 0.9, 300: 0.1}, [100, 200, 300], (0, 1, 2), freq=50)  # a third task added
    grown.init_callback(model)  # type: ignore[arg-type]
    grown.load_state_dict(finished.state_dict())
    for step in range(201, 301):
        model.advance(step)
        grown.on_step()
    assert [s for s, _ in grown.scored] == [250, 300]
    assert grown.restored == [False, False, True] and float(model.policy.weight.detach()) == 250.0


def test_checkpoint_state_loads_with_weights_only(tmp_path: Path) -> None:
    model = WeightModel()
    callback = _callback({50: 0.7}, model)
    _run(callback, model, range(1, 61))
    torch.save(callback.state_dict(), tmp_path / "keep_best.pt")
    other = _callback({}, WeightModel())
    other.load_state_dict(torch.load(tmp_path / "keep_best.pt", weights_only=True))
    assert other.best_step == 50 and other.best_score == pytest.approx(0.7)
    assert other.best is not None and float(other.best["weight"]) == 50.0


def test_bad_arguments_and_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="sequential schedule"):
        KeepBest([], lambda t, r: r, [100], [None], freq=10)
    with pytest.raises(ValueError, match="freq >= 1"):
        KeepBest([], lambda t, r: r, [100], [0], freq=0)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"freq": -1}, "keep_best.freq must be an integer >= 0"),
        ({"episodes": 0}, "keep_best.episodes must be an integer >= 1"),
        ({"start": 1.0}, "keep_best.start is a fraction of the phase"),
        ({"start": -0.1}, "keep_best.start must be a number >= 0"),
        ({"every": 5}, "Unknown keep_best key 'every'"),
    ],
)
def test_config_errors_name_the_fix(override: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict({"algo": "dqn", "keep_best": override})


def test_a_run_with_keep_best_closes_every_phase_and_checkpoints_its_state(tmp_path: Path) -> None:
    cfg = TrainConfig.from_dict(
        {
            "agent": "dqn-keep-best",
            "algo": "dqn",
            "suite": "cartpole-permuted",
            "num_tasks": 2,
            "steps_per_task": 300,
            "policy_kwargs": {"net_arch": [16]},
            "hyperparams": {"learning_starts": 50, "batch_size": 16, "train_freq": 4},
            "eval": {"episodes": 1},
            "keep_best": {"freq": 100, "episodes": 1, "start": 0.0},
            "run_dir": str(tmp_path),
        }
    )
    result = train(cfg, progress_bar=False, verbose=0)
    checkpoints = sorted(p for p in (result.run_path / "checkpoints").iterdir() if p.is_dir())
    assert checkpoints and all((c / "keep_best.pt").is_file() for c in checkpoints)
    state = torch.load(checkpoints[-1] / "keep_best.pt", weights_only=True)
    assert state["phase"] == 2 and len(state["restored"]) == 2  # both phases closed, the copy dropped
    assert state["best"] is None
