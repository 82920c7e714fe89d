"""Strict checks of configuration values against their type annotations.

No truthiness and no conversion from strings: ``"no"`` is not a bool, ``"0.01"`` is not
a number, ``True`` is not an integer. An ``int`` is accepted where a ``float`` is
declared, and a list where a tuple is (JSON has no tuples); the result is a tuple.
Supported annotations: ``bool``, ``int``, ``float``, ``str``, ``Optional[X]``,
``Tuple[X, ...]`` and ``Tuple[X, Y, ...]`` of those.
"""
import typing
from typing import Any

_NAMES = {bool: ("true or false", "booleans"), int: ("an integer", "integers"), float: ("a number", "numbers"),
          str: ("a string", "strings")}
_KINDS = {bool: "a boolean", str: "a string", int: "an integer", float: "a number", list: "a list",
          tuple: "a list", dict: "an object", type(None): "null"}


class WrongType(ValueError):
    """A value that is not of its declared type; the message names where it is."""


def _variadic(args: tuple) -> bool:
    return len(args) == 2 and args[1] is Ellipsis


def describe(annotation: Any, plural: bool = False) -> str:
    """What a value of ``annotation`` is, in words, e.g. ``a list of 2 integers``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union:
        return " or ".join([describe(arg, plural) for arg in args if arg is not type(None)] + ["null"])
    if origin is tuple:
        lists = "lists" if plural else "a list"
        if _variadic(args):
            return f"{lists} of {describe(args[0], True)}"
        if len(set(args)) == 1:
            return f"{lists} of {len(args)} {describe(args[0], True)}"
        return f"{lists} [{', '.join(describe(arg) for arg in args)}]"
    return _NAMES[annotation][plural]


def check(value: Any, annotation: Any, where: str) -> Any:
    """``value`` if it is of type ``annotation`` (lists become tuples, ints become floats
    where a float is declared); else raises :class:`WrongType` naming ``where``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    wrong = WrongType(f"{where} must be {describe(annotation)}, got {value!r} "
                      f"({_KINDS.get(type(value), type(value).__name__)})")
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                try:
                    return check(value, arg, where)
                except WrongType:
                    pass
        raise wrong
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise wrong
        items = args[:1] * len(value) if _variadic(args) else args
        if len(items) != len(value):
            raise wrong
        return tuple(check(item, item_type, f"{where}[{i}]") for i, (item, item_type) in enumerate(zip(value, items)))
    if annotation not in _NAMES:
        raise TypeError(f"{where}: unsupported annotation {annotation!r}")
    if isinstance(value, bool) and annotation is not bool:
        raise wrong
    if annotation is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, annotation):
        raise wrong
    return value
