"""The run folder: its name, its fixed files, the versions it was made with, and :class:`RunResult`.

Run folder ``runs/<suite>__<agent>__s<seed>__<time>/``::

    config.yaml       the fully resolved config (plus the suite spec and schedule, for the record)
    command.txt       the command line(s) that produced it (one line per start / resume)
    versions.json     python / torch / SB3 / gymnasium / numpy / psp_rl versions, git commit
    tb_1/             TensorBoard events (continued, not restarted, on --resume)
    checkpoints/      step_<n>/ folders written atomically, latest.json
    model.zip         the final agent
    metrics.json      performance matrix, average performance, forgetting, forward transfer, history
    perf_matrix.png   the performance matrix as a heat map
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import platform
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from psp_rl.training.config import TrainConfig

__all__ = [
    "RUN_FILES",
    "TB_LOG_NAME",
    "RunResult",
    "command_line",
    "config_record",
    "interaction_line",
    "interaction_record",
    "make_run_path",
    "removed_on_failed_start",
    "stem",
    "versions",
]

#: TensorBoard sub-folder prefix inside the run folder (SB3 appends ``_1``).
TB_LOG_NAME = "tb"
#: files every finished run folder holds (besides tb_1/ and checkpoints/)
RUN_FILES: tuple[str, ...] = (
    "config.yaml",
    "command.txt",
    "versions.json",
    "model.zip",
    "metrics.json",
    "perf_matrix.png",
)


@dataclasses.dataclass
class RunResult:
    """What :func:`train` returns.

    :param run_path: the run folder.
    :param config: the resolved config.
    :param metrics: the content of ``metrics.json``.
    :param model: the trained SB3 model (``None`` when nothing was trained: a finished run given to
        ``train(resume=...)``).
    """

    run_path: Path
    config: TrainConfig
    metrics: dict[str, Any]
    model: Any

    def table(self) -> str:
        """:return: the per-task table of the final evaluation."""
        from psp_rl.evaluation.tasks import format_task_table

        m = self.metrics
        returns = m.get("final_returns") or []
        diag = _after_own_phase(m)
        return format_task_table(
            returns,
            m.get("final_normalized") or [],
            after_own_phase=diag,
            forgetting=m.get("forgetting_per_task"),
        )

    def summary(self) -> str:
        """:return: the table, the continual metrics and the TensorBoard command, as printed at the end."""
        m = self.metrics

        def show(value: Any) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        how = "deterministic" if m.get("eval_deterministic", True) else "stochastic"
        scores = "; scores: success rates" if m.get("metric") == "success" else ""
        return "\n".join(
            [
                f"Per-task evaluation after {m.get('num_timesteps')} steps "
                f"({m.get('eval_episodes')} {how} episodes per task{scores}):",
                self.table(),
                f"average performance {show(m.get('avg_performance'))} | forgetting {show(m.get('forgetting'))}"
                f" | forward transfer {show(m.get('forward_transfer'))}",
                *([interaction_line(m["interaction"])] if m.get("interaction") else []),
                *(f"warning: {warning}" for warning in m.get("warnings") or []),
                f"Run folder: {self.run_path}",
                f"TensorBoard: tensorboard --logdir {self.run_path}",
            ]
        )


def interaction_record(training_steps: int, mechanisms: Mapping[str, int]) -> dict[str, int]:
    """Every env step the agent took: its training steps, those of each mechanism that took its own (e.g.
    keep_best's validation episodes) and the total, as ``metrics.json["interaction"]`` holds them.

    :param training_steps: the training env steps (``model.num_timesteps``).
    :param mechanisms: env steps by mechanism.
    """
    return {
        "training": int(training_steps),
        **dict(mechanisms),
        "total": int(training_steps + sum(mechanisms.values())),
    }


def interaction_line(record: Mapping[str, int]) -> str:
    """:param record: from :func:`interaction_record`. :return: ``env steps: 1000 training + 250 keep_best = 1250``."""
    parts = [f"{steps} {name}" for name, steps in record.items() if name != "total"]
    return f"env steps: {' + '.join(parts)} = {record['total']}"


def _after_own_phase(metrics: Mapping[str, Any]) -> list[float | None] | None:
    rows = metrics.get("perf_matrix") or []
    tasks = metrics.get("phase_tasks") or []
    k = metrics.get("num_tasks") or 0
    if not rows:
        return None
    out: list[float | None] = [None] * k
    for phase, row in enumerate(rows):
        task = tasks[phase] if phase < len(tasks) else None
        if task is not None:
            out[task] = row[task]
    return out


def stem(name: str) -> str:
    path = Path(name)
    return path.stem if path.suffix in (".yaml", ".yml") else path.name


def make_run_path(cfg: TrainConfig, run_dir: str | Path | None = None) -> Path:
    """Create a fresh ``<run_dir>/<suite>__<agent>__s<seed>__<time>/`` folder.

    :param cfg: the config (suite, agent, seed, run_dir).
    :param run_dir: parent folder (default ``cfg.run_dir``).
    :return: the new, empty folder.
    """
    parent = Path(run_dir if run_dir is not None else cfg.run_dir)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stem(cfg.suite)}__{stem(cfg.agent)}__s{cfg.seed}__{stamp}"
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        path = parent / (base if i == 0 else f"{base}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a fresh run folder under {parent}")


@contextlib.contextmanager
def removed_on_failed_start(run_path: Path | None, started: Callable[[], bool]) -> Iterator[None]:
    """Remove a new run's folder again when the run fails (or is interrupted) before its first step: a
    failed start leaves nothing behind. A folder of a run that took steps is kept, to be resumed or read.

    :param run_path: the new run's folder (``None``: a resumed run, whose folder is never removed).
    :param started: whether the run has taken its first step.
    """
    try:
        yield
    except BaseException:
        if run_path is not None and not started():
            shutil.rmtree(run_path, ignore_errors=True)
        raise


def config_record(
    cfg: TrainConfig, num_tasks: int, suite_spec: Mapping[str, Any], schedule: Any
) -> dict[str, Any]:
    """What ``config.yaml`` holds: the resolved config, the suite spec and the schedule, for the record.

    :param cfg: the config.
    :param num_tasks: the suite's number of tasks.
    :param suite_spec: the resolved suite spec.
    :param schedule: the run's task schedule.
    """
    boundaries = [int(b) for b in schedule.phase_boundaries()]
    record = cfg.to_dict()
    record.update(
        num_tasks=int(num_tasks),
        steps_per_task=boundaries[0] if boundaries else cfg.steps_per_task,
        suite_spec=suite_spec,
        total_timesteps=int(schedule.total_timesteps),
        phase_boundaries=boundaries,
        phase_tasks=[schedule.phase_task(i) for i in range(len(boundaries))],
    )
    return record


def versions(device: str) -> dict[str, Any]:
    import gymnasium
    import numpy
    import stable_baselines3
    import torch

    import psp_rl

    commit = None
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        commit = out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "psp_rl": psp_rl.__version__,
        "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.version.cuda,
        "device": device,
        "git_commit": commit,
    }


def command_line(command: Sequence[str] | str | None) -> str:
    if command is None:
        command = [Path(sys.argv[0]).name, *sys.argv[1:]]
    if isinstance(command, str):
        return command
    return " ".join(shlex.quote(str(part)) for part in command)
