"""Benchmark records kept as a JSON list, one record per run: a run is skipped when its record is there, so a
shell loop of one-run invocations can be stopped and started again (``drift.py``, ``drift_conflict.py``,
``dqn_interference.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from psp_rl.utils import write_json_atomic

__all__ = ["merged_run", "run_and_show"]


def merged_run(
    out: str | None,
    key: tuple[Any, ...],
    key_of: Callable[[dict[str, Any]], tuple[Any, ...]],
    run_one: Callable[[], dict[str, Any]],
) -> dict[str, Any] | None:
    """Run one record and merge it into the JSON list ``out``, unless a record with the same key is there.

    The file is read again after the run (other invocations may have added records meanwhile) and
    written atomically, so a shell loop over settings and seeds can be stopped and started again.

    :param out: the JSON file of records (``None``: nothing is read or written)
    :param key: the key of the record to run
    :param key_of: the key of a stored record
    :param run_one: trains and returns the record
    :return: the new record, or ``None`` when it was skipped
    """
    records = json.loads(Path(out).read_text()) if out and Path(out).is_file() else []
    if any(key_of(r) == key for r in records):
        print(f"{key} is in {out} already: skipped")
        return None
    record = run_one()
    if out:
        records = json.loads(Path(out).read_text()) if Path(out).is_file() else []
        write_json_atomic(Path(out), [*records, record])
    return record


def run_and_show(
    out: str | None,
    key: tuple[Any, ...],
    key_of: Callable[[dict[str, Any]], tuple[Any, ...]],
    run_one: Callable[[], dict[str, Any]],
    render: Callable[[list[dict[str, Any]]], str],
) -> str:
    """:func:`merged_run`, then print the new record's table.

    :param out: the JSON file of records (``None``: nothing is read or written)
    :param key: the key of the record to run
    :param key_of: the key of a stored record
    :param run_one: trains and returns the record
    :param render: the table of a list of records
    :return: the printed table ("" when the run was skipped)
    """
    record = merged_run(out, key, key_of, run_one)
    if record is None:
        return ""
    text = render([record])
    print(text)
    return text
