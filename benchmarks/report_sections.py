"""The markdown section of each multi-task experiment kind (continual, capacity, parallel) and of the
overhead figures: tables plus the figures they link."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from report_figures import plot_capacity, plot_final_bars, plot_matrices, plot_parallel, plot_task_curves
from report_numbers import (
    _curve_auc,
    _fmt,
    _fmt_int,
    _mean_curve,
    _rel,
    _sorted_groups,
    _table,
    _width,
    forward_transfer_of,
    group_runs,
)
from report_targets import _per_seed_lines


def _continual_section(name: str, entry: Mapping[str, Any], fig_dir: Path, md_dir: Path) -> list[str]:
    runs = entry.get("runs", [])
    has_ref = any(r.get("agent") == "separate" for r in runs)
    header = ["agent", "K", "width", "average performance", "forgetting"]
    header += ["forward transfer"] if has_ref else []
    header += ["parameters", "wall time (s)", "seeds"]
    rows = []
    for (k, width, agent), group in _sorted_groups(group_runs(runs, ("num_tasks", "width", "agent")), 2):
        row = [str(agent), str(k), _width(width), _fmt(r.get("avg_performance") for r in group)]
        row.append(_fmt(r.get("forgetting") for r in group))
        if has_ref:
            row.append(_fmt(forward_transfer_of(r, runs) for r in group))
        row += [_fmt_int(r.get("param_count") for r in group), _fmt((r.get("wall_time_s") for r in group), 0)]
        row.append(str(len(group)))
        rows.append(row)
    lines = _table(header, rows) + [""]
    for (k, width), group in group_runs(runs, ("num_tasks", "width")).items():
        by_agent = {a: g for (a,), g in _sorted_groups(group_runs(group, ("agent",)), 0)}
        tag = f"exp{name}_K{k}_w{_width(width)}"
        label = f"{entry.get('suite')}, K = {k}, " + (
            f"width {width}" if width is not None else "preset widths"
        )
        curves = plot_task_curves(
            by_agent, fig_dir / f"{tag}_curves.png", f"per-task learning curves: {label}"
        )
        mats = plot_matrices(by_agent, fig_dir / f"{tag}_matrix.png", f"performance matrices: {label}")
        bars = plot_final_bars(by_agent, fig_dir / f"{tag}_final.png", f"final performance: {label}")
        lines += [
            f"![per-task learning curves]({_rel(curves, md_dir)})",
            "",
            f"![performance matrices]({_rel(mats, md_dir)})",
            "",
            f"![final performance]({_rel(bars, md_dir)})",
            "",
        ]
    if entry.get("per_seed"):
        lines += _per_seed_lines(entry)
    return lines


#: a variant counts as kept when its final normalized return is at least this
KEPT_THRESHOLD = 0.9


def _kept(run: Mapping[str, Any]) -> float | None:
    """The fraction of variants whose final normalized return is at least :data:`KEPT_THRESHOLD`."""
    final = [v for v in run.get("final_normalized") or [] if v is not None]
    return sum(v >= KEPT_THRESHOLD for v in final) / len(final) if final else None


def _capacity_section(name: str, entry: Mapping[str, Any], fig_dir: Path, md_dir: Path) -> list[str]:
    runs = entry.get("runs", [])
    rows = []
    for (agent, width, k), group in sorted(
        group_runs(runs, ("agent", "width", "num_tasks")).items(),
        key=lambda kv: (str(kv[0][0]), -kv[0][1], kv[0][2]),
    ):
        rows.append(
            [
                str(agent),
                str(width),
                str(k),
                _fmt(r.get("avg_performance") for r in group),
                _fmt(r.get("forgetting") for r in group),
                _fmt(_kept(r) for r in group),
                _fmt_int(r.get("param_count") for r in group),
                _fmt((r.get("wall_time_s") for r in group), 0),
                str(len(group)),
            ]
        )
    header = [
        "context",
        "width",
        "K",
        "average performance",
        "forgetting",
        f"variants ≥ {KEPT_THRESHOLD} at the end",
        "parameters",
        "wall time (s)",
        "seeds",
    ]
    lines = _table(header, rows) + [""]
    if runs:
        fig = plot_capacity(runs, fig_dir / f"exp{name}_capacity.png", f"capacity: {entry.get('suite')}")
        lines += [f"![capacity]({_rel(fig, md_dir)})", ""]
    return lines


def _parallel_section(name: str, entry: Mapping[str, Any], fig_dir: Path, md_dir: Path) -> list[str]:
    runs = entry.get("runs", [])
    rows = []
    for (k, width, agent), group in _sorted_groups(group_runs(runs, ("num_tasks", "width", "agent")), 2):
        final, auc = [], []
        for run in group:
            steps, mean, _ = _mean_curve([run])
            if steps.size:
                curve = mean.mean(axis=1)
                final.append(float(curve[-1]))
                auc.append(_curve_auc(steps, curve))
        rows.append(
            [
                str(agent),
                str(k),
                str(width),
                _fmt(final),
                _fmt(auc),
                _fmt_int(r.get("param_count") for r in group),
                _fmt((r.get("wall_time_s") for r in group), 0),
                str(len(group)),
            ]
        )
    header = [
        "agent",
        "K",
        "width",
        "final mean normalized return",
        "AUC (sample efficiency)",
        "parameters",
        "wall time (s)",
        "seeds",
    ]
    lines = _table(header, rows) + [""]
    if runs:
        fig = plot_parallel(
            runs, fig_dir / f"exp{name}_parallel.png", f"multi-task training: {entry.get('suite')}"
        )
        lines += [f"![mean normalized return against env steps]({_rel(fig, md_dir)})", ""]
    return lines


def _speed_table(
    values: Mapping[str, float], unit: str, fmt: Callable[[float], str], rate: bool
) -> list[str]:
    """A table of ``values`` per policy with their speeds relative to ``MlpPolicy`` and ``MultiInputPolicy``.

    :param rate: the values are rates (higher is faster); otherwise times (lower is faster)
    """
    refs = [values.get("MlpPolicy") or math.nan, values.get("MultiInputPolicy") or math.nan]
    rows = [[p, fmt(v), *(f"{(v / r if rate else r / v):.3f}" for r in refs)] for p, v in values.items()]
    return _table(["policy", unit, "vs MlpPolicy", "vs MultiInputPolicy"], rows)


def _overhead_section(data: Mapping[str, Any]) -> list[str]:
    lines = ["## 6. Overhead of superposition", ""]
    if data.get("command"):
        lines += ["Reproduce:", "", "```bash", str(data["command"]), "```", ""]
    args = data.get("args", {})
    sps = data.get("ppo_steps_per_s") or {}
    if sps:
        lines.append(
            f"PPO env-steps/s on CartPole-v1 ({args.get('n_envs')} envs, {args.get('steps')} timed steps x "
            f"{args.get('repeats')} repeats, median; device {args.get('device')}, {args.get('threads')} torch thread(s)):"
        )
        lines += ["", *_speed_table(sps, "steps/s", lambda v: f"{v:.0f}", rate=True), ""]
    acting = data.get("ppo_acting_seconds") or {}
    if acting:
        lines.append(
            f"PPO acting: one forward pass of the same policies on {args.get('n_envs')} observations of one task "
            "(evaluation mode, no gradients, as in a rollout), median µs; ratios are speeds (higher is faster):"
        )
        lines += ["", *_speed_table(acting, "µs", lambda v: f"{v * 1e6:.1f}", rate=False), ""]
    sac = data.get("sac_gradient_steps_per_s") or {}
    if sac:
        multi = sac.get("MultiInputPolicy") or math.nan
        lines.append(
            f"SAC gradient steps/s on Pendulum-v1 with task observations (net_arch [64, 64], batch 256, "
            f"{args.get('sac_steps')} timed steps x {args.get('repeats')} repeats, median):"
        )
        lines.append("")
        rows = [[p, f"{v:.0f}", f"{v / multi:.3f}"] for p, v in sac.items()]
        lines += _table(["policy", "gradient steps/s", "vs MultiInputPolicy"], rows) + [""]
    times = data.get("mlp_step_seconds") or {}
    if times:
        ks = sorted({int(k) for per in times.values() for k in per})
        lines.append(
            "Forward + backward of a 256-wide 3-layer MLP (batch 256; tasks mixed unless the row says one-task), ms; "
            "`plain` is an `nn.Linear` MLP of the same widths:"
        )
        lines.append("")
        rows = []
        plain = data.get("plain_mlp_step_seconds")
        if plain:
            rows.append(["plain"] + [f"{plain * 1e3:.3f}"] * len(ks) + ["1.000"])
        for kind, per in times.items():
            per_int = {int(k): v for k, v in per.items()}
            spread = max(per_int.values()) / min(per_int.values())
            rows.append(
                [kind] + [f"{per_int[k] * 1e3:.3f}" if k in per_int else "—" for k in ks] + [f"{spread:.3f}"]
            )
        lines += _table(["context"] + [f"K = {k}" for k in ks] + ["max / min"], rows) + [""]
    targets = data.get("targets") or []
    if targets:
        lines += ["Targets (ratios from the run above):", ""]
        rows = [[t["target"], f"{t['measured']:.3f}", "met" if t["met"] else "**missed**"] for t in targets]
        lines += _table(["target", "measured", ""], rows) + [""]
    return lines
