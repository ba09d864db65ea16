"""Frame ranges: half-open ``START:STOP`` (Python slices: ``0:500`` is frames 0..499), several
separated by commas; an open end means the first or the last frame (``:500``, ``1000:``), and a
bare number ``N`` means ``0:N``. The reference eks syntax ``[(0,500),(1000,1500)]`` is accepted
too. The command line and the app parse the same text with :func:`parse_frame_ranges`, and
:func:`resolve_frame_ranges` checks them against a session.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lp3d_workflows.errors import UserError

__all__ = ["FrameRange", "parse_frame_ranges", "resolve_frame_ranges"]

FrameRange = tuple[int | None, int | None]

_RANGES_HELP = "ranges like '0:500,1000:1500' (half-open START:STOP frame ranges)"
_TUPLE = re.compile(r"\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)")
_SLICE = re.compile(r"^\s*(-?\d*)\s*:\s*(-?\d*)\s*$")


def _int(text: str, option: str, raw: str) -> int | None:
    if text == "":
        return None
    value = int(text)
    if value < 0:
        raise UserError(f"{option}: expected non-negative frame numbers, but got {value} in {raw!r}")
    return value


def parse_frame_ranges(text: str | None, option: str = "--s-frames") -> list[FrameRange] | None:
    """Parses frame ranges (see the module docstring); None for no option.

    Raises:
        UserError: the text is not a list of ranges, or a range is empty or reversed.
    """
    if text is None:
        return None
    raw = text
    stripped = text.strip()
    if stripped.startswith("[") or stripped.startswith("("):
        if stripped.startswith("[") != stripped.endswith("]"):
            raise UserError(f"{option}: expected {_RANGES_HELP}, but got {raw!r}")
        body = stripped[1:-1] if stripped.startswith("[") else stripped
        pairs = _TUPLE.findall(body)
        if not pairs or _TUPLE.sub("", body).replace(",", "").strip():
            raise UserError(f"{option}: expected {_RANGES_HELP}, but got {raw!r}")
        items = [f"{a}:{b}" for a, b in pairs]
    else:
        items = stripped.split(",")
    ranges: list[FrameRange] = []
    for item in items:
        if re.fullmatch(r"\s*\d+\s*", item):
            ranges.append((0, int(item)))
            continue
        match = _SLICE.match(item)
        if not match:
            raise UserError(f"{option}: expected {_RANGES_HELP}, but got {raw!r}")
        start, stop = _int(match.group(1), option, raw), _int(match.group(2), option, raw)
        if start is not None and stop is not None and stop <= start:
            raise UserError(f"{option}: expected START < STOP in each range, but got {item.strip()!r}")
        ranges.append((start, stop))
    if not ranges:
        raise UserError(f"{option}: expected {_RANGES_HELP}, but got {raw!r}")
    return ranges


def resolve_frame_ranges(ranges: Sequence[FrameRange] | None, n_frames: int, option: str = "--s-frames"):
    """Closes open ends and checks the ranges against a session of ``n_frames`` frames.

    Returns:
        ``[(start, stop), ...]`` inside ``[0, n_frames]``, or None for None.

    Raises:
        UserError: a range reaches past the last frame or holds fewer than two frames.
    """
    if ranges is None:
        return None
    out = []
    for start, stop in ranges:
        a = 0 if start is None else start
        b = n_frames if stop is None else stop
        shown = f"{'' if start is None else start}:{'' if stop is None else stop}"
        if b > n_frames or a >= n_frames:
            raise UserError(f"{option}: expected ranges within the {n_frames} frames of the session, but got {shown}")
        if b - a < 2:
            raise UserError(f"{option}: expected at least 2 frames in each range, but {shown} has {b - a}")
        out.append((a, b))
    return out
