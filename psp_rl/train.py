"""Train one agent on one task suite, continually; write a self-contained run folder.

The flow reads top to bottom: config -> seed -> suite/envs -> model -> callbacks -> learn -> save.

Run folder ``runs/<suite>__<agent>__s<seed>__<time>/``::

    config.yaml       the fully resolved config (plus the suite spec and schedule, for the record)
    command.txt       the command line(s) that produced it (one line per start / resume)
    versions.json     python / torch / SB3 / gymnasium / numpy / psp_rl versions, git commit
    tb_1/             TensorBoard events (continued, not restarted, on --resume)
    checkpoints/      step_<n>/ folders written atomically, latest.json
    model.zip         the final agent
    metrics.json      performance matrix, average performance, forgetting, forward transfer, history
    perf_matrix.png   the performance matrix as a heat map

Example::

    from psp_rl.config import resolve_config
    from psp_rl.train import train

    result = train(resolve_config("ppo-psp", "cartpole-permuted", steps_per_task=2048))
    print(result.table())
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from psp_rl.config import (
    TrainConfig,
    algo_class,
    build_hyperparams,
    build_policy_kwargs,
    policy_class,
)

__all__ = ["RunResult", "TB_LOG_NAME", "make_run_path", "train"]

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
    :param model: the trained SB3 model.
    """

    run_path: Path
    config: TrainConfig
    metrics: dict[str, Any]
    model: Any

    def table(self) -> str:
        """:return: the per-task table of the final evaluation."""
        from psp_rl.evaluation import format_task_table

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

        return "\n".join(
            [
                f"Per-task evaluation after {m.get('num_timesteps')} steps "
                f"({m.get('eval_episodes')} episodes per task, deterministic):",
                self.table(),
                f"average performance {show(m.get('avg_performance'))} | forgetting {show(m.get('forgetting'))}"
                f" | forward transfer {show(m.get('forward_transfer'))}",
                f"Run folder: {self.run_path}",
                f"TensorBoard: tensorboard --logdir {self.run_path}",
            ]
        )


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


def _stem(name: str) -> str:
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
    base = f"{_stem(cfg.suite)}__{_stem(cfg.agent)}__s{cfg.seed}__{stamp}"
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        path = parent / (base if i == 0 else f"{base}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a fresh run folder under {parent}")


def _versions(device: str) -> dict[str, Any]:
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


def _resolve_device(device: str) -> str:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was given but no CUDA device is available: use --device auto or cpu.")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _command_line(command: Sequence[str] | str | None) -> str:
    if command is None:
        command = [Path(sys.argv[0]).name, *sys.argv[1:]]
    if isinstance(command, str):
        return command
    return " ".join(shlex.quote(str(part)) for part in command)


