"""Writing pose CSV files (private to :mod:`lp3d_io.csv`): the header, and the numbers laid out as
pyarrow's CSV writer lays them out, formatted by orjson (compiled shortest round-trip digits) with
the few exponent ranges it spells differently formatted here, or by pyarrow for large blocks."""

from __future__ import annotations

import csv as _pycsv
import io
from collections.abc import Mapping, Sequence
from typing import BinaryIO

import numpy as np
import orjson

SPACE_COORDS = ("x", "y", "z")
# Blocks from this many cells on are written by pyarrow: its multithreaded engine then repays its import.
ARROW_MIN_CELLS = 250_000


def write_header(f: BinaryIO, scorer: str, columns: Sequence[tuple[str, str, str]], multi: bool) -> None:
    buf = io.StringIO()
    writer = _pycsv.writer(buf, lineterminator="\n")
    writer.writerow(["scorer"] + [scorer] * len(columns))
    if multi:
        writer.writerow(["individuals"] + [c[0] for c in columns])
    writer.writerow(["bodyparts"] + [c[1] for c in columns])
    writer.writerow(["coords"] + [c[2] for c in columns])
    f.write(buf.getvalue().encode("utf-8"))


def columns_of(
    keypoint_names: Sequence[str], individual_names: Sequence[str], coords: Sequence[str]
) -> list[tuple[str, str, str]]:
    """Column order of every writer: individual, then keypoint, then coord."""
    return [(ind, kp, c) for ind in individual_names for kp in keypoint_names for c in coords]


def write_rows(
    f: BinaryIO, values: Mapping[str, np.ndarray], index: np.ndarray, *, total_cells: int | None = None
) -> None:
    """Appends rows: ``index (t,)`` and ``values[coord] (t, keypoint, individual)``, NaN as empty cells.

    Columns are ordered individual, keypoint, coord (the order of ``values``). Row labels are quoted
    only when one of them needs it (then all are, as pyarrow's "needed" style quotes every string).
    The engine follows ``total_cells``, the cells the caller writes in all (default: these rows').
    """
    T, K, I = next(iter(values.values())).shape  # noqa: E741
    plain = index.dtype.kind in "iu" or not any(set(str(x)) & set(',"\r\n') for x in index)
    if (T * K * I * len(values) if total_cells is None else total_cells) >= ARROW_MIN_CELLS:
        _write_rows_arrow(f, values, index, plain)
    else:
        f.write(_rows_text(values, index, plain).encode("utf-8"))


def _rows_text(values: Mapping[str, np.ndarray], index: np.ndarray, plain: bool) -> str:
    """The rows of :func:`_write_rows` as text: :func:`_rows_text_orjson` when it applies, else the
    standard library and numpy (:func:`_rows_text_python`); both give pyarrow's bytes."""
    fast = _rows_text_orjson(values, index, plain)
    return fast if fast is not None else _rows_text_python(values, index, plain)


def _row_labels(index: np.ndarray, plain: bool) -> list[str]:
    if index.dtype.kind in "iu":
        return [str(x) for x in index.tolist()]
    labels = [str(x) for x in index]
    return labels if plain else ['"' + x.replace('"', '""') + '"' for x in labels]


def _rows_text_orjson(values: Mapping[str, np.ndarray], index: np.ndarray, plain: bool) -> str | None:
    """The rows formatted by orjson (shortest round-trip digits, compiled; ~20x faster than ``repr``),
    or None when some value is infinite (orjson writes ``null`` for it).

    orjson's layout is pyarrow's except for decimal exponent -6 (orjson ``1.5e-6``, pyarrow
    ``0.0000015``) and 10 to 15 (orjson positional, pyarrow ``1.5e+10``). Values near those ranges
    are formatted by :func:`_number_tokens` instead: orjson writes a sentinel number in their place,
    and the text is split at the sentinels and joined with their tokens."""
    arrays = list(values.values())
    T, K, I = arrays[0].shape  # noqa: E741
    if T == 0 or K * I == 0:
        return None
    dtype = np.float32 if all(a.dtype == np.float32 for a in arrays) else np.float64
    # (time, individual, keypoint, coord) -> one row per time, columns individual, keypoint, coord
    matrix = np.stack([a.transpose(0, 2, 1).astype(dtype, copy=False) for a in arrays], axis=-1).reshape(T, -1)
    sentinel = np.array([_SENTINEL], dtype=dtype)
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(matrix)
        if np.isinf(magnitude).any() or (matrix == sentinel[0]).any():
            return None
        has_nan = bool(np.isnan(magnitude).any())
        has_whole = bool((magnitude == np.floor(magnitude)).any())
        special = ((magnitude >= 0.9e-6) & (magnitude < 1.1e-5)) | (magnitude >= 0.9e10)
    tokens: list[bytes] = []
    if special.any():
        tokens = [t.replace("e-0", "e-").removesuffix(".0").encode() for t in _number_tokens(matrix[special])]
        matrix[special] = sentinel[0]  # matrix is a new array (np.stack)
    body = orjson.dumps(matrix, option=orjson.OPT_SERIALIZE_NUMPY)[2:-2]
    if tokens:
        pieces = body.split(orjson.dumps(sentinel, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1])
        body = b"".join(b for pair in zip(pieces, [*tokens, b""], strict=True) for b in pair)
    body = body.replace(b"],[", b"\n") + b"\n"
    if has_nan:
        body = body.replace(b"null", b"")
    if has_whole:
        body = body.replace(b".0,", b",").replace(b".0\n", b"\n")
    lines = body.decode("ascii").split("\n")
    return "".join(f"{label},{line}\n" for label, line in zip(_row_labels(index, plain), lines, strict=False))


