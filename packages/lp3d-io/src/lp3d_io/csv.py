"""Lightning Pose / DeepLabCut CSV files: predictions, labeled frames, and eks-style outputs.

Layout (one file per view and model)::

    scorer,lp3d,lp3d,lp3d,...          scorer,lp3d,lp3d,...             (multi-animal: 4 rows)
    bodyparts,nose,nose,nose,...       individuals,mouse1,mouse1,...
    coords,x,y,likelihood,...          bodyparts,nose,nose,...
    0,12.5,40.25,0.98,...              coords,x,y,...
    1,...                              0,12.5,40.25,...

The first column holds the row labels: frame numbers for predictions, image paths for labeled
frames (DeepLabCut's newer 3-column index ``labeled-data,video,img.png`` is read too, joined with
``/``). Empty cells are NaN. Besides ``x``, ``y`` (and ``z``) and ``likelihood``, any other coords
(eks writes ``x_ens_median``, ``x_ens_var``, ``x_posterior_var``, ...) are read into
:attr:`PoseTable.extra`.

Numbers are written as pyarrow's CSV writer writes them: the shortest text that reads back to the
same value (of float32 for float32 arrays), positional for 1e-6 <= |x| < 1e10 without a trailing
``.0`` (``12``, ``0.000015``), else ``1.5e-7`` / ``1.2e+12``; NaN as an empty cell. Files up to a few
MB are parsed and formatted with numpy and the standard library (no pyarrow import: the fast path of
``lp3d smooth``); larger ones with pyarrow's multithreaded CSV engine, which gives the same results
(tested), as does every file the plain parser does not take (unusual missing-value tokens, and
malformed files, which are then diagnosed line by line). Writers replace the target atomically, so a
failed write never leaves half a file.
"""

from __future__ import annotations

import contextlib
import csv as _pycsv
import io
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import orjson

from lp3d_io._files import atomic_path
from lp3d_io.dataset import DEFAULT_INDIVIDUAL, DatasetSpec, as_spec, validate

if TYPE_CHECKING:
    import pyarrow as pa
    import xarray as xr

__all__ = [
    "EKS_COORDS",
    "EKS_3D_COORDS",
    "PoseTable",
    "build_pose_table",
    "from_pose_csv",
    "to_pose_csv",
    "to_eks_csv",
    "to_eks_3d_csv",
    "to_triangulation_csv",
    "to_prediction_csvs",
    "to_label_csvs",
]

EKS_COORDS = (
    "x",
    "y",
    "likelihood",
    "x_ens_median",
    "y_ens_median",
    "x_ens_var",
    "y_ens_var",
    "x_posterior_var",
    "y_posterior_var",
)
EKS_3D_COORDS = ("x", "y", "z", "x_posterior_var", "y_posterior_var", "z_posterior_var")
EKS_SCORER = "ensemble-kalman_tracker"
TRIANGULATION_SCORER = "lp3d_triangulate"
_SPACE_COORDS = ("x", "y", "z")
# Files from this size on are parsed by pyarrow, and blocks from this many cells on are written by it:
# its multithreaded engine then repays its import (about 0.05 s).
_ARROW_MIN_BYTES = 1 << 20
_ARROW_MIN_CELLS = 250_000


@dataclass(frozen=True, eq=False)
class PoseTable:
    """The contents of one pose CSV file.

    Attributes:
        position: ``(time, keypoint, individual, space)`` float; NaN for empty cells.
        confidence: ``(time, keypoint, individual)`` the ``likelihood`` columns, or None if the
            file has none (labeled frames).
        keypoint_names: ``(keypoint,)`` body part names, in column order.
        individual_names: ``(individual,)``; ``["individual_0"]`` for a 3-row header.
        index: ``(time,)`` row labels: int64 frame numbers, or str (image paths).
        scorer: the scorer named in the header.
        space: the coordinate names along ``space``: ``("x", "y")`` or ``("x", "y", "z")``.
        extra: other coords (e.g. ``"x_ens_var"``), each ``(time, keypoint, individual)``.
        path: the file read, if any.
    """

    position: np.ndarray
    confidence: np.ndarray | None
    keypoint_names: list[str]
    individual_names: list[str]
    index: np.ndarray
    scorer: str
    space: tuple[str, ...] = ("x", "y")
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    path: Path | None = None

    @property
    def n_frames(self) -> int:
        return self.position.shape[0]


