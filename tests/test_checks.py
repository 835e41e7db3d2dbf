"""plait's argument checks: one message shape, bools and NaN never numbers."""

from __future__ import annotations

import math

import pytest

from plait._core._checks import (
    check_bool,
    check_choice,
    check_fraction,
    check_int,
    check_number,
    check_optional_seconds,
    check_positive_int,
    check_seconds,
)


def test_message_names_the_call_the_argument_the_rule_and_the_value() -> None:
    with pytest.raises(ValueError) as info:
        check_positive_int("bounded_map()", "limit", 0)
    assert str(info.value) == "bounded_map() limit must be a positive int, got 0"


@pytest.mark.parametrize("value", [True, 1.0, "3", None])
def test_an_int_is_an_int_not_a_bool_or_a_float(value: object) -> None:
    with pytest.raises(TypeError, match=r"f\(\) n must be a positive int"):
        check_positive_int("f()", "n", value)


def test_int_bounds_are_inclusive_and_said() -> None:
    assert check_int("f()", "n", 0, minimum=0, maximum=3) == 0
    assert check_int("f()", "n", 3, minimum=0, maximum=3) == 3
    with pytest.raises(ValueError, match="n must be an int between 0 and 3, got 4"):
        check_int("f()", "n", 4, minimum=0, maximum=3)
    with pytest.raises(ValueError, match="n must be an int >= 0, got -1"):
        check_int("f()", "n", -1, minimum=0)


@pytest.mark.parametrize("value", [math.nan, -1, math.inf, -math.inf])
def test_seconds_refuse_nan_negative_and_infinite(value: float) -> None:
    with pytest.raises(ValueError, match="must be a finite number of seconds >= 0"):
        check_seconds("f()", "delay", value)


def test_a_timeout_may_be_infinite_but_never_nan() -> None:
    assert check_seconds("f()", "timeout", math.inf, finite=False) == math.inf
    with pytest.raises(ValueError, match="timeout must be a number of seconds >= 0"):
        check_seconds("f()", "timeout", math.nan, finite=False)


def test_positive_seconds_refuse_zero() -> None:
    with pytest.raises(
        ValueError, match="lease must be a finite number of seconds > 0"
    ):
        check_seconds("f()", "lease", 0, positive=True)


def test_optional_seconds_take_none_and_check_the_rest() -> None:
    assert check_optional_seconds("f()", "grace", None) is None
    assert check_optional_seconds("f()", "grace", 2) == 2.0
    with pytest.raises(TypeError, match="grace must be a finite number of seconds"):
        check_optional_seconds("f()", "grace", True)


def test_a_fraction_is_between_zero_and_one() -> None:
    assert check_fraction("f()", "jitter", 1) == 1.0
    with pytest.raises(ValueError, match="jitter must be a number between 0 and 1"):
        check_fraction("f()", "jitter", 1.5)


def test_a_number_has_a_lower_bound_said_in_the_message() -> None:
    with pytest.raises(ValueError, match=r"x must be a finite number >= 1, got 0\.5"):
        check_number("f()", "x", 0.5, minimum=1.0)


def test_choice_lists_the_choices() -> None:
    assert check_choice("f()", "mode", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match="mode must be one of 'a', 'b', got 'c'"):
        check_choice("f()", "mode", "c", ("a", "b"))
    with pytest.raises(TypeError, match="mode must be one of 'a', 'b', got 1"):
        check_choice("f()", "mode", 1, ("a", "b"))


def test_bool_is_only_a_bool() -> None:
    assert check_bool("f()", "flag", False) is False
    with pytest.raises(TypeError, match="flag must be a bool, got 0"):
        check_bool("f()", "flag", 0)
