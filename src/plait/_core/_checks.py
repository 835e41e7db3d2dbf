"""Argument checks with one message shape: the call, the argument, the rule, the value.

Every public call checks its arguments here, before it starts anything, so
bad input fails at the call site with a message such as
``bounded_map() limit must be a positive int, got 0``. A ``bool`` is never
taken for a number (``True`` is an ``int`` to Python, not to a caller), and
NaN never passes a numeric rule.

Example:
    >>> check_positive_int("bounded_map()", "limit", 0)
    Traceback (most recent call last):
    ...
    ValueError: bounded_map() limit must be a positive int, got 0
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NoReturn


def fail(
    call: str, name: str, rule: str, value: object, *, error: type[Exception]
) -> NoReturn:
    """Raise *error* saying that *call*'s argument *name* must be *rule*."""
    raise error(f"{call} {name} must be {rule}, got {value!r}")


def check_bool(call: str, name: str, value: object) -> bool:
    """Return *value* if it is a bool."""
    if not isinstance(value, bool):
        fail(call, name, "a bool", value, error=TypeError)
    return value


def check_int(
    call: str,
    name: str,
    value: object,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """Return *value* if it is an int within the bounds given (inclusive)."""
    rule = _int_rule(minimum, maximum)
    if isinstance(value, bool) or not isinstance(value, int):
        fail(call, name, rule, value, error=TypeError)
    if (minimum is not None and value < minimum) or (
        maximum is not None and value > maximum
    ):
        fail(call, name, rule, value, error=ValueError)
    return value


def check_positive_int(call: str, name: str, value: object) -> int:
    """Return *value* if it is an int >= 1."""
    return check_int(call, name, value, minimum=1)


def check_number(
    call: str,
    name: str,
    value: object,
    *,
    minimum: float = 0.0,
    maximum: float | None = None,
    positive: bool = False,
    finite: bool = True,
    unit: str = "a number",
) -> float:
    """Return *value* as a float if it is a real number within the rule.

    The rule is ``>= minimum`` (``> 0`` with *positive*), ``<= maximum`` when
    given, and finite unless *finite* is false (a timeout of ``inf`` means
    none, as in anyio; a delay or an interval of ``inf`` is a mistake).
    """
    rule = _number_rule(unit, minimum, maximum, positive, finite)
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(call, name, rule, value, error=TypeError)
    number = float(value)
    if (
        math.isnan(number)
        or number < minimum
        or (positive and number <= 0)
        or (maximum is not None and number > maximum)
        or (finite and math.isinf(number))
    ):
        fail(call, name, rule, value, error=ValueError)
    return number


def check_seconds(
    call: str,
    name: str,
    value: object,
    *,
    positive: bool = False,
    finite: bool = True,
) -> float:
    """Return *value* if it is a number of seconds (>= 0, or > 0 if *positive*)."""
    return check_number(
        call, name, value, positive=positive, finite=finite, unit="a number of seconds"
    )


def check_optional_seconds(
    call: str,
    name: str,
    value: object,
    *,
    positive: bool = False,
    finite: bool = True,
) -> float | None:
    """Return ``None`` for ``None``, else what ``check_seconds`` returns."""
    if value is None:
        return None
    return check_seconds(call, name, value, positive=positive, finite=finite)


def check_fraction(call: str, name: str, value: object) -> float:
    """Return *value* if it is a number between 0 and 1 (inclusive)."""
    return check_number(call, name, value, maximum=1.0)


def check_choice(call: str, name: str, value: object, choices: Iterable[str]) -> str:
    """Return *value* if it is one of the strings *choices*."""
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        rule = "one of " + ", ".join(repr(option) for option in options)
        fail(
            call,
            name,
            rule,
            value,
            error=ValueError if isinstance(value, str) else TypeError,
        )
    return value


def check_callable(call: str, name: str, value: object, *, what: str) -> None:
    """Raise TypeError unless *value* is callable; *what* says what it should be."""
    if not callable(value):
        fail(call, name, what, value, error=TypeError)


def _int_rule(minimum: int | None, maximum: int | None) -> str:
    if minimum == 1 and maximum is None:
        return "a positive int"
    if minimum is not None and maximum is not None:
        return f"an int between {minimum} and {maximum}"
    if minimum is not None:
        return f"an int >= {minimum}"
    if maximum is not None:
        return f"an int <= {maximum}"
    return "an int"


def _number_rule(
    unit: str, minimum: float, maximum: float | None, positive: bool, finite: bool
) -> str:
    lower = "> 0" if positive and minimum <= 0 else f">= {minimum:g}"
    if maximum is not None:
        rule = f"{unit} between {minimum:g} and {maximum:g}"
    else:
        rule = f"{unit} {lower}"
    if finite and maximum is None:
        return f"a finite {rule.removeprefix('a ')}"
    return rule
