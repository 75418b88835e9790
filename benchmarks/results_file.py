"""The benchmark's results file: reading it, writing it atomically, recording an experiment's entry and
its runs.

Invocations that each run part of an experiment (``--presets ppo-psp``, then ``--presets sac-psp``) write
into the same file: the entry's budget lists what all of them ran, and the entry is the full protocol
once its runs cover it."""

from __future__ import annotations

import itertools
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
    budget = {
        k: spec[k]
        for k in ("steps_per_task", "seeds", "num_tasks", "widths", "agents", "eval_episodes", "presets")
        if k in spec
    }
    budget["evals_per_phase"] = spec["evals_per_phase"]
    if "combos" in spec:
        budget["combos"] = _selected_combos(spec)
    before = entry.get("budget")
    if _same_scalars(before, budget):
        entry["budget"] = _merged_budget(before, budget)
    else:  # runs of two budgets in one entry: never the full protocol
        entry["budget"], entry["mixed_budgets"] = budget, True
    entry["full_protocol"] = spec["full_protocol"] and entry.get("full_protocol", True)
    if command not in entry["commands"]:
        entry["commands"].append(command)
    return entry


def record_run(results: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """Put a finished run into its experiment's entry (replacing a run of the same key).

    The entry becomes the full protocol when, with this run, its runs cover the protocol at its budget
    (several invocations, each running part of it at the same steps and evaluation budget, add up).

    :param results: the results (updated in place).
    :param record: the run's record (its ``experiment`` names the entry).
    :return: the entry.
    """
    entry = results["experiments"][record["experiment"]]
    entry["runs"] = [r for r in entry["runs"] if r["key"] != record["key"]] + [record]
    budget, protocol = entry.get("budget"), entry.get("protocol")
    if not entry.get("full_protocol") and not entry.get("mixed_budgets") and budget and protocol:
        entry["full_protocol"] = _covers(entry["runs"], budget, protocol)
    return entry


#: the run field behind each listed budget entry
_RUN_FIELD = {
    "seeds": "seed",
    "num_tasks": "num_tasks",
    "widths": "width",
    "agents": "agent",
    "presets": "preset",
}
#: budget entries that list what ran: merged invocations ran the union
_LISTED = tuple(_RUN_FIELD)


def _merged_budget(mine: dict[str, Any] | None, other: dict[str, Any] | None) -> dict[str, Any] | None:
    """The budget of two invocations of one experiment: the lists of what ran joined (``--presets
    ppo-psp`` and ``--presets sac-psp`` ran both presets); every other entry is ``other``'s."""
    if mine is None or other is None:
        return other if mine is None else mine
    merged = dict(other)
    for key in _LISTED:
        if isinstance(mine.get(key), list) and isinstance(other.get(key), list):
            merged[key] = [*mine[key], *[v for v in other[key] if v not in mine[key]]]
    return merged


def _same_scalars(mine: dict[str, Any] | None, other: dict[str, Any] | None) -> bool:
    """Whether two invocations ran with the same steps and evaluation budget (every entry that is not
    a list of what ran)."""
    if mine is None or other is None:
        return True
    keys = (set(mine) & set(other)) - set(_LISTED) - {"combos"}
    return all(mine[k] == other[k] for k in keys)


def _covers(runs: list[dict[str, Any]], budget: dict[str, Any], protocol: dict[str, Any]) -> bool:
    """Whether the runs are the full protocol: its scalar budget (steps, episodes) and a run for every
    combination of its lists (seeds x K x widths x agents x presets)."""
    lists = {k: v for k, v in protocol.items() if k in _RUN_FIELD and isinstance(v, list)}
    if any(budget.get(k) != v for k, v in protocol.items() if k not in lists and k != "combos"):
        return False
    if "combos" in protocol:  # explicit (agent, K, seeds) combinations instead of a product
        have = {(run.get("agent"), run.get("num_tasks"), run.get("seed")) for run in runs}
        wanted = [(c["agent"], c["num_tasks"], s) for c in protocol["combos"] for s in c["seeds"]]
        return all(combo in have for combo in wanted)
    have = {tuple(run.get(_RUN_FIELD[k]) for k in lists) for run in runs}
    return all(combo in have for combo in itertools.product(*lists.values()))
