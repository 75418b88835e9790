"""Checks of single user-given values (integers, numbers, choices, keys), each raising a ``ValueError``
that names the key, the value and a fix. Shared by the config validation and the continual mechanisms.

Example::

    >>> check_int("keep_best.freq", -1, 0)
    Traceback (most recent call last):
    ValueError: keep_best.freq must be an integer >= 0, got -1 (an integer). Fix it, e.g. --set keep_best.freq=0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psp_rl.utils import did_you_mean, unknown

__all__ = ["check_choice", "check_int", "check_keys", "check_number", "kind_of"]


def kind_of(value: Any) -> str:
    """What a value is, in YAML words.

    :param value: any value.
    """
    if value is None:
        return "null"
    words: list[tuple[Any, str]] = [
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a number"),
        (str, "a string"),
        ((list, tuple), "a list"),
        (dict, "a mapping"),
    ]
    return next((word for kind, word in words if isinstance(value, kind)), type(value).__name__)


def check_keys(kind: str, given: Iterable[str], valid: Iterable[str]) -> None:
    """Every key of ``given`` is one of ``valid``.

    :param kind: what the keys belong to, for the message (``"rehearsal"``).
    :param given: the keys given.
    :param valid: the valid keys.
    """
    valid = list(valid)
    for key in given:
        if key not in valid:
            raise ValueError(f"Unknown {kind} key {key!r}.{did_you_mean(key, valid)}")


def check_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> None:
    """An integer (not a bool) ``>= minimum`` (or ``None`` when allowed).

    :param name: the key, for the message.
    :param value: the value.
    :param minimum: the smallest valid value.
    :param allow_none: ``None`` is valid too.
    """
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        expected = f"an integer >= {minimum}" + (" or null" if allow_none else "")
        raise ValueError(
            f"{name} must be {expected}, got {value!r} ({kind_of(value)}). Fix it, e.g. --set {name}={minimum}."
        )


def check_number(name: str, value: Any, minimum: float, meaning: str = "", strict: bool = False) -> None:
    """A real number (not a bool) ``>= minimum``, or ``> minimum`` when ``strict``.

    :param name: the key, for the message.
    :param value: the value.
    :param minimum: the bound.
    :param meaning: what the value means, for the message.
    :param strict: the bound itself is not valid.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value != value  # NaN
        or not (value > minimum if strict else value >= minimum)
    ):
        bound = f"{'>' if strict else '>='} {minimum:g}"
        raise ValueError(
            f"{name} must be a number {bound}{f' ({meaning})' if meaning else ''}, got {value!r}."
        )


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """One of ``choices``.

    :param name: the key, for the message.
    :param value: the value.
    :param choices: the valid values.
    """
    if not isinstance(value, (str, int, float, bool)) or value not in choices:
        raise unknown(name, value, choices)
