"""Recording a saved run's episodes as videos (``psp-rl eval RUN --video DIR``): one episode per task.

Each task's episode starts from the state of the run's own evaluations (the evaluation seed of
:mod:`psp_rl.seeds`, task ``k`` at ``seeds.of_task``), with the task's env of the run's suite rendered as
``rgb_array`` frames, the observations normalised with the run's ``VecNormalize`` statistics when it has
them, and written by Gymnasium's ``RecordVideo`` (which needs ``moviepy``: ``pip install "psp-rl[video]"``).

Example::

    from psp_rl.training.video import record_run

    for clip in record_run("runs/cartpole-permuted__ppo-psp__s0__20250101-120000", "videos"):
        print(clip["task"], clip["path"], clip["return"])
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from psp_rl import seeds
from psp_rl.utils import require_extra

__all__ = ["check_video_folder", "record_run"]

#: an episode longer than this is cut there (its frames are held in memory until it is written)
MAX_STEPS = 10_000


def check_video_folder(folder: str | Path, option: str = "--video") -> Path:
    """Refuse a video folder that cannot be written, and a missing ``moviepy``, before any work.

    :param folder: the folder the videos go to (created when missing).
    :param option: the option that named it, for the message.
    :return: the folder as a path.
    :raises ValueError: when it is a file or cannot be created or written; when ``moviepy`` is missing, naming
        ``pip install "psp-rl[video]"``.
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"{option} {folder}: that is a file; give a folder for the videos, such as {path}_videos."
        )
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{option} {folder}: {existing} is a file, not a folder; give another path.")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "it" if existing == path else f"its parent {existing}"
        raise ValueError(f"{option} {folder}: {where} cannot be written; give a folder you can write to.")
    require_extra("moviepy", "video", f"{option} (recording videos)")
    return path


def record_run(
    run_path: str | Path,
    folder: str | Path,
    device: str = "auto",
    deterministic: bool = True,
    max_steps: int = MAX_STEPS,
) -> list[dict[str, Any]]:
    """Record one episode per task of a saved run into ``folder``.

    The files are ``<run folder name>-task<k>-episode-0.mp4`` (a second recording of the same run replaces
    them).

    :param run_path: the run folder.
    :param folder: the folder for the videos (created when missing).
    :param device: ``auto``, ``cpu`` or ``cuda``.
    :param deterministic: deterministic actions.
    :param max_steps: an episode is cut after this many steps.
    :return: per task ``{"task", "path", "return", "length", "cut"}`` (``length``: steps; the video holds
        ``length + 1`` frames, the first state's included).
    :raises ValueError: on a bad folder, a missing extra, or an env that renders no frames.
    """
    from psp_rl.training.saved_runs import load_run_model

    folder = check_video_folder(folder)
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}.")
    cfg, model, source = load_run_model(run_path, device=device)
    suite = cfg.load_suite()
    folder.mkdir(parents=True, exist_ok=True)
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        # rgb_array frames need no screen; without one, pygame's SDL would print an error line per env
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    name = Path(run_path).resolve().name
    first = seeds.evaluation(cfg.seed)
    return [
        _record_task(
            model,
            suite,
            k,
            seeds.of_task(first, k),
            source,
            folder,
            f"{name}-task{k}",
            deterministic,
            max_steps,
        )
        for k in range(suite.num_tasks)
    ]


def _record_task(
    model: Any,
    suite: Any,
    task: int,
    seed: int,
    source: Path,
    folder: Path,
    prefix: str,
    deterministic: bool,
    max_steps: int,
) -> dict[str, Any]:
    """One episode of ``task`` from ``seed``, recorded to ``folder/<prefix>-episode-0.mp4``."""
    from gymnasium.error import DependencyNotInstalled

    venv = _recording_env(suite, task, seed, source, folder, prefix)
    episode_return, length, cut = 0.0, 0, False
    try:
        obs = venv.reset()
        while True:
            action, _ = model.predict(obs, deterministic=deterministic)
            obs, rewards, dones, infos = venv.step(action)
            length += 1
            if dones[0]:  # the auto-reset that follows ends the recording and writes the file
                episode_return = float(infos[0].get("episode", {}).get("r", episode_return + rewards[0]))
                break
            episode_return += float(rewards[0])
            if length >= max_steps:
                cut = True
                break
    except DependencyNotInstalled as error:
        raise ValueError(f"task {task}'s environment cannot render frames: {error}.") from error
    finally:
        venv.close()  # writes a recording still open (an episode cut at max_steps)
    path = folder / f"{prefix}-episode-0.mp4"
    if not path.is_file():
        raise ValueError(
            f"task {task}'s environment rendered no frames with render_mode='rgb_array', so no video was written: "
            "record a suite whose environments support rgb_array rendering."
        )
    return {"task": task, "path": str(path), "return": episode_return, "length": length, "cut": cut}


def _recording_env(suite: Any, task: int, seed: int, source: Path, folder: Path, prefix: str) -> Any:
    """A one-env VecEnv of ``task`` whose first episode is recorded, normalised like the run's training."""
    from gymnasium.wrappers import RecordVideo
    from stable_baselines3.common.vec_env import VecNormalize

    from psp_rl.envs.drift_clocks import with_drift_reset
    from psp_rl.envs.vec import task_vec_env

    def make_env(k: int) -> Any:
        with (
            warnings.catch_warnings()
        ):  # "Overwriting existing videos": a run's new videos replace its old ones
            warnings.filterwarnings("ignore", message=".*Overwriting existing videos.*")
            return RecordVideo(
                suite.make_env(k, render_mode="rgb_array"),
                video_folder=str(folder),
                episode_trigger=lambda episode: episode == 0,
                name_prefix=prefix,
                disable_logger=True,
            )

    venv = with_drift_reset(task_vec_env(make_env, [task], seed=seed))
    stats = source / "vecnormalize.pkl"
    if stats.is_file():
        venv = VecNormalize.load(str(stats), venv)
        venv.training = False
        venv.norm_reward = False
    return venv
