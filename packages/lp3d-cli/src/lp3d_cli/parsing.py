"""Parsing option values the shell hands over as text: name lists, numbers, seeds.

(Frame ranges, which the app takes as text too, are :mod:`lp3d_workflows.frame_ranges`.)
"""

from __future__ import annotations

from collections.abc import Sequence

from lp3d_workflows.errors import UserError

__all__ = ["split_names", "parse_positive_numbers", "parse_seeds"]


def split_names(values: Sequence[str] | None) -> list[str] | None:
    """Names given as repeated options and/or comma-separated (``--views top,bot``); None if none."""
    if not values:
        return None
    names = [name.strip() for value in values for name in value.split(",")]
    return [name for name in names if name] or None


def parse_positive_numbers(values: Sequence[str] | None, option: str) -> tuple[float, ...] | None:
    """Positive numbers given as repeated options and/or comma-separated (``--s 1.5,2``); None if none.

    Raises:
        UserError: a value is not a number, or not a positive finite one.
    """
    names = split_names(values)
    if names is None:
        return None
    numbers = []
    for text in names:
        try:
            number = float(text)
        except ValueError:
            raise UserError(f"{option}: expected positive numbers, but got {text!r}") from None
        if not (0 < number < float("inf")):
            raise UserError(f"{option}: expected positive numbers, but got {text!r}")
        numbers.append(number)
    return tuple(numbers)


def parse_seeds(text: str | None, option: str = "--seeds") -> list[int] | None:
    """Seeds given as comma-separated integers (``--seeds 0,1,2``); None if none.

    Raises:
        UserError: a value is not an integer.
    """
    names = split_names([text] if text else None)
    if names is None:
        return None
    try:
        return [int(name) for name in names]
    except ValueError:
        raise UserError(f"{option}: expected comma-separated integers (e.g. 0,1,2), but got {text!r}") from None