# --- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    n_rows: int  # header lines
    n_index: int  # leading index columns
    n_columns: int  # all columns, index included
    scorer: str
    columns: list[tuple[str, str, str]]  # (individual, bodypart, coord) per data column
    multi_animal: bool


def _read_header(path: Path) -> _Header:
    rows: list[list[str]] = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = _pycsv.reader(f)
            for row in reader:
                rows.append(row)
                if row[:1] == ["coords"] or len(rows) == 4:
                    break
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except (UnicodeDecodeError, _pycsv.Error) as err:
        raise ValueError(f"{path}: not a readable CSV file ({err})") from None
    if not rows:
        raise ValueError(f"{path}: empty file; expected a 3-row header (scorer, bodyparts, coords)")
    multi = len(rows) > 1 and rows[1][:1] == ["individuals"]
    expected = ["scorer", "individuals", "bodyparts", "coords"] if multi else ["scorer", "bodyparts", "coords"]
    for line, want in enumerate(expected):
        got = rows[line][0] if line < len(rows) and rows[line] else "<end of file>"
        if got != want:
            layout = "4-row multi-animal" if multi else "3-row"
            raise ValueError(
                f"{path}: line {line + 1}, column 1: expected {want!r} ({layout} header "
                f"{'/'.join(expected)}), but got {got!r}"
            )
    n_columns = len(rows[0])
    for line, row in enumerate(rows):
        if len(row) != n_columns:
            raise ValueError(
                f"{path}: line {line + 1}: expected {n_columns} header fields (as on line 1), but got {len(row)}"
            )
    coords_row = rows[-1]
    n_index = 1
    while n_index < n_columns and coords_row[n_index] == "":
        n_index += 1
    if n_index == n_columns:
        raise ValueError(f"{path}: line {len(rows)}: expected coords (x, y, ...) after the index, but got none")
    individuals = rows[1] if multi else [DEFAULT_INDIVIDUAL] * n_columns
    bodyparts = rows[-2]
    columns = []
    seen: dict[tuple[str, str, str], int] = {}
    for j in range(n_index, n_columns):
        key = (individuals[j], bodyparts[j], coords_row[j])
        if key in seen:
            raise ValueError(
                f"{path}: columns {seen[key] + 1} and {j + 1}: expected each {'/'.join(key)} once, but it repeats"
            )
        seen[key] = j
        columns.append(key)
    return _Header(len(rows), n_index, n_columns, rows[0][n_index], columns, multi)


def _column_label(header: _Header, j: int) -> str:
    ind, bp, coord = header.columns[j - header.n_index]
    return f"{ind}/{bp}/{coord}" if header.multi_animal else f"{bp}/{coord}"


