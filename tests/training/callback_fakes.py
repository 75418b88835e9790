"""Stand-ins for the callback tests: a model that 'trains' by counting steps, a logger that keeps records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter, Logger

from psp_rl.training import (
    ContinualEvalCallback,
)


class MemoryWriter(KVWriter):
    """Keeps every dumped (key, value, step)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, Any, int]] = []
        self.excluded: dict[str, tuple[str, ...]] = {}

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        for key, value in key_values.items():
            self.records.append((key, value, step))
            self.excluded[key] = key_excluded.get(key) or ()

    def tags(self) -> set[str]:
        return {key for key, _, _ in self.records}

    def values(self, key: str) -> list[tuple[int, Any]]:
        return [(step, value) for k, value, step in self.records if k == key]


class FakeModel:
    """Just enough of an SB3 algorithm for callbacks: a step counter, a logger, save()."""

    def __init__(self, writer: MemoryWriter | None = None, fail_save: bool = False) -> None:
        self.num_timesteps = 0
        self.writer = writer or MemoryWriter()
        self.logger = Logger(folder=None, output_formats=[self.writer])
        self.fail_save = fail_save
        self.saved: list[int] = []

    def get_env(self) -> None:
        return None

    def get_vec_normalize_env(self) -> None:
        return None

    def save(self, path: Path) -> None:
        Path(path).write_bytes(b"partial")
        if self.fail_save:
            raise OSError("disk full")
        Path(path).write_bytes(f"model at {self.num_timesteps}".encode())
        self.saved.append(self.num_timesteps)


# Normalized return of task k at step t: task k improves while it is trained (phase k = steps
# [100k, 100k+100)), and decays by 0.1 per later phase.
BOUNDARIES = [100, 200, 300]


def true_value(task: int, step: int) -> float:
    own_end = BOUNDARIES[task]
    own_start = own_end - 100
    if step <= own_start:
        return 0.0
    if step <= own_end:
        return (step - own_start) / 100
    phases_after = sum(1 for b in BOUNDARIES if own_end < b <= step)
    return 1.0 - 0.1 * phases_after


def make_eval_callback(model: FakeModel, eval_freq: int = 50, **kwargs: Any) -> ContinualEvalCallback:
    envs = ["env0", "env1", "env2"]

    def evaluate_fn(m: FakeModel, env: str, n: int, deterministic: bool) -> float:
        return 500.0 * true_value(envs.index(env), m.num_timesteps)

    cb = ContinualEvalCallback(
        envs,  # type: ignore[arg-type]
        normalize=lambda task, ret: ret / 500.0,
        phase_boundaries=BOUNDARIES,
        phase_tasks=[0, 1, 2],
        n_eval_episodes=1,
        eval_freq=eval_freq,
        evaluate_fn=evaluate_fn,
        **kwargs,
    )
    cb.init_callback(model)  # type: ignore[arg-type]
    return cb


def run(model: FakeModel, cbs: list[Any], until: int, step: int = 10, start: bool = True) -> None:
    if start:
        for cb in cbs:
            cb.on_training_start({"total_timesteps": BOUNDARIES[-1]}, {})
    while model.num_timesteps < until:
        model.num_timesteps += step
        for cb in cbs:
            cb.on_step()


#: a tiny PPO budget for train() runs in tests (with a preset's --set list)
TINY = [
    "policy_kwargs.net_arch=[16]",
    "hyperparams.n_steps=32",
    "hyperparams.batch_size=64",
    "hyperparams.n_epochs=1",
    "eval.episodes=2",
]


class StopAt(BaseCallback):
    """Raise an exception once the step counter reaches ``step`` (a crash mid-run)."""

    def __init__(self, step: int, exc: type[BaseException] = RuntimeError) -> None:
        super().__init__()
        self.step = step
        self.exc = exc

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.step:
            raise self.exc(f"stopped at {self.num_timesteps}")
        return True
