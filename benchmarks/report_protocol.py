"""The lines that say how an experiment's runs were made: the budget against the full protocol, the
hyper-parameters and policies, the code commit and the commands that reproduce them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from report_numbers import _agent_rank, _combo_order, _ints, _one, _protocol_steps, group_runs


def _ran(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What the runs of an experiment actually cover (from the runs; the recorded budget as fallback)."""
    runs = entry.get("runs", [])
    budget = dict(entry.get("budget", {}))
    if not runs:
        return budget

    def values(field: str, fallback: Any) -> Any:
        found = sorted({r[field] for r in runs if r.get(field) is not None}, key=str)
        if not found:
            return fallback
        return found[0] if field in ("steps_per_task", "eval_episodes") and len(found) == 1 else found

    agents = sorted({str(r.get("agent")) for r in runs}, key=_agent_rank)
    return {
        "steps_per_task": values("steps_per_task", budget.get("steps_per_task")),
        "num_tasks": _ints(runs, "num_tasks"),
        "widths": _ints(runs, "width"),
        "seeds": _ints(runs, "seed"),
        "agents": agents,
        "eval_episodes": values("eval_episodes", budget.get("eval_episodes")),
    }


def _budget_lines(entry: Mapping[str, Any]) -> list[str]:
    ran = _ran(entry)
    protocol = entry.get("protocol", {})
    desc = (
        f"{ran.get('steps_per_task')} env steps per task phase, K = {ran.get('num_tasks')}, "
        f"widths {ran.get('widths')}, seeds {ran.get('seeds')} (per agent: the seeds column), "
        f"{ran.get('eval_episodes')} evaluation episodes per task"
    )
    covered = all(
        set(protocol[k]) <= set(ran.get(k) or []) for k in ("num_tasks", "widths", "seeds") if k in protocol
    ) and protocol.get("steps_per_task", ran.get("steps_per_task")) == ran.get("steps_per_task")
    if entry.get("full_protocol") and covered:
        return [f"**Budget: the full protocol** ({desc})."]
    full = (
        f"{protocol.get('steps_per_task')} steps per task, K = {protocol.get('num_tasks')}, "
        f"widths {protocol.get('widths')}, seeds {protocol.get('seeds')}, agents {protocol.get('agents')}"
    )
    return [
        f"**Budget: REDUCED, not the full protocol.** Ran: {desc}; agents {ran.get('agents')}.",
        f"The full protocol is {full}.",
    ]


def _combo_budget_lines(entry: Mapping[str, Any]) -> list[str]:
    """The budget statement of an experiment of explicit (agent, K, seeds) ``combos``: each agent a
    preset as it is."""
    runs = entry.get("runs", [])
    protocol = entry.get("protocol", {})
    groups = group_runs(runs, ("agent", "num_tasks"))
    steps = _ints(runs, "steps_per_task")
    episodes = _ints(runs, "eval_episodes")
    per_phase = entry.get("budget", {}).get("evals_per_phase")
    when = "at the phase ends only" if per_phase == 0 else f"{per_phase} per phase" if per_phase else ""

    def combos(pairs: Sequence[tuple[str, int, Sequence[Any]]]) -> str:
        return "; ".join(f"`{a}` K = {k} seeds {list(seeds)}" for a, k, seeds in pairs) or "no runs"

    ran = [
        (a, k, sorted(r.get("seed") for r in groups[(a, k)]))
        for a, k in _combo_order(entry)
        if (a, k) in groups
    ]
    desc = (
        f"{combos(ran)}; {_one(steps)} env steps per task phase, {_one(episodes)} evaluation episodes "
        f"per task {when}; every agent is its preset as it is (own widths and hyper-parameters)"
    )
    wanted = [(str(c["agent"]), int(c["num_tasks"]), c["seeds"]) for c in protocol.get("combos") or []]
    covered = (
        all(set(seeds) <= {r.get("seed") for r in groups.get((a, k), [])} for a, k, seeds in wanted)
        and all(_protocol_steps(entry, _ints(group, "steps_per_task")) for group in groups.values())
        and episodes == [protocol.get("eval_episodes")]
    )
    if entry.get("full_protocol") and covered:
        return [f"**Budget: the full protocol** ({desc})."]
    return [
        f"**Budget: REDUCED, not the full protocol.** Ran: {desc}.",
        f"The full protocol is {combos(wanted)}; {protocol.get('steps_per_task')} env steps per task "
        f"phase (or the preset's own steps_per_task), {protocol.get('eval_episodes')} evaluation episodes.",
    ]


