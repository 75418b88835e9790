"""The single-task reference run of forward transfer: its per-task AUCs, checked against the run's suite.

Example::

    from psp_rl.training.reference import load_reference_auc

    auc = load_reference_auc("runs/cartpole-permuted__ppo-psp__s0__20250101-120000", 5, suite)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["load_reference_auc"]

#: the keys of a suite spec that define its tasks (its schedule and description may differ from a reference's)
_TASK_KEYS = ("env_id", "env_kwargs", "variant_seed", "variants", "tasks", "task_env", "coordinate", "metric")


def _check_reference_suite(path: Path, data: dict[str, Any], suite: Any) -> None:
    """Refuse a reference run of another suite: its AUCs measure other tasks."""
    from psp_rl.resources import load_yaml

    config = path.parent / "config.yaml"
    spec = load_yaml(config).get("suite_spec") if config.is_file() else None
    name = data.get("suite") or "?"
    if isinstance(spec, dict):
        differ = [key for key in _TASK_KEYS if spec.get(key) != suite.spec.get(key)]
    else:  # a metrics.json without its run folder: the suite's name is all there is
        differ = ["name"] if Path(str(name)).stem != suite.name else []
    if differ:
        raise ValueError(
            f"reference {str(path.parent)!r} was trained on suite {name!r}, this run trains on {suite.name!r} "
            f"(different {', '.join(differ)}): its task AUCs measure other tasks. "
            "Give a single-task reference run of the same suite (e.g. trained with "
            "--set policy_kwargs.mode=separate)."
        )


def load_reference_auc(
    reference: str | Path | list[float] | tuple[float, ...], num_tasks: int, suite: Any = None
) -> list[float]:
    """Per-task AUCs of a single-task reference run, for forward transfer.

    :param reference: a run folder, its ``metrics.json``, or a list of ``num_tasks`` AUCs.
    :param num_tasks: number of tasks of the current suite.
    :param suite: the current suite: a reference run must have been trained on the same tasks (the same
        ``env_id``, ``env_kwargs``, variants... as its ``config.yaml`` records them).
    :return: one AUC per task.
    :raises ValueError: when the reference cannot be read or does not match the suite.
    """
    if isinstance(reference, (list, tuple)):
        values = [float(v) for v in reference]
    else:
        path = Path(reference)
        if path.is_dir():
            path = path / "metrics.json"
        if not path.is_file():
            raise ValueError(
                f"reference {str(reference)!r}: no metrics.json there; give the folder of a finished "
                "reference run (e.g. trained with --set policy_kwargs.mode=separate) or a list of AUCs."
            )
        try:
            data = json.loads(path.read_text())
        except ValueError as error:
            raise ValueError(
                f"reference {str(path)!r} is not valid JSON ({error}): give a finished run."
            ) from None
        task_auc = data.get("task_auc") if isinstance(data, dict) else None
        if not task_auc or any(v is None for v in task_auc):
            raise ValueError(f"reference {str(path)!r} has no complete task_auc: it must be a finished run.")
        if suite is not None:
            _check_reference_suite(path, data, suite)
        values = [float(v) for v in task_auc]
    if len(values) != num_tasks:
        raise ValueError(
            f"the reference has {len(values)} task AUCs but the suite has {num_tasks} tasks: "
            "use a reference run of the same suite."
        )
    return values
