"""Train one agent on one task suite, continually; write a self-contained run folder.

The flow reads top to bottom: config -> seed -> suite/envs -> model -> callbacks -> learn -> save.

The run folder's layout is described in :mod:`psp_rl.training.run_folder`.

Example::

    from psp_rl.training import resolve_config, train

    result = train(resolve_config("ppo-psp", "cartpole-permuted", steps_per_task=2048))
    print(result.table())
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from psp_rl import seeds
from psp_rl.continual import PhaseEvents, Setup, build_mechanisms
from psp_rl.training.build import build_model, resolve_device
from psp_rl.training.config import TrainConfig
from psp_rl.training.config.preflight import preflight
from psp_rl.training.resume import finished_message, finished_metrics, open_checkpoint, open_run
from psp_rl.training.run_folder import (
    TB_LOG_NAME,
    RunResult,
    command_line,
    config_record,
    interaction_record,
    make_run_path,
    removed_on_failed_start,
    stem,
    versions,
)
from psp_rl.utils import write_atomic, write_json_atomic

__all__ = ["train"]


def train(
    config: TrainConfig | Mapping[str, Any] | None = None,
    *,
    resume: str | Path | None = None,
    num_tasks: int | None = None,
    steps_per_task: int | None = None,
    progress_bar: bool = True,
    callbacks: Sequence[Any] = (),
    command: Sequence[str] | str | None = None,
    num_threads: int | None = 1,
    verbose: int = 1,
    skip_damaged: bool = False,
) -> RunResult:
    """Train an agent on a task suite (or continue an interrupted run) and write its run folder.

    :param config: the config (a :class:`TrainConfig` or a mapping of its fields); ignored on resume.
    :param resume: a run folder to continue from its latest complete checkpoint: same step counter,
        same TensorBoard curves, same position in the task schedule.
    :param num_tasks: with ``resume``: continue the run (finished or not) with more tasks, the variants
        ``K .. num_tasks - 1`` one after another; the agent grows with :func:`psp_rl.expand_tasks`, and
        the performance matrix, metrics, curves and checkpoints continue in the same run folder.
    :param steps_per_task: with ``num_tasks``: env steps of each added task (default: those of the
        run's last phase).
    :param progress_bar: show a progress bar with the current task.
    :param callbacks: extra SB3 callbacks, run after the built-in ones.
    :param command: the command line to record in ``command.txt`` (default: ``sys.argv``).
    :param num_threads: torch CPU threads (``torch.set_num_threads``). 1 is the fastest for these small
        networks and avoids a drastic slow-down when the cores are shared; ``None`` keeps torch's setting.
    :param verbose: 1 prints the warnings and the final table; 0 prints nothing.
    :param skip_damaged: with ``resume``: continue from the newest intact checkpoint when newer ones are
        damaged (by default that is an error naming the damaged file and the intact checkpoint).
    :return: the run folder, the config, the metrics and the model. ``resume`` of a finished run (without
        ``num_tasks``) trains and writes nothing: it returns the saved metrics, with ``model`` ``None``.
    :raises ValueError: on a bad input (config, suite, run folder, damaged checkpoint), naming it and the fix,
        before anything is created; a new run that fails before its first step removes its folder again.
    """
    import torch
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import VecNormalize

    from psp_rl.envs.drift_clocks import get_drift_steps, set_drift_steps
    from psp_rl.evaluation.callback import evaluation_callback
    from psp_rl.training.checkpoint import AtomicCheckpointCallback
    from psp_rl.training.normalize import eval_vec_normalize, make_vec_normalize
    from psp_rl.training.progress import TaskProgressBarCallback
    from psp_rl.training.reference import load_reference_auc

    # ---- 1. config (from the caller, or from the run folder when resuming)
    checkpoint: Path | None = None
    state: dict[str, Any] = {}
    if resume is not None:
        run_path, cfg = open_run(resume, num_tasks, steps_per_task)
    elif config is None:
        raise ValueError("train() needs a config (or resume=RUN_DIR).")
    elif num_tasks is not None or steps_per_task is not None:
        raise ValueError(
            "num_tasks / steps_per_task add tasks to a run given with resume=RUN_DIR; for a new run set them "
            "in the config (TrainConfig.num_tasks, .steps_per_task)."
        )
    else:
        cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    device = resolve_device(cfg.device)
    if num_threads is not None:
        if num_threads < 1:
            raise ValueError(f"--threads must be >= 1, got {num_threads}.")
        torch.set_num_threads(num_threads)

    # ---- 2. suite and schedule, and every check that needs them: nothing is created before they pass
    suite = cfg.load_suite()
    schedule = cfg.make_schedule(suite)  # the suite's, and the phases of tasks added later
    total_timesteps = int(schedule.total_timesteps)
    boundaries = [int(b) for b in schedule.phase_boundaries()]
    if resume is not None and num_tasks is None:
        finished = finished_metrics(run_path, total_timesteps)
        if finished is not None:  # its outputs stay as they are
            if verbose:
                print(finished_message(run_path, finished, suite.num_tasks), file=sys.stderr)
            return RunResult(run_path=run_path, config=cfg, metrics=finished, model=None)
    if resume is not None:
        checkpoint, state = open_checkpoint(run_path, cfg, skip_damaged)
    reference_auc = (
        load_reference_auc(cfg.reference, suite.num_tasks, suite) if cfg.reference is not None else None
    )
    warnings = preflight(cfg, suite, boundaries, new_run=resume is None)
    for warning in warnings if verbose else ():
        print(f"warning: {warning}", file=sys.stderr)

    # ---- 3. seed
    set_random_seed(cfg.seed, using_cuda=device == "cuda")

    # ---- 4. envs (seeds of each purpose: psp_rl.seeds)
    start_step = int(state.get("num_timesteps", 0))
    cb_state = state.get("callbacks", {})
    initial_tasks = None
    if resume is not None:
        counts = cb_state.get("schedule", {}).get("episode_counts") or None
        initial_tasks = schedule.initial_tasks(cfg.n_envs, start_step, counts)
    env = suite.make_vec_env(
        n_envs=cfg.n_envs, seed=seeds.training(cfg.seed, start_step), initial_tasks=initial_tasks
    )
    set_drift_steps(env, state.get("extra", {}).get("drift_steps", []))  # drifting suites: same clocks
    if cfg.normalize is not False:  # per-task statistics unless normalize.per_task is false
        if checkpoint is not None:
            env = VecNormalize.load(str(checkpoint / "vecnormalize.pkl"), env)
        else:
            env = make_vec_normalize(env, cfg.normalize)
    train_env = env

    def scoring_env(eval_env: Any) -> Any:
        """An evaluation or validation env, normalised with the training env's statistics."""
        if not isinstance(train_env, VecNormalize):
            return eval_env
        return eval_vec_normalize(eval_env, train_env)

    # ---- 5. model
    model = build_model(cfg, env, device, checkpoint, num_tasks=suite.num_tasks)

    # ---- 6. run folder: a new run's is created now, and removed again if the run fails before its first step
    if resume is None:
        run_path = make_run_path(cfg)
    with removed_on_failed_start(run_path if resume is None else None, lambda: int(model.num_timesteps) > 0):
        model.tensorboard_log = str(run_path)
        if resume is None:
            write_json_atomic(run_path / "versions.json", versions(device))
        if resume is None or num_tasks is not None:  # a new run, or one that grows: (re)write its config
            record = config_record(cfg, suite.num_tasks, suite.spec, schedule)
            write_atomic(run_path / "config.yaml", yaml.safe_dump(record, sort_keys=False))
        with (run_path / "command.txt").open("a", encoding="utf-8") as handle:
            handle.write(command_line(command) + "\n")

        # ---- 7. callbacks: one dispatcher drives the tasks and calls the continual mechanisms (from the
        # registry), the evaluation and the checkpoints in psp_rl.continual.ORDER; then the progress bar
        setup = Setup(
            schedule=schedule,
            algo=cfg.algo,
            seed=cfg.seed,
            hyperparams=cfg.hyperparams,
            suite=suite,
            validation_seed=seeds.validation(cfg.seed),
            env_wrapper=scoring_env,
        )
        members: dict[str, Any] = dict(build_mechanisms(cfg.continual, setup))
        members["evaluation"] = eval_cb = evaluation_callback(
            suite,
            schedule,
            cfg.eval,
            seed=cfg.seed,
            reference_auc=reference_auc,
            hparams={k: v for k, v in cfg.to_dict().items() if k not in ("run_dir", "description")},
            env_wrapper=scoring_env,
        )
        wall_before = float(state.get("extra", {}).get("wall_time_s", 0.0))
        started = time.perf_counter()
        members["checkpoint"] = checkpoint_cb = AtomicCheckpointCallback(
            run_path,
            save_freq=cfg.checkpoint["freq"],
            keep=cfg.checkpoint["keep"],
            save_replay_buffer=cfg.checkpoint["save_replay_buffer"],
            extra_state=lambda: {
                "wall_time_s": wall_before + time.perf_counter() - started,
                "drift_steps": get_drift_steps(env),  # [] unless the suite drifts
            },
        )
        events = PhaseEvents(schedule, members)
        checkpoint_cb.stateful = {"schedule": events, "eval": eval_cb, **events.json_states()}
        checkpoint_cb.tensor_stateful = events.tensor_states()
        if checkpoint is not None:
            events.load_state_dict(cb_state.get("schedule", {}))
            eval_cb.load_state_dict(cb_state["eval"])
            events.load_checkpoint(checkpoint, state)
        chain: list[Any] = [events]
        if progress_bar:
            chain.append(
                TaskProgressBarCallback(events, num_phases=len(boundaries), total_timesteps=total_timesteps)
            )
        chain.extend(callbacks)

        # ---- 8. learn (SB3 adds num_timesteps to the target when reset_num_timesteps=False)
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
                if verbose and model.num_timesteps > 0:
                    print(
                        f"\nInterrupted at step {model.num_timesteps}. Continue with:\n"
                        f"  psp-rl train --resume {run_path}",
                        file=sys.stderr,
                    )
                raise

    # ---- 9. save: model, metrics, matrix plot
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
        "interaction": interaction_record(int(model.num_timesteps), events.interaction()),
        "wall_time_s": wall_before + time.perf_counter() - started,
        **eval_cb.metrics(),
        "warnings": warnings,
    }
    write_json_atomic(run_path / "metrics.json", metrics)
    eval_cb.matrix.plot(
        run_path / "perf_matrix.png", title=f"{stem(cfg.suite)} · {stem(cfg.agent)} · seed {cfg.seed}"
    )
    if remaining > 0:  # every TensorBoard event on disk when train() returns
        model.logger.close()
    env.close()
    for e in eval_cb.eval_envs:
        e.close()
    result = RunResult(run_path=run_path, config=cfg, metrics=metrics, model=model)
    if verbose:
        print(result.summary())
    return result