def _hyperparam_lines(entry: Mapping[str, Any]) -> list[str]:
    """The algorithm hyper-parameters of the runs, or a warning when runs of the same label set differ.

    Runs are grouped by their label overrides (``psp@lr=1.5e-4`` → ``lr=1.5e-4``): the agents of one group
    must share their hyper-parameters, and differing sets within a group mean the preset changed between
    invocations.
    """
    groups: dict[str, dict[str, Any]] = {}
    for run in entry.get("runs", []):
        if run.get("hyperparams") is not None:
            overrides = str(run.get("agent", "")).partition("@")[2]
            seen = groups.setdefault(overrides, {})
            seen.setdefault(json.dumps(run["hyperparams"], sort_keys=True), run["hyperparams"])
    lines = []
    for overrides, seen in sorted(groups.items()):
        who = f"agents with `@{overrides}`" if overrides else "preset agents"
        who = "every agent" if len(groups) == 1 else who
        sets = "; ".join(", ".join(f"{k}={v}" for k, v in p.items()) for p in seen.values())
        if len(seen) == 1:
            lines.append(f"Hyper-parameters ({who}): {sets}.")
        else:
            lines.append(
                f"**Warning: the runs of {who} use {len(seen)} different sets of hyper-parameters** "
                f"(the agent preset changed between invocations): {sets}."
            )
    return [text for line in lines for text in (line, "")]


def _commit_lines(entry: Mapping[str, Any]) -> list[str]:
    """The code version(s) the runs used (``git_commit`` of each run), with the runs of each."""
    by_commit: dict[str, list[str]] = {}
    single = entry.get("kind") == "single"  # several presets: name the preset too
    for run in entry.get("runs", []):
        commit = run.get("git_commit") or "unrecorded"
        preset = f"{run.get('preset')} " if single else ""
        by_commit.setdefault(commit[:7], []).append(
            f"{preset}{run.get('agent')} s{run.get('seed')} K{run.get('num_tasks')}"
        )
    if not by_commit:
        return []
    if len(by_commit) == 1:
        return [f"Code: commit `{next(iter(by_commit))}`.", ""]
    parts = [f"`{c}` ({', '.join(runs)})" for c, runs in by_commit.items()]
    return [f"Code: the runs span {len(by_commit)} commits: " + "; ".join(parts) + ".", ""]


def _commands(entry: Mapping[str, Any]) -> list[str]:
    """The invocations that produced the runs shown (an interrupted one that finished none is left out)."""
    commands = entry.get("commands") or []
    used = {r.get("command") for r in entry.get("runs", []) if r.get("command")}
    if used:
        commands = [c for c in commands if c in used] + sorted(used - set(commands))
    if not commands:
        return []
    return ["Reproduce:", "", "```bash", *commands, "```", ""]


def _presets(entry: Mapping[str, Any]) -> list[str]:
    """The presets of a ``single`` experiment: in the protocol's order, then any other that ran."""
    order = list(entry.get("protocol", {}).get("presets") or entry.get("budget", {}).get("presets") or [])
    for run in entry.get("runs", []):
        if run.get("preset") is not None and run["preset"] not in order:
            order.append(run["preset"])
    return order


