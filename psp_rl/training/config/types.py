"""The expected type of a config value, read from the type hints of the code that receives it, and
the check of a value against it (with the fix in the message).

:func:`init_types` turns constructor type hints (``Union[float, Schedule]``, ``int``, ``list[int] |
dict[str, list[int]]``...) into :class:`ExpectedType` objects that know how to test a YAML value, describe
themselves in words and give an example; :func:`check_value` raises the ``ValueError``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import shlex
import types
import typing
from collections import abc
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar, Union

import yaml

from psp_rl.checks import kind_of

__all__ = ["ExpectedType", "check_section", "check_value", "init_params", "init_types"]

_EMPTY: Any = inspect.Parameter.empty


def init_params(cls: type, skip: Iterable[str] = ()) -> list[str]:
    """Named ``__init__`` arguments of ``cls``, following ``**kwargs`` up the MRO."""
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in klass.__dict__ or klass is object:
            continue
        params = inspect.signature(klass.__dict__["__init__"]).parameters.values()
        names += [p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    skip = set(skip) | {"self"}
    return [n for n in dict.fromkeys(names) if n not in skip]


@dataclasses.dataclass(frozen=True)
class ExpectedType:
    """What a config value may be.

    :param name: the Python-level name (``int``, ``str``, ``Callable``, ``type[Module]``...), by which a
        convention replaces it
    :param text: in words, with an article (``an integer``)
    :param plural: in words, for the items of a list (``integers``)
    :param example: a value it accepts (for the fix in an error message), or ``None``
    :param test: whether it accepts a value
    :param args: the item types of a composite type
    :param kind: ``leaf``, ``choice``, ``list``, ``tuple``, ``dict`` or ``union``
    :param writable: whether a YAML value can have this type
    """

    name: str
    text: str
    plural: str
    example: Any
    test: Callable[[Any], bool]
    args: tuple[ExpectedType, ...] = ()
    kind: str = "leaf"
    writable: bool = True


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def object_type(name: str) -> ExpectedType:
    """A Python object a config cannot hold (a callable, a class...)."""
    return ExpectedType(name, f"a {name} object", f"{name} objects", None, lambda v: False, writable=False)


def choice_type(values: Iterable[Any], name: str = "str") -> ExpectedType:
    options = tuple(values)
    text = "|".join(map(str, options))
    return ExpectedType(
        name,
        text,
        text,
        options[0],
        lambda v: any(type(v) is type(x) and v == x for x in options),
        kind="choice",
    )


ANY_TYPE = ExpectedType("Any", "any value", "values", None, lambda v: True)
NONE_TYPE = ExpectedType("None", "null", "nulls", None, lambda v: v is None)
BASIC_TYPES: dict[Any, ExpectedType] = {
    Any: ANY_TYPE,
    None: NONE_TYPE,
    type(None): NONE_TYPE,
    bool: ExpectedType("bool", "true or false", "booleans", True, lambda v: isinstance(v, bool)),
    int: ExpectedType("int", "an integer", "integers", 1, is_int),
    float: ExpectedType("float", "a number", "numbers", 0.5, is_number),
    str: ExpectedType("str", "a string", "strings", None, lambda v: isinstance(v, str)),
}
POSITIVE_INT = ExpectedType(
    "int", "a positive integer", "positive integers", 64, lambda v: is_int(v) and v > 0
)


def list_of(item: ExpectedType) -> ExpectedType:
    def test(value: Any) -> bool:
        return isinstance(value, list) and all(item.test(v) for v in value)

    example = [item.example] * 2 if item.example is not None else []
    return ExpectedType(
        "list", f"a list of {item.plural}", f"lists of {item.plural}", example, test, (item,), "list"
    )


def tuple_of(items: Sequence[ExpectedType]) -> ExpectedType:
    def test(value: Any) -> bool:
        return (
            isinstance(value, (list, tuple))
            and len(value) == len(items)
            and all(item.test(v) for item, v in zip(items, value))
        )

    inner = ", ".join(item.text.removeprefix("an ").removeprefix("a ") for item in items)
    example = [item.example for item in items] if all(i.example is not None for i in items) else None
    return ExpectedType(
        "tuple", f"a [{inner}] list", f"[{inner}] lists", example, test, tuple(items), "tuple"
    )


def dict_of(key: ExpectedType, value: ExpectedType) -> ExpectedType:
    def test(data: Any) -> bool:
        return isinstance(data, dict) and all(key.test(k) and value.test(v) for k, v in data.items())

    if value is ANY_TYPE:
        text, example = "a mapping", {}
    elif key.kind == "choice":
        text, example = f"a mapping {{{key.text}: {value.plural}}}", {key.example: value.example}
    else:
        text, example = f"a mapping of {value.plural}", {"key": value.example}
    return ExpectedType(
        "dict", text, text.replace("a mapping", "mappings", 1), example, test, (key, value), "dict"
    )


def union_of(arms: Sequence[ExpectedType]) -> ExpectedType:
    flat: list[ExpectedType] = []
    for arm in arms:
        for part in arm.args if arm.kind == "union" else (arm,):
            if all(part.text != seen.text for seen in flat):
                flat.append(part)
    if len(flat) == 1:
        return flat[0]
    flat.sort(key=lambda arm: arm is NONE_TYPE)  # null last
    shown = [arm for arm in flat if arm.writable] or flat

    def join(words: list[str]) -> str:
        words = [w for word in words for w in (("true", "false") if word == "true or false" else (word,))]
        return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"

    example = next((arm.example for arm in shown if arm.example is not None), None)
    return ExpectedType(
        "union",
        join([arm.text for arm in shown]),
        join([arm.plural for arm in shown]),
        example,
        lambda v: any(arm.test(v) for arm in flat),
        tuple(flat),
        "union",
        any(arm.writable for arm in flat),
    )


def from_hint(hint: Any) -> ExpectedType:
    """The expected type of a type hint (``typing.get_type_hints``)."""
    with contextlib.suppress(TypeError):  # unhashable hints are not basic
        if hint in BASIC_TYPES:
            return BASIC_TYPES[hint]
    if isinstance(hint, TypeVar):
        return ANY_TYPE
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union or origin is types.UnionType:
        return union_of([from_hint(arg) for arg in args])
    if origin is Literal:
        return choice_type(args)
    if hint is list or origin in (list, abc.Sequence, abc.MutableSequence):
        return list_of(from_hint(args[0]) if args else ANY_TYPE)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return list_of(from_hint(args[0]))
        return tuple_of([from_hint(arg) for arg in args])
    if hint is dict or origin in (dict, abc.Mapping, abc.MutableMapping):
        return dict_of(*(from_hint(arg) for arg in args)) if len(args) == 2 else dict_of(ANY_TYPE, ANY_TYPE)
    if hint is abc.Callable or origin is abc.Callable:
        return object_type("Callable")
    if origin is type:
        return object_type(f"type[{getattr(args[0], '__name__', args[0])}]" if args else "type")
    return object_type(getattr(hint, "__name__", str(hint)))


def refine(expected: ExpectedType, replace: Mapping[str, ExpectedType]) -> ExpectedType:
    """``expected`` with every part named in ``replace`` replaced (a zoo convention for a Python object)."""
    if expected.kind in ("leaf", "choice"):
        return replace.get(expected.name, expected)
    args = [refine(arg, replace) for arg in expected.args]
    if expected.kind == "list":
        return list_of(args[0])
    if expected.kind == "tuple":
        return tuple_of(args)
    if expected.kind == "dict":
        return dict_of(args[0], args[1])
    return union_of(args)


@functools.cache
def init_hints(klass: type) -> dict[str, Any]:
    """Resolved type hints of ``klass.__init__``; an annotation that does not resolve (a type imported for
    type checkers only) is left out."""
    init = klass.__dict__["__init__"]
    try:
        return typing.get_type_hints(init)
    except (NameError, TypeError, AttributeError):
        hints: dict[str, Any] = {}
        for name, annotation in getattr(init, "__annotations__", {}).items():
            holder = types.SimpleNamespace(__annotations__={name: annotation})
            with contextlib.suppress(NameError, TypeError, AttributeError):
                hints.update(typing.get_type_hints(holder, globalns=getattr(init, "__globals__", None)))
        return hints


def init_types(cls: type, skip: Iterable[str] = ()) -> dict[str, tuple[ExpectedType, Any]]:
    """Expected type and default of every argument :func:`init_params` lists.

    The type is the hint of the first class in the MRO whose ``__init__`` takes the argument and whose hint
    resolves (:func:`typing.get_type_hints`); without one the argument accepts any value.

    :param cls: a class.
    :param skip: arguments to leave out.
    :return: ``{name: (expected type, default or inspect.Parameter.empty)}``.
    """
    names = init_params(cls, skip)
    hints: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for klass in cls.__mro__:
        if "__init__" not in klass.__dict__ or klass is object:
            continue
        params = inspect.signature(klass.__dict__["__init__"]).parameters
        resolved = init_hints(klass)
        for name in names:
            if name in params:
                defaults.setdefault(name, params[name].default)
                if name in resolved:
                    hints.setdefault(name, resolved[name])
    return {name: (from_hint(hints.get(name, Any)), defaults.get(name, _EMPTY)) for name in names}


def as_yaml(value: Any) -> str:
    """A value as one would write it after ``--set KEY=``."""
    value = list(value) if isinstance(value, tuple) else value
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1 << 20).strip()
    return text.removesuffix("...").strip()


def check_value(key: str, value: Any, expected: ExpectedType, default: Any = _EMPTY) -> None:
    """Raise a ``ValueError`` naming the key, the value, the expected type and the fix unless ``expected``
    accepts ``value``.

    :param key: the dotted key, e.g. ``hyperparams.n_steps``.
    :param value: its value.
    :param expected: the expected type (from :func:`init_types`).
    :param default: the constructor's default, shown as the example of the fix when it is accepted.
    """
    if expected.test(value):
        return
    got = f"got {value!r} ({kind_of(value)})"
    arms = expected.args if expected.kind == "union" else (expected,)
    if all(arm is NONE_TYPE or not arm.writable for arm in arms):  # only a Python object (or null)
        objects = " or ".join(arm.text for arm in arms if arm is not NONE_TYPE)
        raise ValueError(f"{key} takes {objects}, which a config cannot hold; {got}: remove {key}.")
    example = expected.example
    if default is not _EMPTY and default is not None and default != "" and expected.test(default):
        example = default
    fix = (
        f"e.g. --set {shlex.quote(f'{key}={as_yaml(example)}')}"
        if example is not None
        else f"--set {key}=<value>"
    )
    raise ValueError(f"{key} must be {expected.text}, {got}. Fix it in the preset or with {fix}.")


def check_section(
    section: str,
    values: Mapping[str, Any],
    table: Mapping[str, tuple[ExpectedType, Any]],
    conventions: Mapping[str, Mapping[str, ExpectedType]] | None = None,
) -> None:
    """Check every value of a section whose key ``table`` knows (unknown keys are reported before)."""
    for key, value in values.items():
        if key in table:
            expected, default = table[key]
            if conventions and key in conventions:
                expected = refine(expected, conventions[key])
            check_value(f"{section}{key}", value, expected, default)