def train(
    config: TrainConfig | Mapping[str, Any] | None = None,
    *,
    resume: str | Path | None = None,
    progress_bar: bool = True,
    callbacks: Sequence[Any] = (),
    command: Sequence[str] | str | None = None,
    num_threads: int | None = 1,
    verbose: int = 1,
) -> RunResult:
    """Train an agent on a task suite (or continue an interrupted run) and write its run folder.

    :param config: the config (a :class:`TrainConfig` or a mapping of its fields); ignored on resume.
    :param resume: a run folder to continue from its latest complete checkpoint: same step counter,
        same TensorBoard curves, same position in the task schedule.
    :param progress_bar: show a progress bar with the current task.
    :param callbacks: extra SB3 callbacks, run after the built-in ones.
    :param command: the command line to record in ``command.txt`` (default: ``sys.argv``).
    :param num_threads: torch CPU threads (``torch.set_num_threads``). 1 is the fastest for these small
        networks and avoids a drastic slow-down when the cores are shared; ``None`` keeps torch's setting.
    :param verbose: 1 prints the final table; 0 prints nothing.
    :return: the run folder, the config, the metrics and the model.
    """
    import torch
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import VecNormalize

    from psp_rl.callbacks import (
        AtomicCheckpointCallback,
        ContinualEvalCallback,
        TaskProgressBarCallback,
        find_latest_checkpoint,
    )
    from psp_rl.evaluation import eval_envs_per_task, load_reference_auc
    from psp_rl.resources import load_yaml
    from psp_rl.schedules import TaskScheduleCallback
    from psp_rl.suites import load_suite

    # ---- 1. config (from the caller, or from the run folder when resuming)
    checkpoint: Path | None = None
    state: dict[str, Any] = {}
    if resume is not None:
        run_path = Path(resume)
        if not (run_path / "config.yaml").is_file():
            raise ValueError(
                f"--resume {str(run_path)!r}: not a run folder (no config.yaml); give a folder under runs/."
            )
        checkpoint = find_latest_checkpoint(run_path)
        if checkpoint is None:
            raise ValueError(
                f"--resume {str(run_path)!r}: no complete checkpoint in {run_path / 'checkpoints'}; "
                "the run stopped before its first checkpoint, so start it again without --resume."
            )
        cfg = TrainConfig.from_dict(load_yaml(run_path / "config.yaml"))
        state = json.loads((checkpoint / "state.json").read_text())
    elif config is None:
        raise ValueError("train() needs a config (or resume=RUN_DIR).")
    else:
        cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    device = _resolve_device(cfg.device)
    if num_threads is not None:
        if num_threads < 1:
            raise ValueError(f"--threads must be >= 1, got {num_threads}.")
        torch.set_num_threads(num_threads)

    # ---- 2. seed
    set_random_seed(cfg.seed, using_cuda=device == "cuda")

    # ---- 3. suite, schedule, envs
    suite = load_suite(
        cfg.suite,
        num_tasks=cfg.num_tasks,
        steps_per_task=cfg.steps_per_task,
        overrides=cfg.suite_overrides or None,
    )
    schedule = suite.make_schedule()
    total_timesteps = int(schedule.total_timesteps)
    boundaries = [int(b) for b in schedule.phase_boundaries()]
    phase_tasks = [schedule.phase_task(i) for i in range(len(boundaries))]
    reference_auc = load_reference_auc(cfg.reference, suite.num_tasks) if cfg.reference is not None else None

    if resume is None:
        run_path = make_run_path(cfg)
        record = cfg.to_dict()
        record.update(
            num_tasks=int(suite.num_tasks),
            steps_per_task=int(boundaries[0]) if boundaries else cfg.steps_per_task,
            suite_spec=suite.spec,
            total_timesteps=total_timesteps,
            phase_boundaries=boundaries,
            phase_tasks=phase_tasks,
        )
        _write_text_atomic(run_path / "config.yaml", yaml.safe_dump(record, sort_keys=False))
        (run_path / "versions.json").write_text(json.dumps(_versions(device), indent=2))
    with (run_path / "command.txt").open("a", encoding="utf-8") as handle:
        handle.write(_command_line(command) + "\n")

    start_step = int(state.get("num_timesteps", 0))
    cb_state = state.get("callbacks", {})
    initial_tasks = None
    if resume is not None:
        counts = cb_state.get("schedule", {}).get("episode_counts") or None
        initial_tasks = schedule.initial_tasks(cfg.n_envs, start_step, counts)
    env = suite.make_vec_env(n_envs=cfg.n_envs, seed=cfg.seed + start_step, initial_tasks=initial_tasks)
    eval_envs = eval_envs_per_task(suite, cfg.eval["episodes"], cfg.eval["n_envs"], seed=cfg.seed + 10_000)
    if cfg.normalize is not False:
        norm_kwargs = cfg.normalize if isinstance(cfg.normalize, dict) else {}
        stats = checkpoint / "vecnormalize.pkl" if checkpoint is not None else None
        if stats is not None and stats.is_file():
            env = VecNormalize.load(str(stats), env)
        else:
            env = VecNormalize(env, norm_obs_keys=["obs"], **norm_kwargs)
        eval_envs = [
            VecNormalize(e, norm_obs_keys=["obs"], training=False, norm_reward=False) for e in eval_envs
        ]

    # ---- 4. model
    algo = algo_class(cfg.algo)
    if checkpoint is not None:
        model = algo.load(checkpoint / "model.zip", env=env, device=device, tensorboard_log=str(run_path))
        if (checkpoint / "replay_buffer.pkl").is_file():
            model.load_replay_buffer(checkpoint / "replay_buffer.pkl")
    else:
        model = algo(
            policy_class(cfg.algo, cfg.policy),
            env,
            policy_kwargs=build_policy_kwargs(cfg.policy_kwargs),
            tensorboard_log=str(run_path),
            seed=cfg.seed,
            device=device,
            verbose=0,
            **build_hyperparams(cfg.hyperparams, env.action_space),
        )

    # ---- 5. callbacks: schedule -> evaluation -> checkpoints -> progress bar -> extras
    schedule_cb = TaskScheduleCallback(schedule)
    eval_cb = ContinualEvalCallback(
        eval_envs,
        suite.normalize,
        boundaries,
        phase_tasks,
        n_eval_episodes=cfg.eval["episodes"],
        eval_freq=cfg.eval["eval_freq"],
        deterministic=cfg.eval["deterministic"],
        matrix=cfg.eval["matrix"],
        reference_auc=reference_auc,
        hparams={k: v for k, v in cfg.to_dict().items() if k not in ("run_dir", "description")},
    )
    wall_before = float(state.get("extra", {}).get("wall_time_s", 0.0))
    started = time.perf_counter()
    checkpoint_cb = AtomicCheckpointCallback(
        run_path,
        boundaries,
        save_freq=cfg.checkpoint["freq"],
        keep=cfg.checkpoint["keep"],
        save_replay_buffer=cfg.checkpoint["save_replay_buffer"],
        stateful={"schedule": schedule_cb, "eval": eval_cb},
        extra_state=lambda: {"wall_time_s": wall_before + time.perf_counter() - started},
    )
    ewc_cb = None
    if cfg.ewc["lambda"] > 0:
        from psp_rl.ewc import EWCCallback

        ewc_cb = EWCCallback(
            cfg.ewc["lambda"],
            fisher_samples=cfg.ewc["fisher_samples"],
            schedule=schedule,
            seed=cfg.seed,
            critic=cfg.ewc["critic"],
        )
        checkpoint_cb.tensor_stateful["ewc"] = ewc_cb
        if checkpoint is not None and (checkpoint / "ewc.pt").is_file():
            ewc_cb.load_state_dict(torch.load(checkpoint / "ewc.pt", weights_only=True))
    if "schedule" in cb_state:
        schedule_cb.load_state_dict(cb_state["schedule"])
    if "eval" in cb_state:
        eval_cb.load_state_dict(cb_state["eval"])
    # EWC consolidates at a phase end before the checkpoint of that step is written.
    chain: list[Any] = [schedule_cb, eval_cb, *([ewc_cb] if ewc_cb is not None else []), checkpoint_cb]
    if progress_bar:
        chain.append(
            TaskProgressBarCallback(schedule_cb, num_phases=len(boundaries), total_timesteps=total_timesteps)
        )
    chain.extend(callbacks)

    # ---- 6. learn (SB3 adds num_timesteps to the target when reset_num_timesteps=False)
    remaining = total_timesteps - int(model.num_timesteps)
    if remaining > 0:
        try:
            model.learn(
                remaining,
                callback=CallbackList(chain),
                tb_log_name=TB_LOG_NAME,
                reset_num_timesteps=resume is None,
            )
        except KeyboardInterrupt:
            if model.num_timesteps > start_step:
                checkpoint_cb.save_checkpoint()
            if verbose:
                print(
                    f"\nInterrupted at step {model.num_timesteps}. Continue with:\n"
                    f"  psp-rl train --resume {run_path}",
                    file=sys.stderr,
                )
            raise

    # ---- 7. save: model, metrics, matrix plot
    model.save(run_path / "model.zip")
    vec_norm = model.get_vec_normalize_env()
    if vec_norm is not None:
        vec_norm.save(str(run_path / "vecnormalize.pkl"))
    metrics = {
        "suite": cfg.suite,
        "agent": cfg.agent,
        "algo": cfg.algo,
        "seed": cfg.seed,
        "total_timesteps": total_timesteps,
        "num_timesteps": int(model.num_timesteps),
        "wall_time_s": wall_before + time.perf_counter() - started,
        **eval_cb.metrics(),
    }
    _write_text_atomic(run_path / "metrics.json", json.dumps(metrics, indent=2))
    eval_cb.matrix.plot(
        run_path / "perf_matrix.png", title=f"{_stem(cfg.suite)} · {_stem(cfg.agent)} · seed {cfg.seed}"
    )
    env.close()
    for e in eval_envs:
        e.close()
    result = RunResult(run_path=run_path, config=cfg, metrics=metrics, model=model)
    if verbose:
        print(result.summary())
    return result
