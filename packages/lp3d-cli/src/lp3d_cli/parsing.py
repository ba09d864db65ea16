"""Parsing option values the shell hands over as text: name lists, numbers, seeds.

(Frame ranges, which the app takes as text too, are :mod:`lp3d_workflows.frame_ranges`.)
"""

from __future__ import annotations

from collections.abc import Sequence

from lp3d_workflows.errors import UserError

__all__ = ["split_names", "parse_positive_numbers", "parse_seeds", "parse_offsets", "parse_crops"]


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


def _pairs(values: Sequence[str] | None, option: str, example: str) -> list[tuple[str, str]]:
    out = []
    for value in values or ():
        name, sep, rest = value.partition("=")
        if not sep or not name.strip() or not rest.strip():
            raise UserError(f"{option}: expected {example}, but got {value!r}")
        out.append((name.strip(), rest.strip()))
    return out


def parse_offsets(values: Sequence[str] | None, option: str = "--offset") -> dict[str, int] | None:
    """``VIEW=FRAME`` options (``--offset top=12``) as ``{view: frame}``; None if none.

    Raises:
        UserError: not ``VIEW=FRAME`` with a non-negative integer frame, or a view given twice.
    """
    out: dict[str, int] = {}
    for view, text in _pairs(values, option, "VIEW=FRAME (e.g. top=12)"):
        if not text.isdigit() or view in out:
            raise UserError(f"{option}: expected VIEW=FRAME once per view with a frame >= 0, but got {view}={text}")
        out[view] = int(text)
    return out or None


def parse_crops(values: Sequence[str] | None, option: str = "--crop") -> dict[str, list[int]] | None:
    """``VIEW=X,Y,W,H`` options (``--crop top=0,0,396,168``) as ``{view: [x, y, w, h]}``; None if none.

    Raises:
        UserError: not four non-negative integers (a positive size), or a view given twice.
    """
    out: dict[str, list[int]] = {}
    for view, text in _pairs(values, option, "VIEW=X,Y,WIDTH,HEIGHT (e.g. top=0,0,396,168)"):
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 4 or not all(p.isdigit() for p in parts) or view in out or min(map(int, parts[2:])) < 1:
            raise UserError(
                f"{option}: expected VIEW=X,Y,WIDTH,HEIGHT once per view, whole pixels and a positive size, "
                f"but got {view}={text}"
            )
        out[view] = [int(p) for p in parts]
    return out or None