def _single_ran(entry: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per preset: the env steps, seeds, evaluation points and episodes its runs used."""
    out: dict[str, dict[str, Any]] = {}
    for preset in _presets(entry):
        runs = [r for r in entry.get("runs", []) if r.get("preset") == preset]
        points = sorted({len(r["history"]["step"]) for r in runs if r.get("history")})
        out[preset] = {
            "steps": _ints(runs, "steps_per_task"),
            "seeds": _ints(runs, "seed"),
            "agents": sorted({str(r.get("agent")) for r in runs}, key=_agent_rank),
            "episodes": _ints(runs, "eval_episodes"),
            "points": points,
        }
    return out


def _single_budget_lines(entry: Mapping[str, Any]) -> list[str]:
    """The budget statement of a ``single`` experiment: env steps per preset against the protocol's."""
    ran = {p: r for p, r in _single_ran(entry).items() if r["seeds"]}
    protocol = entry.get("protocol", {})
    steps = protocol.get("steps_per_task")

    def protocol_steps(preset: str) -> Any:
        return steps.get(preset) if isinstance(steps, Mapping) else steps

    common = {k: {json.dumps(r[k]) for r in ran.values()} for k in ("seeds", "episodes")}
    shared = [k for k, values in common.items() if len(values) == 1]  # stated once for every preset

    def what(r: Mapping[str, Any]) -> str:
        text = f"{_one(r['steps'])} env steps"
        text += "" if "seeds" in shared else f", seeds {r['seeds']}"
        text += f", {_one(r['points'])} evaluations"
        return text + ("" if "episodes" in shared else f" of {_one(r['episodes'])} episodes")

    desc = "; ".join(f"`{p}` {what(r)}" for p, r in ran.items()) or "no runs"
    first = next(iter(ran.values()), None)
    if first is not None and "seeds" in shared:
        desc += f"; seeds {first['seeds']}"
    if first is not None and "episodes" in shared:
        desc += f"; {_one(first['episodes'])} episodes per evaluation"
    desc = f"K = 1, the presets' own widths; {desc}"
    covered = bool(ran) and all(
        p in ran
        and ran[p]["steps"] == [protocol_steps(p)]
        and set(protocol.get("seeds", [])) <= set(ran[p]["seeds"])
        and set(protocol.get("agents", [])) <= set(ran[p]["agents"])
        and ran[p]["episodes"] == [protocol.get("eval_episodes")]
        for p in protocol.get("presets", [])
    )
    if entry.get("full_protocol") and covered:
        return [f"**Budget: the full protocol** ({desc})."]
    full = "; ".join(f"`{p}` {protocol_steps(p)} env steps" for p in protocol.get("presets", []))
    return [
        f"**Budget: REDUCED, not the full protocol.** Ran: {desc}.",
        f"The full protocol is {full}; seeds {protocol.get('seeds')}, agents {protocol.get('agents')}, "
        f"{protocol.get('eval_episodes')} evaluation episodes.",
    ]


def _single_hyperparam_lines(entry: Mapping[str, Any]) -> list[str]:
    """Per preset: its hyper-parameters (shared by its agents, or a warning) and each agent's policy."""
    lines = []
    for preset in _presets(entry):
        runs = [r for r in entry.get("runs", []) if r.get("preset") == preset]
        if not runs:
            continue
        seen = {json.dumps(r.get("hyperparams"), sort_keys=True): r.get("hyperparams") for r in runs}
        sets = "; ".join(", ".join(f"{k}={v}" for k, v in (h or {}).items()) for h in seen.values())
        policies = {}
        for run in runs:
            kwargs = ", ".join(f"{k}={v}" for k, v in (run.get("policy_kwargs") or {}).items())
            policy = "PSP policy" if run.get("policy") == "psp" else f"SB3 `{run.get('policy')}`"
            policies.setdefault(str(run.get("agent")), f"{policy} ({kwargs})")
        policy_text = "; ".join(
            f"`{a}` {p}" for a, p in sorted(policies.items(), key=lambda kv: _agent_rank(kv[0]))
        )
        where = f"`{preset}` on `{runs[0].get('suite')}`, n_envs {runs[0].get('n_envs')}"
        if len(seen) == 1:
            lines.append(f"- {where}: hyper-parameters {sets}; policies {policy_text}.")
        else:
            lines.append(
                f"- {where}: **Warning: its runs use {len(seen)} different sets of hyper-parameters** "
                f"(the preset changed between invocations): {sets}; policies {policy_text}."
            )
    return [*lines, ""] if lines else []
