"""Parsing pose CSV files (private to :mod:`lp3d_io.csv`): the header, then the body with numpy and
the standard library for small files, with pyarrow's multithreaded engine for large ones or for
what the plain parser does not take, and a line-by-line diagnosis of malformed files."""

from __future__ import annotations

import csv as _pycsv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from lp3d_io.dataset import DEFAULT_INDIVIDUAL
from lp3d_io.pose_table import PoseTable, build_pose_table

if TYPE_CHECKING:
    import pyarrow as pa

# Files from this size on are parsed by pyarrow: its multithreaded engine then repays its import (~0.05 s).
ARROW_MIN_BYTES = 1 << 20


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


def read_pose_csv(path: Path, dtype: Any) -> PoseTable:
    """The file's contents (see :func:`lp3d_io.csv.from_pose_csv`)."""
    header = _read_header(path)
    body = _parse_plain(path, header) if path.stat().st_size < ARROW_MIN_BYTES else None
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
