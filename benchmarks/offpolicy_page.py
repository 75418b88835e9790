"""Render a page of sweep tables: ``docs/offpolicy.md`` (the off-policy continual runs: DQN, SAC, TD3)
and ``docs/growth.md`` (runs grown to more variants, drifting contexts), one table per sweep file.

The tables come from the sweep records that ``benchmarks/runs_table.py`` collected from the run folders
(``results/sweeps/*.json``; a section with ``"table": "drift"`` holds the records of
``benchmarks/drift.py``, ``"drift-conflict"`` those of ``benchmarks/drift_conflict.py``, ``"ablation"`` those of
``benchmarks/ablation.py``); the prose around them from a notes file::

    {"title": "...", "summary": "markdown",
     "sections": [{"title": "...", "file": "results/sweeps/offpolicy-dqn.json", "text": "markdown"}]}

Run::

    python benchmarks/offpolicy_page.py --notes results/offpolicy-notes.json --out docs/offpolicy.md
    python benchmarks/offpolicy_page.py --notes results/growth-notes.json --out docs/growth.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ablation import render as render_ablation
from drift import render as render_drift
from drift_conflict import render as render_drift_conflict
from runs_table import render

from psp_rl.utils import write_atomic


def page(notes: dict, root: Path = Path()) -> str:
    """The page's markdown.

    :param notes: the notes mapping (see the module docstring).
    :param root: the folder the sections' ``file`` paths are relative to.
    """
    lines = [f"# {notes['title']}", "", notes["summary"].strip(), ""]
    for number, section in enumerate(notes["sections"], start=1):
        lines += section_lines(f"{number}. {section['title']}", section, root)
    return "\n".join(lines)


#: a section's ``table`` kind -> the renderer of its records
TABLES = {
    "runs": render,
    "drift": render_drift,
    "drift-conflict": render_drift_conflict,
    "ablation": render_ablation,
}


def section_lines(heading: str, section: dict, root: Path = Path()) -> list[str]:
    """One section: its heading, prose and the table of its sweep records.

    :param heading: the section's heading (without ``##``).
    :param section: ``{"file": "results/sweeps/....json", "text": "markdown", "table": kind?, "pending": bool?}``,
        the kind a key of :data:`TABLES` (default ``runs``: ``benchmarks/runs_table.py``'s records); ``pending``: a
        protocol under way, whose records file may not exist yet (said on the page; otherwise a missing file is an
        error).
    :param root: the folder the ``file`` path is relative to.
    """
    lines = [f"## {heading}", "", section["text"].strip(), ""]
    path = root / section["file"]
    if section.get("pending") and not path.is_file():  # a protocol under way, none of its runs finished
        return lines + [f"No run has finished yet: its records will be `{section['file']}`.", ""]
    table = TABLES[section.get("table", "runs")](json.loads(path.read_text()))
    return lines + [table, "", f"Raw records: `{section['file']}`.", ""]


def main(argv: list[str] | None = None) -> None:
    """Write the page.

    :param argv: command-line arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", default="results/offpolicy-notes.json")
    parser.add_argument("--out", default="docs/offpolicy.md")
    args = parser.parse_args(argv)
    notes = json.loads(Path(args.notes).read_text())
    write_atomic(args.out, page(notes))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
