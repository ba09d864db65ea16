"""One zarr store per session: predictions, smoothed results, labels and the calibration.

Layout (a zarr v2 hierarchy on the local file system)::

    session.zarr/                 root attrs: lp3d_store_format, lp3d_io_version, session
        predictions/<name>/       a predictions dataset (one model or an ensemble)
        smoothed/<name>/          a smoothed dataset
        labels/<name>/            a labels dataset
        calibration/              the camera rig (:mod:`lp3d_io.calibration`)

Every dataset group is a self-contained zarr group with its own consolidated metadata
(``.zmetadata``), written by xarray in the netCDF-like zarr layout. Arrays with a ``time``
dimension are chunked along time (``time_chunk`` frames) and one keypoint per chunk, so one keypoint
across a long video reads without loading the rest; chunks are compressed with Blosc/zstd and
bit shuffling.

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

import os
import re
import shutil
import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numcodecs
import numpy as np
import xarray as xr
import zarr

from lp3d_io._files import lazy_chunks
from lp3d_io.calibration import calibration_from_dataset, calibration_to_dataset
from lp3d_io.dataset import validate

if TYPE_CHECKING:
    from lp3d_eks import CameraRig

__all__ = [
    "STORE_FORMAT",
    "Store",
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
CALIBRATION_GROUP = "calibration"
_GROUP_KINDS = ("predictions", "smoothed", "labels")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=+-]*")
_ZARR_FORMAT = 2
_METADATA = ".zmetadata"


def _compressor() -> numcodecs.abc.Codec:
    return numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE)


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
        zarr.open_group(path, mode="w-", zarr_format=_ZARR_FORMAT, attributes=attrs)
        return Store(path, False, session, STORE_FORMAT)
    try:
        root = zarr.open_group(path, mode="r", zarr_format=_ZARR_FORMAT)
    except (FileNotFoundError, ValueError, zarr.errors.GroupNotFoundError) as err:
        raise ValueError(f"{path}: expected an lp3d session store (a zarr v2 group), but got {err}") from None
    attrs = dict(root.attrs)
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


def _check_group(group: str, ds: xr.Dataset | None = None) -> None:
    parts = group.split("/")
    ok = group == CALIBRATION_GROUP or (
        len(parts) == 2 and parts[0] in _GROUP_KINDS and _NAME.fullmatch(parts[1]) is not None
    )
    if not ok:
        raise ValueError(
            f"group: expected 'predictions/<name>', 'smoothed/<name>', 'labels/<name>' or 'calibration' "
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
    for kind in _GROUP_KINDS:
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


def _encoding(ds: xr.Dataset, time_chunk: int) -> dict[Hashable, dict[str, Any]]:
    encoding: dict[Hashable, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        if var.dtype.kind not in "fiub":
            continue
        enc: dict[str, Any] = {"compressors": (_compressor(),)}
        if "time" in var.dims:
            sizes = {"time": time_chunk, "keypoint": 1}  # the group's chunking for all later appends
            enc["chunks"] = tuple(sizes.get(str(d), n) for d, n in var.sizes.items())
        encoding[name] = enc
    return encoding


def _plain(ds: xr.Dataset, time_chunk: int) -> xr.Dataset:
    """A shallow copy without inherited encodings, dask chunks aligned with the zarr chunks."""
    out = ds.copy(deep=False)
    for var in out.variables.values():
        var.encoding = {}
    if any(var.chunks is not None for var in out.variables.values()):
        out = out.chunk({d: (time_chunk if d == "time" else 1 if d == "keypoint" else -1) for d in out.dims})
    return out


def _commit(group_path: Path) -> None:
    """Rewrites the group's consolidated metadata: the commit point of every write."""
    zarr.consolidate_metadata(str(group_path), zarr_format=_ZARR_FORMAT)


def write_group(
    store: Store | str | os.PathLike,
    group: str,
    ds: xr.Dataset,
    overwrite: bool = False,
    *,
    time_chunk: int = DEFAULT_TIME_CHUNK,
) -> None:
    """Writes a dataset as a new group (validated first; appears whole or not at all).

    Args:
        store: an open store or its path (created if missing).
        group: ``"predictions/<name>"``, ``"smoothed/<name>"``, ``"labels/<name>"`` or
            ``"calibration"``; must match the dataset's ``lp3d_kind``.
        ds: the dataset.
        overwrite: replace an existing group; otherwise that is an error.
        time_chunk: frames per chunk along ``time``.

    Raises:
        FileExistsError: the group exists and ``overwrite`` is False.
        ValueError: the dataset does not follow the convention, or group and kind disagree.
    """
    s = _resolve(store, write=True)
    _check_group(group, ds)
    validate(ds)
    if time_chunk < 1:
        raise ValueError(f"time_chunk: expected a positive number of frames, but got {time_chunk}")
    final = s.path / group
    if final.exists() and not overwrite:
        raise FileExistsError(f"{s.path}: group {group!r} exists; pass overwrite=True to replace it")
    if final.parent != s.path and not (final.parent / ".zgroup").exists():
        zarr.open_group(final.parent, mode="a", zarr_format=_ZARR_FORMAT)
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex}"
    try:
        plain = _plain(ds, time_chunk)
        plain.to_zarr(
            tmp, mode="w-", zarr_format=_ZARR_FORMAT, consolidated=False, encoding=_encoding(plain, time_chunk)
        )
        _commit(tmp)
        if final.exists():
            old = final.parent / f".{final.name}.old-{uuid.uuid4().hex}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old)
        else:
            os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _open(path: Path, *, lazy: bool = True) -> xr.Dataset:
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
        write_group(s, group, ds_chunk, time_chunk=time_chunk)
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
    write_group(store, CALIBRATION_GROUP, calibration_to_dataset(rig), overwrite)


def read_calibration(store: Store | str | os.PathLike) -> CameraRig:
    """The camera rig stored in the store's ``calibration`` group."""
    return calibration_from_dataset(read_group(store, CALIBRATION_GROUP))
