"""One zarr store per session: predictions, smoothed results, labels and the calibration.

Layout (a zarr v2 hierarchy on the local file system)::

    session.zarr/                 root attrs: lp3d_store_format, lp3d_io_version, session
        predictions/<name>/       a predictions dataset (one model or an ensemble)
        smoothed/<name>/          a smoothed dataset
        labels/<name>/            a labels dataset
        calibration/              the camera rig (:mod:`lp3d_io.calibration`)

(the usual group names, e.g. ``smoothed/eks``, are in :mod:`lp3d_io.layout`).

Every dataset group is a self-contained zarr group with its own consolidated metadata
(``.zmetadata``), in the netCDF-like zarr layout xarray uses (``_ARRAY_DIMENSIONS``, NaN fill
values). Chunks and compression follow one policy (:func:`storage`): a variable with ``time`` of at
most :data:`SMALL_VARIABLE_BYTES` is stored in chunks of up to ``time_chunk`` frames by all
keypoints, uncompressed (a short session is a few files, written fast: compressing costs more time
than the whole rest of ``lp3d smooth`` and saves 6 to 14% on pose data); a larger one, and a group
grown by :func:`append_frames`, in chunks of whole frames (every keypoint) of about
:data:`CHUNK_BYTES`, compressed with Blosc zstd and bit shuffling (one frame of a long video reads
one chunk of about 256 KiB per variable). Stores written with other chunks (earlier lp3d-io wrote
large arrays in ``time_chunk`` frames by one keypoint) read the same: each array's metadata names
its chunks.

Two writers make that same layout: a dataset in numpy form (:class:`~lp3d_io.dataset.NumpyDataset`)
is written with numpy and json alone (numcodecs only for compressed arrays; no zarr or xarray
import: the fast path of ``lp3d smooth``); an :class:`xarray.Dataset` (in memory or dask-backed)
through xarray and zarr, which also appends. Both write the same files byte for byte (tested).

**Commit protocol.** Readers open a group only through its consolidated metadata, and that file
is the commit record: what it describes is what a reader sees. Writers never change it until all
new data is on disk:

- :func:`write_group` writes a new group to a hidden temporary folder and renames it into place;
- :func:`append_frames` resizes the arrays and writes the new chunks (every chunk and metadata
  file is written to a temporary file and renamed, so none is ever half-written), and only then
  rewrites the consolidated metadata (also atomically).

A writer killed at any point leaves the group as it was after its last completed append: earlier
frames intact, no partial chunk visible. The next append starts from that committed length. One
writer per group at a time.

Reads are lazy: dask-backed when dask is installed, otherwise xarray's lazily indexed arrays.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from lp3d_io.calibration import calibration_arrays, calibration_from_dataset
from lp3d_io.dataset import NumpyDataset, Variable, validate
from lp3d_io.files import atomic_path, lazy_chunks
from lp3d_io.layout import CALIBRATION_GROUP, GROUP_KINDS

if TYPE_CHECKING:
    import xarray as xr
    from lp3d_eks import CameraRig

__all__ = [
    "STORE_FORMAT",
    "SMALL_VARIABLE_BYTES",
    "CHUNK_BYTES",
    "Store",
    "Storage",
    "storage",
    "is_store",
    "open_store",
    "list_groups",
    "write_group",
    "read_group",
    "append_frames",
    "write_calibration",
    "read_calibration",
]

STORE_FORMAT = 1
DEFAULT_TIME_CHUNK = 4096
SMALL_VARIABLE_BYTES = 4 << 20
CHUNK_BYTES = 256 << 10
"""About this many bytes (uncompressed) per chunk of a large array: whole frames, every keypoint."""
MIN_TIME_CHUNK = 16
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=+-]*")
_ZARR_FORMAT = 2
_METADATA = ".zmetadata"
_JSON_INDENT = 2  # zarr's


@dataclass(frozen=True)
class Store:
    """An open session store.

    Attributes:
        path: the store's folder.
        read_only: opened with mode ``"r"``.
        session: the session name recorded in the store, if any.
        format_version: the store format it was written with.
    """

    path: Path
    read_only: bool
    session: str | None
    format_version: int


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"attribute value: expected JSON-compatible data, but got {type(value).__name__}")


def _dump(path: Path, document: Any, *, indent: int | None = _JSON_INDENT) -> None:
    path.write_text(json.dumps(document, indent=indent, allow_nan=True, default=_json_default), encoding="utf-8")


def _write_group_metadata(folder: Path, attrs: Mapping[str, Any]) -> None:
    """A zarr v2 group's own metadata (``.zgroup``, ``.zattrs``) in an existing folder."""
    _dump(folder / ".zgroup", {"zarr_format": _ZARR_FORMAT})
    _dump(folder / ".zattrs", dict(attrs))


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def is_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a zarr store (a ``.zarr`` folder, or a folder with zarr metadata)."""
    path = Path(path)
    return path.is_dir() and (path.suffix == ".zarr" or (path / ".zgroup").exists() or (path / "zarr.json").exists())


def open_store(path: str | os.PathLike, mode: str = "a", *, session: str | None = None) -> Store:
    """Opens (or, with mode ``"a"``, creates) a session store.

    Args:
        path: the store's folder (conventionally ``<session>.zarr``).
        mode: ``"r"`` read only (must exist) or ``"a"`` read and write (created if missing).
        session: session name recorded when the store is created; checked if it exists.

    Raises:
        FileNotFoundError: mode ``"r"`` and no store there.
        ValueError: not an lp3d store, written by a newer lp3d-io, or another session.
    """
    if mode not in ("r", "a"):
        raise ValueError(f"mode: expected 'r' or 'a', but got {mode!r}")
    path = Path(path)
    if not path.exists():
        if mode == "r":
            raise FileNotFoundError(f"{path}: no store there")
        from lp3d_io import __version__

        attrs: dict[str, Any] = {"lp3d_store_format": STORE_FORMAT, "lp3d_io_version": __version__}
        if session is not None:
            attrs["session"] = str(session)
        path.mkdir(parents=True)
        _write_group_metadata(path, attrs)
        return Store(path, False, session, STORE_FORMAT)
    try:
        if _read_json(path / ".zgroup").get("zarr_format") != _ZARR_FORMAT:
            raise ValueError("not zarr format 2")
        attrs = _read_json(path / ".zattrs") if (path / ".zattrs").exists() else {}
    except (OSError, ValueError, AttributeError) as err:
        raise ValueError(f"{path}: expected an lp3d session store (a zarr v2 group), but got {err}") from None
    version = attrs.get("lp3d_store_format")
    if not isinstance(version, int):
        raise ValueError(f"{path}: expected attribute lp3d_store_format (an lp3d store), but got {version!r}")
    if version > STORE_FORMAT:
        raise ValueError(
            f"{path}: written by a newer lp3d-io ({attrs.get('lp3d_io_version', '?')}): expected store format "
            f"<= {STORE_FORMAT}, but got {version}; upgrade lp3d-io to read it"
        )
    stored_session = attrs.get("session")
    if session is not None and stored_session is not None and session != stored_session:
        raise ValueError(f"{path}: expected session {session!r}, but the store holds {stored_session!r}")
    return Store(path, mode == "r", stored_session, version)


def _resolve(store: Store | str | os.PathLike, *, write: bool) -> Store:
    s = store if isinstance(store, Store) else open_store(store, "a" if write else "r")
    if write and s.read_only:
        raise ValueError(f"{s.path}: opened read-only (mode 'r'); open it with mode 'a' to write")
    return s


def _check_group(group: str, ds: NumpyDataset | xr.Dataset | None = None) -> None:
    parts = group.split("/")
    ok = group == CALIBRATION_GROUP or (
        len(parts) == 2 and parts[0] in GROUP_KINDS and _NAME.fullmatch(parts[1]) is not None
    )
    if not ok:
        raise ValueError(
            f"group: expected 'predictions/<name>', 'smoothed/<name>', 'labels/<name>', 'triangulated/<name>' "
            f"or 'calibration' "
            f"(name of letters, digits, _ . = + -), but got {group!r}"
        )
    if ds is not None:
        kind = ds.attrs.get("lp3d_kind")
        want = "calibration" if group == CALIBRATION_GROUP else parts[0]
        if kind != want:
            raise ValueError(f"group {group!r}: expected a {want} dataset, but got lp3d_kind={kind!r}")


def list_groups(store: Store | str | os.PathLike) -> list[str]:
    """The committed dataset groups of a store, e.g. ``["predictions/ensemble", "calibration"]``."""
    s = _resolve(store, write=False)
    groups = []
    for kind in GROUP_KINDS:
        folder = s.path / kind
        if folder.is_dir():
            groups += [
                f"{kind}/{d.name}"
                for d in sorted(folder.iterdir())
                if _NAME.fullmatch(d.name) and (d / _METADATA).exists()
            ]
    if (s.path / CALIBRATION_GROUP / _METADATA).exists():
        groups.append(CALIBRATION_GROUP)
    return groups


class Storage(NamedTuple):
    """How one array is stored: its chunk shape, and whether chunks are Blosc-compressed."""

    chunks: tuple[int, ...]
    compressed: bool


def storage(
    dims: tuple[str, ...], shape: tuple[int, ...], itemsize: int, time_chunk: int, *, growable: bool = False
) -> Storage:
    """The chunks and compression of one array in a store: the policy both writers follow.

    A short session is a few files, written fast; a long one reads by keypoint and stays compact:

    - arrays without ``time`` are one uncompressed chunk;
    - an array with ``time`` of at most :data:`SMALL_VARIABLE_BYTES` is chunked ``time_chunk``
      frames (or all frames when there are fewer: no padding) by all keypoints, uncompressed;
    - a larger one, and every array with ``time`` of a ``growable`` group (made by
      :func:`append_frames`, which keeps its chunks while it grows), is chunked by whole frames
      (every keypoint): the largest power of two of frames whose bytes fit :data:`CHUNK_BYTES` (at
      least :data:`MIN_TIME_CHUNK`, at most ``time_chunk``), compressed with Blosc zstd and bit
      shuffling. One frame (a viewer playing or jumping) reads one chunk of about 256 KiB per array;
      a whole session is read chunk by chunk in time order.

    Every other dimension is whole.
    """
    if "time" not in dims:
        return Storage(tuple(max(n, 1) for n in shape), False)
    n_time = shape[dims.index("time")]
    small = not growable and int(np.prod(shape, dtype=np.int64)) * itemsize <= SMALL_VARIABLE_BYTES
    if small:
        frames = min(time_chunk, n_time)
    else:
        other = [n for d, n in zip(dims, shape, strict=True) if d != "time"]
        per_frame = itemsize * int(np.prod(other, dtype=np.int64))
        fitting = CHUNK_BYTES // max(per_frame, 1)
        frames = min(max(1 << max(fitting.bit_length() - 1, 0), MIN_TIME_CHUNK), time_chunk)
        if not growable:
            frames = min(frames, n_time)
    return Storage(tuple(max(frames if d == "time" else n, 1) for d, n in zip(dims, shape, strict=True)), not small)


def _compressor():  # numcodecs is imported only for large arrays, whose writing repays it
    import numcodecs

    return numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE)


def _storage_of(var: xr.Variable | xr.DataArray, time_chunk: int, growable: bool) -> Storage:
    return storage(tuple(map(str, var.dims)), var.shape, var.dtype.itemsize, time_chunk, growable=growable)


def _encoding(ds: xr.Dataset, time_chunk: int, growable: bool) -> dict[Hashable, dict[str, Any]]:
    """xarray's zarr encoding for the storage policy."""
    encoding: dict[Hashable, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        chunks, compressed = _storage_of(var, time_chunk, growable)
        encoding[name] = {"chunks": chunks, "compressors": (_compressor(),) if compressed else None}
    return encoding


def _plain(ds: xr.Dataset, time_chunk: int, growable: bool) -> xr.Dataset:
    """A shallow copy without inherited encodings, dask chunks aligned with the zarr chunks."""
    out = ds.copy(deep=False)
    for var in out.variables.values():
        var.encoding = {}
    for name, var in out.data_vars.items():
        if var.chunks is not None:
            out[name] = var.chunk(dict(zip(var.dims, _storage_of(var, time_chunk, growable).chunks, strict=True)))
    return out


def _fill_value(dtype: np.dtype) -> Any:
    """The zarr fill value xarray writes: NaN for floats, none otherwise."""
    return "NaN" if dtype.kind == "f" else None


def _write_array(folder: Path, var: Variable, how: Storage) -> None:
    """One zarr v2 array (C order) as xarray's writer lays it out."""
    values = np.asarray(var.values)
    dtype = values.dtype.newbyteorder("<") if values.dtype.byteorder == ">" else values.dtype
    chunks = how.chunks
    codec = _compressor() if how.compressed else None
    folder.mkdir()
    _dump(
        folder / ".zarray",
        {
            "shape": list(values.shape),
            "chunks": list(chunks),
            "dtype": dtype.str,
            "fill_value": _fill_value(dtype),
            "order": "C",
            "filters": None,
            "dimension_separator": ".",
            "compressor": None if codec is None else codec.get_config(),
            "zarr_format": _ZARR_FORMAT,
        },
    )
    _dump(folder / ".zattrs", {**var.attrs, "_ARRAY_DIMENSIONS": list(var.dims)})
    padding = np.nan if dtype.kind == "f" else dtype.type()
    grid = [range(-(-n // c)) for n, c in zip(values.shape, chunks, strict=True)]
    for key in product(*grid):
        block = values[tuple(slice(k * c, (k + 1) * c) for k, c in zip(key, chunks, strict=True))]
        if block.shape != chunks:  # zarr v2 stores edge chunks whole, padded with the fill value
            full = np.full(chunks, padding, dtype=dtype)
            full[tuple(slice(0, n) for n in block.shape)] = block
            block = full
        block = np.ascontiguousarray(block, dtype=dtype)
        (folder / ".".join(map(str, key))).write_bytes(block.tobytes() if codec is None else codec.encode(block))


def _write_numpy(folder: Path, spec: NumpyDataset, time_chunk: int, growable: bool) -> None:
    """Writes a complete new group from the numpy form: xarray's zarr layout, with numpy and json alone."""
    folder.mkdir()
    _write_group_metadata(folder, spec.attrs)
    arrays = {**{dim: Variable((dim,), values) for dim, values in spec.coords.items()}, **spec.data_vars}
    for name, var in arrays.items():
        how = storage(var.dims, var.shape, var.dtype.itemsize, time_chunk, growable=growable)
        _write_array(folder / name, var, how)


def _write_xarray(folder: Path, ds: xr.Dataset, time_chunk: int, growable: bool) -> None:
    """Writes a complete new group from an xarray dataset (in memory or dask-backed) through zarr."""
    plain = _plain(ds, time_chunk, growable)
    plain.to_zarr(
        folder, mode="w-", zarr_format=_ZARR_FORMAT, consolidated=False, encoding=_encoding(plain, time_chunk, growable)
    )


def _commit(group_path: Path) -> None:
    """Rewrites the group's consolidated metadata, atomically: the commit point of every write."""
    metadata: dict[str, Any] = {
        ".zgroup": _read_json(group_path / ".zgroup"),
        ".zattrs": _read_json(group_path / ".zattrs"),
    }
    for array in sorted(p for p in group_path.iterdir() if (p / ".zarray").exists()):
        attrs = array / ".zattrs"
        metadata[f"{array.name}/.zattrs"] = _read_json(attrs) if attrs.exists() else {}
        metadata[f"{array.name}/.zarray"] = _read_json(array / ".zarray")
    with atomic_path(group_path / _METADATA) as tmp:
        _dump(tmp, {"metadata": metadata, "zarr_consolidated_format": 1}, indent=None)


def write_group(
    store: Store | str | os.PathLike,
    group: str,
    ds: NumpyDataset | xr.Dataset,
    overwrite: bool = False,
    *,
    time_chunk: int = DEFAULT_TIME_CHUNK,
) -> None:
    """Writes a dataset as a new group (validated first; appears whole or not at all).

    Args:
        store: an open store or its path (created if missing).
        group: ``"predictions/<name>"``, ``"smoothed/<name>"``, ``"labels/<name>"``,
            ``"triangulated/<name>"`` or ``"calibration"``; must match the dataset's ``lp3d_kind``.
        ds: the dataset, in numpy form (written without zarr) or an xarray dataset.
        overwrite: replace an existing group; otherwise that is an error.
        time_chunk: at most this many frames per chunk along ``time`` (see :func:`storage`).

    Raises:
        FileExistsError: the group exists and ``overwrite`` is False.
        ValueError: the dataset does not follow the convention, or group and kind disagree.
    """
    _write_new_group(store, group, ds, overwrite, time_chunk, growable=False)


def _write_new_group(
    store: Store | str | os.PathLike,
    group: str,
    ds: NumpyDataset | xr.Dataset,
    overwrite: bool,
    time_chunk: int,
    *,
    growable: bool,
) -> None:
    s = _resolve(store, write=True)
    _check_group(group, ds)
    validate(ds)
    if time_chunk < 1:
        raise ValueError(f"time_chunk: expected a positive number of frames, but got {time_chunk}")
    final = s.path / group
    if final.exists() and not overwrite:
        raise FileExistsError(f"{s.path}: group {group!r} exists; pass overwrite=True to replace it")
    if final.parent != s.path and not (final.parent / ".zgroup").exists():
        final.parent.mkdir(exist_ok=True)
        _write_group_metadata(final.parent, {})
    with atomic_path(final, create=False) as tmp:
        if isinstance(ds, NumpyDataset):
            _write_numpy(tmp, ds, time_chunk, growable)
        else:
            _write_xarray(tmp, ds, time_chunk, growable)
        _commit(tmp)


def _open(path: Path, *, lazy: bool = True) -> xr.Dataset:
    import xarray as xr

    return xr.open_zarr(path, consolidated=True, chunks=lazy_chunks() if lazy else None)


def read_group(store: Store | str | os.PathLike, group: str) -> xr.Dataset:
    """Opens a group lazily (dask-backed when dask is installed): nothing is read until used.

    Raises:
        FileNotFoundError: no such group (the message lists the groups there are).
    """
    s = _resolve(store, write=False)
    _check_group(group)
    path = s.path / group
    if not (path / _METADATA).exists():
        raise FileNotFoundError(f"{s.path}: expected a group {group!r}, but the store has {list_groups(s)}")
    ds = _open(path)
    validate(ds, check_values=False)
    _check_group(group, ds)
    return ds


def _check_compatible(stored: xr.Dataset, chunk: xr.Dataset, group: str) -> None:
    where = f"append to {group!r}"
    if set(stored.data_vars) != set(chunk.data_vars):
        raise ValueError(f"{where}: expected variables {sorted(stored.data_vars)}, but got {sorted(chunk.data_vars)}")
    for name, var in chunk.data_vars.items():
        if set(var.dims) != set(stored[name].dims):
            raise ValueError(f"{where}: variable {name!r}: expected dims {stored[name].dims}, but got {var.dims}")
    for dim in chunk.dims:
        if dim == "time" or dim not in stored.coords:
            continue
        want, got = stored[dim].values, chunk[dim].values
        if want.shape != got.shape or not np.array_equal(want, got):
            raise ValueError(f"{where}: coordinate {dim!r}: expected {want.tolist()}, but got {got.tolist()}")
    for name, var in chunk.data_vars.items():
        if "time" not in var.dims and not np.array_equal(
            stored[name].values, var.transpose(*stored[name].dims).values, equal_nan=True
        ):
            raise ValueError(f"{where}: variable {name!r} has no time axis and differs from the stored values")


def append_frames(
    store: Store | str | os.PathLike, group: str, ds_chunk: xr.Dataset, *, time_chunk: int = DEFAULT_TIME_CHUNK
) -> int:
    """Appends frames to a group along ``time`` (creating the group with the first chunk).

    The chunk must have the group's variables and names along every other dimension. Its frames
    are numbered on from the group's last frame: its ``time`` coordinate must be either ``0..n-1``
    or already that continuation. See the module docstring for what a killed writer leaves.

    Args:
        store: an open store or its path.
        group: the group, as for :func:`write_group`.
        ds_chunk: a dataset of the group's kind with ``n`` frames.
        time_chunk: frames per chunk along ``time`` when this call creates the group.

    Returns:
        The number of frames in the group after the append.
    """
    s = _resolve(store, write=True)
    _check_group(group, ds_chunk)
    validate(ds_chunk)
    if "time" not in ds_chunk.dims:
        raise ValueError(
            f"append to {group!r}: expected a dataset with a time dimension, but got {tuple(ds_chunk.dims)}"
        )
    path = s.path / group
    if not (path / _METADATA).exists():
        _write_new_group(s, group, ds_chunk, False, time_chunk, growable=True)
        return ds_chunk.sizes["time"]
    stored = _open(path, lazy=False)
    _check_compatible(stored, ds_chunk, group)
    n0, n = stored.sizes["time"], ds_chunk.sizes["time"]
    if n == 0:
        return n0
    last = int(stored["time"].values[-1]) if n0 else -1
    new_time = last + 1 + np.arange(n, dtype=np.int64)
    got = ds_chunk["time"].values
    if not (np.array_equal(got, new_time) or np.array_equal(got, np.arange(n))):
        raise ValueError(
            f"append to {group!r}: expected time {new_time[0]}..{new_time[-1]} (continuing the store) or "
            f"0..{n - 1}, but got {got[0]}..{got[-1]}"
        )
    time_vars = {str(name): var for name, var in stored.variables.items() if "time" in var.dims}
    for folder in [path] + [path / name for name in time_vars]:  # temp files of a writer killed mid-file
        for stale in folder.glob("*.partial"):
            stale.unlink(missing_ok=True)
    import zarr

    zgroup = zarr.open_group(path, mode="r+", zarr_format=_ZARR_FORMAT, use_consolidated=True)
    for name, var in time_vars.items():
        array = zgroup[name]
        axis = var.dims.index("time")
        values = new_time if name == "time" else ds_chunk[name].transpose(*var.dims).values
        shape = list(array.shape)
        shape[axis] = n0 + n
        array.resize(tuple(shape))
        region = [slice(None)] * len(shape)
        region[axis] = slice(n0, n0 + n)
        array[tuple(region)] = np.asarray(values, dtype=array.dtype)
    _commit(path)
    return n0 + n


def write_calibration(store: Store | str | os.PathLike, rig: CameraRig, overwrite: bool = False) -> None:
    """Stores a camera rig in the store's ``calibration`` group."""
    write_group(store, CALIBRATION_GROUP, calibration_arrays(rig), overwrite)


def read_calibration(store: Store | str | os.PathLike) -> CameraRig:
    """The camera rig stored in the store's ``calibration`` group."""
    return calibration_from_dataset(read_group(store, CALIBRATION_GROUP))