# Stands in for the values :func:`_rows_text_orjson` formats itself (exact in float32 and float64).
_SENTINEL = -1.5 * 2.0**-120


def _rows_text_python(values: Mapping[str, np.ndarray], index: np.ndarray, plain: bool) -> str:
    """The rows of :func:`_write_rows` as text, formatted with the standard library and numpy."""
    T, K, I = next(iter(values.values())).shape  # noqa: E741
    if T == 0:
        return ""
    tokens = {coord: _number_tokens(arr.transpose(0, 2, 1)) for coord, arr in values.items()}  # (t, i, k) order
    columns = [tokens[coord][j :: I * K] for j in range(I * K) for coord in values]
    body = "\n".join(map(",".join, zip(*columns, strict=True))) + "\n"
    # Python's float repr -> pyarrow's text: NaN is an empty cell, integers have no ".0", exponents no
    # leading 0 (each rewrite of the whole text only when some value needs it).
    with np.errstate(invalid="ignore"):
        magnitude = [np.abs(arr) for arr in values.values()]
        if any(np.isnan(m).any() for m in magnitude):
            body = body.replace("nan", "")
        if any((m == np.floor(m)).any() for m in magnitude):
            body = body.replace(".0,", ",").replace(".0\n", "\n")
        if any(((m > 0) & (m < 1e-6)).any() for m in magnitude):
            body = body.replace("e-0", "e-")
    labels = _row_labels(index, plain)
    return "".join(f"{label},{line}\n" for label, line in zip(labels, body.split("\n"), strict=False))


def _number_tokens(values: np.ndarray) -> list[str]:
    """Shortest round-trip text of every value (C order), in Python's float repr layout except that
    values whose decimal exponent is -6, -5 or 10..15 are already in pyarrow's (see :func:`_arrow_layout`)."""
    flat = values.ravel()
    if flat.dtype == np.float32:  # numpy's shortest float32 digits; its layout differs from Python's
        text = flat.astype(str)
        with np.errstate(invalid="ignore"):
            need = (np.strings.find(text, "e") >= 0) | (np.isfinite(flat) & (np.abs(flat) >= 1e10))
        tokens = text.tolist()
    else:
        flat = flat.astype(np.float64, copy=False)
        tokens = repr(flat.tolist())[1:-1].split(", ")
        with np.errstate(invalid="ignore"):
            magnitude = np.abs(flat)
            need = ((magnitude >= 1e-6) & (magnitude < 1e-4)) | ((magnitude >= 1e10) & (magnitude < 1e16))
    for i in np.flatnonzero(need).tolist():
        token = tokens[i]
        if token.endswith("e-06"):  # the common case (variances), inline: d.ddde-06 -> 0.00000dddd
            negative = token[0] == "-"
            tokens[i] = ("-0.00000" if negative else "0.00000") + token[negative:-4].replace(".", "")
        else:
            tokens[i] = _arrow_layout(token)
    return tokens


def _arrow_layout(token: str) -> str:
    """A finite non-zero number in positional or scientific text -> pyarrow's layout of the same digits:
    positional for decimal exponents -6..9 (``0.0000015``, ``12345.5``), else ``d.ddde+X`` (``1.5e-7``)."""
    sign = "-" if token[0] == "-" else ""
    mantissa, _, exponent = token.lstrip("-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    significant = digits.lstrip("0")
    power = (int(exponent) if exponent else 0) + len(whole) - 1 - (len(digits) - len(significant))
    significant = significant.rstrip("0")
    if -6 <= power < 10:
        if power < 0:
            return f"{sign}0.{'0' * (-power - 1)}{significant}"
        rest = significant[power + 1 :]
        return sign + significant[: power + 1].ljust(power + 1, "0") + (f".{rest}" if rest else "")
    tail = f".{significant[1:]}" if len(significant) > 1 else ""
    return f"{sign}{significant[0]}{tail}e{'+' if power > 0 else '-'}{abs(power)}"


def _write_rows_arrow(f: BinaryIO, values: Mapping[str, np.ndarray], index: np.ndarray, plain: bool) -> None:
    """:func:`_write_rows` through pyarrow's multithreaded CSV writer (large blocks)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    _, K, I = next(iter(values.values())).shape  # noqa: E741
    arrays = [pa.array(index if index.dtype.kind in "iu" else index.astype(str))]
    for i in range(I):
        for k in range(K):
            arrays += [pa.array(np.ascontiguousarray(arr[:, k, i]), from_pandas=True) for arr in values.values()]
    table = pa.Table.from_arrays(arrays, names=[f"c{j}" for j in range(len(arrays))])
    pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=False, quoting_style="none" if plain else "needed"))
