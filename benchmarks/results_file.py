"""The benchmark's results file: reading it, writing it atomically, recording an experiment's entry and
merging another results file in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from experiments import _selected_combos


def load_results(path: Path) -> dict[str, Any]:
    """Read the results JSON (an empty skeleton if it does not exist).

    :param path: the file.
    """
    if path.is_file():
        return json.loads(path.read_text())
    return {"schema": 1, "experiments": {}, "overhead": None}


def save_results(path: Path, results: dict[str, Any]) -> None:
    """Write the results JSON atomically.

    :param path: the file.
    :param results: the content.
    """
    from psp_rl.utils import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(results, indent=1))


def _experiment_entry(
    results: dict[str, Any], name: str, spec: dict[str, Any], command: str
) -> dict[str, Any]:
    entry = results["experiments"].setdefault(name, {"runs": [], "commands": []})
    entry.update(
        {
            k: spec[k]
            for k in (
                "title",
                "kind",
                "suite",
                "agent",
                "suites",
                "protocol",
                "ewc_lambda",
                "per_seed",
                "targets",
            )
            if k in spec
        }
    )
    entry["budget"] = {
        k: spec[k]
        for k in ("steps_per_task", "seeds", "num_tasks", "widths", "agents", "eval_episodes", "presets")
        if k in spec
    }
    entry["budget"]["evals_per_phase"] = spec["evals_per_phase"]
    if "combos" in spec:
        entry["budget"]["combos"] = _selected_combos(spec)
    entry["full_protocol"] = spec["full_protocol"] and entry.get("full_protocol", True)
    if command not in entry["commands"]:
        entry["commands"].append(command)
    return entry


def merge_results(results: dict[str, Any], other: dict[str, Any]) -> None:
    """Merge another results file into ``results`` (runs by key, ``other`` wins; commands joined).

    Lets several benchmark invocations (or machines) write separate files, merged afterwards.

    :param results: the results to update in place.
    :param other: the results to merge in.
    """
    for name, entry in other.get("experiments", {}).items():
        mine = results["experiments"].setdefault(name, {"runs": [], "commands": []})
        keys = {r["key"] for r in entry.get("runs", [])}
        runs = [r for r in mine.get("runs", []) if r["key"] not in keys] + list(entry.get("runs", []))
        commands = [*mine.get("commands", [])]
        commands += [c for c in entry.get("commands", []) if c not in commands]
        mine.update({k: v for k, v in entry.items() if k not in ("runs", "commands", "full_protocol")})
        mine["full_protocol"] = bool(mine.get("full_protocol", True) and entry.get("full_protocol", True))
        mine["runs"], mine["commands"] = runs, commands
    if other.get("overhead") is not None:
        results["overhead"] = other["overhead"]