def _diagnose(path: Path, header: _Header) -> str | None:
    """Finds the first malformed data row (slow path, only after the fast parser failed)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = _pycsv.reader(f)
        for line, row in enumerate(reader, start=1):
            if line <= header.n_rows:
                continue
            if len(row) != header.n_columns:
                hint = " (truncated file?)" if len(row) < header.n_columns else ""
                return f"line {line}: expected {header.n_columns} fields, but got {len(row)}{hint}"
            for j in range(header.n_index, header.n_columns):
                cell = row[j].strip()
                if cell == "":
                    continue
                try:
                    float(cell)
                except ValueError:
                    return (
                        f"line {line}, column {j + 1} ({_column_label(header, j)}): "
                        f"expected a number, but got {row[j]!r}"
                    )
    return None


def from_pose_csv(path: str | os.PathLike, *, dtype: Any = np.float64) -> PoseTable:
    """Reads a Lightning Pose / DeepLabCut CSV (3-row or 4-row multi-animal header).

    Args:
        path: the CSV file.
        dtype: float dtype of the returned arrays (float32 halves memory).

    Returns:
        A :class:`PoseTable`. Keypoints and individuals are in column order; an
        (individual, keypoint) pair without columns (e.g. DeepLabCut's unique body parts) is NaN.

    Raises:
        ValueError: one line naming the file, the line and column, and what was expected.
    """
    path = Path(path)
    header = _read_header(path)
    body = _parse_plain(path, header) if path.stat().st_size < _ARROW_MIN_BYTES else None
    index, column, n_rows = body if body is not None else _parse_arrow(path, header, dtype)
    if n_rows == 0:
        raise ValueError(f"{path}: expected at least one data row after the header, but got none")
    return build_pose_table(
        header.columns, column, n_rows=n_rows, index=index, scorer=header.scorer, path=path, dtype=dtype
    )


_Body = tuple[np.ndarray, Callable[[int], np.ndarray], int]  # row labels, data column j, number of rows


def _parse_plain(path: Path, header: _Header) -> _Body | None:
    """The data rows parsed with the standard library and numpy, or None for what this parser does not
    take (tokens other than numbers and empty cells, malformed rows): pyarrow's parser reads or diagnoses those.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a readable CSV file ({err})") from None
    lines = [line for line in text.split("\n")[header.n_rows :] if line]
    n_index = header.n_index
    if '"' in text:
        rows = list(_pycsv.reader(lines))
        parts = [row[:n_index] + [",".join(row[n_index:])] for row in rows]
    else:
        parts = [line.split(",", n_index) for line in lines]
    if any(len(p) != n_index + 1 for p in parts):
        return None
    if not parts:
        return np.zeros(0, dtype=np.int64), lambda j: np.zeros(0), 0
    cells = "\n".join(p[n_index] for p in parts)
    values = _numbers_orjson(cells)
    if values is None:
        try:
            values = np.loadtxt(io.StringIO(_fill_empty(cells, "nan")), delimiter=",", comments=None, ndmin=2)
        except ValueError:
            return None
    if values.shape != (len(parts), header.n_columns - n_index):
        return None
    if n_index > 1:
        index = np.array(["/".join(p[:n_index]) for p in parts], dtype=str)
    else:
        labels = [p[0] for p in parts]
        try:
            index = np.array(labels, dtype=np.int64)
        except ValueError:
            if "" in labels:
                raise ValueError(f"{path}: column 1: expected a row label on every line, but some are empty") from None
            index = np.array(labels, dtype=str)
    return index, lambda j: values[:, j], len(parts)


_NUMBER_CHARS = frozenset("0123456789.-+eE,\n\r \t")


def _fill_empty(cells: str, token: str) -> str:
    """Comma-separated lines with every empty cell replaced by ``token``."""
    cells = cells.replace(",,", f",{token},").replace(",,", f",{token},")
    cells = cells.replace(",\n", f",{token}\n").replace("\n,", f"\n{token},")
    return (token if cells.startswith(",") else "") + cells + (token if cells.endswith(",") else "")


def _numbers_orjson(cells: str) -> np.ndarray | None:
    """Comma-separated lines of numbers and empty cells (NaN) as a float64 ``(line, column)`` array,
    parsed as JSON by orjson (2x numpy's loadtxt), or None for what JSON does not spell like a CSV
    number (``nan``, ``inf``, ``.5``, ``+1``) and ragged lines."""
    if not set(cells) <= _NUMBER_CHARS:  # JSON's true, false, strings or brackets are not CSV numbers
        return None
    try:
        rows = orjson.loads("[[" + _fill_empty(cells, "null").replace("\n", "],[") + "]]")
        values = np.array(rows, dtype=np.float64)
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return None
    return values if values.ndim == 2 else None


def _parse_arrow(path: Path, header: _Header, dtype: Any) -> _Body:
    """The data rows parsed by pyarrow's multithreaded reader (large files); a malformed file is diagnosed."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{j}" for j in range(header.n_columns)]
    value_type = pa.float32() if np.dtype(dtype) == np.float32 else pa.float64()
    types = {names[j]: (pa.string() if header.n_index > 1 else None) for j in range(header.n_index)}
    types.update({names[j]: value_type for j in range(header.n_index, header.n_columns)})
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(skip_rows=header.n_rows, column_names=names),
            convert_options=pacsv.ConvertOptions(column_types={k: v for k, v in types.items() if v is not None}),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        problem = _diagnose(path, header)
        raise ValueError(f"{path}: {problem or f'malformed CSV data ({err})'}") from None
    if table.num_rows == 0:
        return np.zeros(0, dtype=np.int64), lambda j: np.zeros(0), 0
    return (
        _arrow_index(table, header, path),
        lambda j: table.column(header.n_index + j).to_numpy(),
        table.num_rows,
    )


def build_pose_table(
    columns: Sequence[tuple[str, str, str]],
    column: Callable[[int], np.ndarray],
    *,
    n_rows: int,
    index: np.ndarray,
    scorer: str,
    path: Path | None,
    dtype: Any = np.float64,
) -> PoseTable:
    """Builds a :class:`PoseTable` from flat columns (shared by the CSV and HDF5 readers).

    Args:
        columns: ``(individual, bodypart, coord)`` of each data column, in file order.
        column: returns the values ``(n_rows,)`` of data column ``j``.
        n_rows, index, scorer, path, dtype: as in :class:`PoseTable`.
    """
    dtype = np.dtype(dtype)
    present = set(columns)
    for ind, bp in dict.fromkeys((ind, bp) for ind, bp, _ in columns):
        for coord in ("x", "y"):
            if (ind, bp, coord) not in present:
                name = bp if ind == DEFAULT_INDIVIDUAL else f"{ind}/{bp}"
                raise ValueError(f"{path}: keypoint {name!r}: expected a column {coord!r}, but there is none")
    keypoints = list(dict.fromkeys(bp for _, bp, _ in columns))
    individuals = list(dict.fromkeys(ind for ind, _, _ in columns))
    kp_index = {k: i for i, k in enumerate(keypoints)}
    ind_index = {k: i for i, k in enumerate(individuals)}
    coords = {c for _, _, c in columns}
    space = ("x", "y", "z") if "z" in coords else ("x", "y")
    T, K, I = n_rows, len(keypoints), len(individuals)  # noqa: E741
    position = np.full((T, K, I, len(space)), np.nan, dtype=dtype)
    confidence = np.full((T, K, I), np.nan, dtype=dtype) if "likelihood" in coords else None
    extra: dict[str, np.ndarray] = {}
    for j, (ind, bp, coord) in enumerate(columns):
        values = column(j)
        k, i = kp_index[bp], ind_index[ind]
        if coord in space:
            position[:, k, i, space.index(coord)] = values
        elif coord == "likelihood":
            confidence[:, k, i] = values
        else:
            extra.setdefault(coord, np.full((T, K, I), np.nan, dtype=dtype))[:, k, i] = values
    return PoseTable(
        position=position,
        confidence=confidence,
        keypoint_names=keypoints,
        individual_names=individuals,
        index=index,
        scorer=scorer,
        space=space,
        extra=extra,
        path=path,
    )


def _arrow_index(table: pa.Table, header: _Header, path: Path) -> np.ndarray:
    import pyarrow as pa

    parts = [table.column(j) for j in range(header.n_index)]
    if header.n_index == 1 and pa.types.is_integer(parts[0].type):
        return parts[0].to_numpy().astype(np.int64)
    if any(p.null_count for p in parts) and header.n_index == 1:
        raise ValueError(f"{path}: column 1: expected a row label on every line, but some are empty")
    cols = [np.asarray(p.cast(pa.string()).fill_null("").to_numpy(zero_copy_only=False), dtype=str) for p in parts]
    if len(cols) == 1:
        return cols[0]
    joined = cols[0]
    for c in cols[1:]:
        joined = np.char.add(np.char.add(joined, "/"), c)
    return joined


# --- writing --------------------------------------------------------------------------------------


def _write_header(f: BinaryIO, scorer: str, columns: Sequence[tuple[str, str, str]], multi: bool) -> None:
    buf = io.StringIO()
    writer = _pycsv.writer(buf, lineterminator="\n")
    writer.writerow(["scorer"] + [scorer] * len(columns))
    if multi:
        writer.writerow(["individuals"] + [c[0] for c in columns])
    writer.writerow(["bodyparts"] + [c[1] for c in columns])
    writer.writerow(["coords"] + [c[2] for c in columns])
    f.write(buf.getvalue().encode("utf-8"))


def _columns(
    keypoint_names: Sequence[str], individual_names: Sequence[str], coords: Sequence[str]
) -> list[tuple[str, str, str]]:
    """Column order of every writer: individual, then keypoint, then coord."""
    return [(ind, kp, c) for ind in individual_names for kp in keypoint_names for c in coords]


def _write_rows(
    f: BinaryIO, values: Mapping[str, np.ndarray], index: np.ndarray, *, total_cells: int | None = None
) -> None:
    """Appends rows: ``index (t,)`` and ``values[coord] (t, keypoint, individual)``, NaN as empty cells.

    Columns are ordered individual, keypoint, coord (the order of ``values``). Row labels are quoted
    only when one of them needs it (then all are, as pyarrow's "needed" style quotes every string).
    The engine follows ``total_cells``, the cells the caller writes in all (default: these rows').
    """
    T, K, I = next(iter(values.values())).shape  # noqa: E741
    plain = index.dtype.kind in "iu" or not any(set(str(x)) & set(',"\r\n') for x in index)
    if (T * K * I * len(values) if total_cells is None else total_cells) >= _ARROW_MIN_CELLS:
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


def _write_table(
    path: str | os.PathLike,
    values: Mapping[str, np.ndarray],
    *,
    keypoint_names: Sequence[str],
    individual_names: Sequence[str],
    scorer: str,
    index: Any,
) -> None:
    """Writes ``values[coord] (time, keypoint, individual)`` as a pose CSV, atomically.

    Columns are ordered individual, keypoint, coord (the order of ``values``); a 4-row header is
    written when there is more than one individual.
    """
    T, _, I = next(iter(values.values())).shape  # noqa: E741
    index_arr = np.arange(T) if index is None else np.asarray(index)
    if index_arr.shape != (T,):
        raise ValueError(f"index: expected {T} row labels (one per frame), but got shape {index_arr.shape}")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        _write_header(f, scorer, _columns(keypoint_names, individual_names, list(values)), I > 1)
        _write_rows(f, values, index_arr)


def _pose_values(position: Any, confidence: Any, n_individuals: int | None) -> dict[str, np.ndarray]:
    pos = np.asarray(position)
    if pos.dtype.kind not in "fiu":
        raise ValueError(f"position: expected a float array, but got dtype {pos.dtype}")
    if pos.ndim == 3:
        pos = pos[:, :, None, :]
    if pos.ndim != 4 or pos.shape[-1] not in (2, 3):
        raise ValueError(
            f"position: expected shape (time, keypoint, 2) or (time, keypoint, individual, 2), but got {pos.shape}"
        )
    if n_individuals is not None and pos.shape[2] != n_individuals:
        raise ValueError(f"individual_names: expected {pos.shape[2]} names (from position), but got {n_individuals}")
    values = {_SPACE_COORDS[s]: pos[..., s] for s in range(pos.shape[-1])}
    if confidence is not None:
        conf = np.asarray(confidence)
        if conf.ndim == 2:
            conf = conf[:, :, None]
        if conf.shape != pos.shape[:-1]:
            raise ValueError(f"confidence: expected shape {pos.shape[:-1]} (as position), but got {conf.shape}")
        values["likelihood"] = conf
    return values


def to_pose_csv(
    path: str | os.PathLike,
    position: Any,
    confidence: Any = None,
    *,
    keypoint_names: Sequence[str],
    individual_names: Sequence[str] | None = None,
    scorer: str = "lp3d",
    index: Any = None,
) -> None:
    """Writes a Lightning Pose / DeepLabCut CSV, atomically (temp file, then rename).

    Args:
        path: the output file.
        position: ``(time, keypoint, 2)`` or ``(time, keypoint, individual, 2)`` pixels (a last
            axis of 3 writes ``x, y, z``); NaN is written as an empty cell.
        confidence: ``(time, keypoint[, individual])``, written as ``likelihood`` columns; None
            writes only ``x, y`` (labeled frames).
        keypoint_names: ``(keypoint,)`` body part names.
        individual_names: ``(individual,)``; more than one writes the 4-row multi-animal header.
        scorer: the header's scorer.
        index: ``(time,)`` row labels (frame numbers or image paths); default ``0..T-1``.
    """
    values = _pose_values(position, confidence, None if individual_names is None else len(individual_names))
    T, K, I = next(iter(values.values())).shape  # noqa: E741
    if len(keypoint_names) != K:
        raise ValueError(f"keypoint_names: expected {K} names (from position), but got {len(keypoint_names)}")
    individuals = [DEFAULT_INDIVIDUAL] if individual_names is None and I == 1 else individual_names
    if individuals is None:
        individuals = [f"individual_{i}" for i in range(I)]
    _write_table(
        path, values, keypoint_names=keypoint_names, individual_names=list(individuals), scorer=scorer, index=index
    )


# --- datasets to files ----------------------------------------------------------------------------


def _check_kind(ds: DatasetSpec | xr.Dataset, kind: str) -> None:
    validate(ds, check_values=False)
    if ds.attrs["lp3d_kind"] != kind:
        raise ValueError(f"dataset: expected a {kind} dataset, but got lp3d_kind={ds.attrs['lp3d_kind']!r}")


def _checked(ds: DatasetSpec | xr.Dataset, kind: str) -> DatasetSpec:
    """``ds`` validated, of ``kind``, in numpy form (lazy arrays read)."""
    _check_kind(ds, kind)
    return as_spec(ds)


def _names_of(spec: DatasetSpec, dim: str) -> list[str]:
    return [str(x) for x in spec[dim].values]


def to_eks_csv(
    path: str | os.PathLike,
    smoothed: DatasetSpec | xr.Dataset,
    view: str,
    *,
    scorer: str = EKS_SCORER,
    posterior_variance: str | None = None,
) -> None:
    """Writes one view of a smoothed dataset in the eks per-camera CSV layout.

    Columns per keypoint: ``x, y, likelihood, x_ens_median, y_ens_median, x_ens_var, y_ens_var,
    x_posterior_var, y_posterior_var`` (see :data:`EKS_COORDS`): the smoothed track
    (``reprojection``), the ensemble's mean confidence (``ensemble_confidence``, NaN if absent),
    center and variance, and a posterior variance.

    Args:
        path: the output file.
        smoothed: a smoothed dataset (either form).
        view: which view to write.
        scorer: the header's scorer (eks writes ``ensemble-kalman_tracker``).
        posterior_variance: the variable written as ``*_posterior_var``. Default as eks 4.6:
            ``reprojection_variance`` for a single-view smoother (latent variance only), and
            ``predictive_variance`` (observation noise included) for multi-view smoothers when
            present.
    """
    spec = _checked(smoothed, "smoothed")
    views = _names_of(spec, "view")
    if view not in views:
        raise ValueError(f"view: expected one of {views}, but got {view!r}")
    if posterior_variance is None:
        multi = spec.attrs["smoother"] != "single_view" and "predictive_variance" in spec
        posterior_variance = "predictive_variance" if multi else "reprojection_variance"
    if posterior_variance not in spec.data_vars:
        raise ValueError(f"posterior_variance: expected a variable of the dataset, but got {posterior_variance!r}")
    v = views.index(view)

    def of_view(name: str) -> np.ndarray:  # (time, keypoint, individual[, image_space = x, y])
        return spec[name].values[v]

    values: dict[str, np.ndarray] = {}
    for a, axis in enumerate(("x", "y")):
        values[axis] = of_view("reprojection")[..., a]
    if "ensemble_confidence" in spec:
        values["likelihood"] = of_view("ensemble_confidence")
    else:
        values["likelihood"] = np.full_like(values["x"], np.nan)
    for name, var in (("ens_median", "ensemble_center"), ("ens_var", "ensemble_variance")):
        for a, axis in enumerate(("x", "y")):
            values[f"{axis}_{name}"] = of_view(var)[..., a]
    for a, axis in enumerate(("x", "y")):
        values[f"{axis}_posterior_var"] = of_view(posterior_variance)[..., a]
    _write_table(
        path,
        values,
        keypoint_names=_names_of(spec, "keypoint"),
        individual_names=_names_of(spec, "individual"),
        scorer=scorer,
        index=spec["time"].values,
    )


def to_eks_3d_csv(path: str | os.PathLike, smoothed: DatasetSpec | xr.Dataset, *, scorer: str = EKS_SCORER) -> None:
    """Writes the 3D result of a calibrated smoother in the eks layout.

    Columns per keypoint: ``x, y, z, x_posterior_var, y_posterior_var, z_posterior_var`` (see
    :data:`EKS_3D_COORDS`): ``position`` and ``position_variance`` in world units.
    """
    spec = _checked(smoothed, "smoothed")
    if spec.attrs["smoother"] != "calibrated":
        raise ValueError(f"smoothed: expected a calibrated (3D) result, but got smoother={spec.attrs['smoother']!r}")
    position, variance = spec["position"].values, spec["position_variance"].values  # (time, keypoint, individual, 3)
    values = {axis: position[..., a] for a, axis in enumerate(_SPACE_COORDS)}
    values.update({f"{axis}_posterior_var": variance[..., a] for a, axis in enumerate(_SPACE_COORDS)})
    _write_table(
        path,
        values,
        keypoint_names=_names_of(spec, "keypoint"),
        individual_names=_names_of(spec, "individual"),
        scorer=scorer,
        index=spec["time"].values,
    )


def to_triangulation_csv(
    path: str | os.PathLike, triangulated: DatasetSpec | xr.Dataset, *, scorer: str = TRIANGULATION_SCORER
) -> None:
    """Writes a triangulated dataset in the layout of the eks 3D CSV.

    Columns per keypoint: ``x, y, z`` (world units, empty where too few views saw it), ``n_views``
    (views used) and ``reprojection_error_<view>`` per view (pixels, empty where the view has no
    observation).
    """
    spec = _checked(triangulated, "triangulated")
    position = spec["position"].values  # (time, keypoint, individual, 3)
    values = {axis: position[..., a] for a, axis in enumerate(_SPACE_COORDS)}
    values["n_views"] = spec["n_views"].values.astype(np.float64)  # written as integers
    for v, view in enumerate(_names_of(spec, "view")):
        values[f"reprojection_error_{view}"] = spec["reprojection_error"].values[v]
    _write_table(
        path,
        values,
        keypoint_names=_names_of(spec, "keypoint"),
        individual_names=_names_of(spec, "individual"),
        scorer=scorer,
        index=spec["time"].values,
    )


def to_prediction_csvs(
    predictions: DatasetSpec | xr.Dataset,
    directory: str | os.PathLike,
    *,
    template: str = "{session}{view}.{member}.csv",
    scorer: str = "lp3d",
) -> dict[tuple[str, str], Path]:
    """Writes a predictions dataset as one CSV per (member, view).

    All files are written together, one block of frames at a time (the dataset's chunks along
    ``time`` when it is lazy), so a store is read once and never whole; each file appears
    atomically when complete.

    Args:
        predictions: a predictions dataset (numpy form, or xarray in memory or lazy).
        directory: output folder (created if missing).
        template: file name; ``{session}`` is the session name followed by ``_`` (empty if
            none), ``{view}`` and ``{member}`` the names. The default names read back with
            :func:`lp3d_io.grouping.read_predictions`.
        scorer: the header's scorer.

    Returns:
        ``{(member, view): path}`` of the files written.
    """
    _check_kind(predictions, "predictions")
    if isinstance(predictions, DatasetSpec):
        predictions = predictions.to_xarray()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    session = f"{predictions.attrs['session']}_" if "session" in predictions.attrs else ""
    members = [str(m) for m in predictions["member"].values]
    views = [str(v) for v in predictions["view"].values]
    individuals = [str(i) for i in predictions["individual"].values]
    columns = _columns([str(k) for k in predictions["keypoint"].values], individuals, ("x", "y", "likelihood"))
    T = predictions.sizes["time"]
    step = (predictions.chunksizes.get("time") or (T,))[0] or 1
    paths = {(m, v): directory / template.format(session=session, view=v, member=m) for m in members for v in views}
    with contextlib.ExitStack() as stack:
        files = {}
        for key, path in paths.items():
            files[key] = stack.enter_context(open(stack.enter_context(atomic_path(path)), "wb"))
            _write_header(files[key], scorer, columns, len(individuals) > 1)
        for start in range(0, T, step):
            block = predictions.isel(time=slice(start, start + step))
            pos = block["position"].transpose("member", "view", "time", "keypoint", "individual", "space").values
            conf = block["confidence"].transpose("member", "view", "time", "keypoint", "individual").values
            index = block["time"].values
            for (m, v), f in files.items():
                mi, vi = members.index(m), views.index(v)
                values = {"x": pos[mi, vi, ..., 0], "y": pos[mi, vi, ..., 1], "likelihood": conf[mi, vi]}
                _write_rows(f, values, index, total_cells=len(files) * T * len(columns))
    return paths


def to_label_csvs(
    labels: DatasetSpec | xr.Dataset,
    directory: str | os.PathLike,
    *,
    template: str = "CollectedData_{view}.csv",
    scorer: str = "lp3d",
) -> dict[str, Path]:
    """Writes a labels dataset in the Lightning Pose multi-view layout: one CSV per view.

    Each file has ``x, y`` columns per keypoint and the image paths as row labels.

    Returns:
        ``{view: path}`` of the files written.
    """
    _check_kind(labels, "labels")
    if isinstance(labels, DatasetSpec):
        labels = labels.to_xarray()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for view in labels["view"].values:
        one = labels.sel(view=view)
        path = directory / template.format(view=view)
        to_pose_csv(
            path,
            one["position"].transpose("frame", "keypoint", "individual", "space").values,
            keypoint_names=[str(k) for k in labels["keypoint"].values],
            individual_names=[str(i) for i in labels["individual"].values],
            scorer=scorer,
            index=one["image_path"].values,
        )
        written[str(view)] = path
    return written
