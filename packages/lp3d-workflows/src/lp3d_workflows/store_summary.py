"""What a store (or a netCDF file) holds, without reading its arrays (``lp3d info``, the app's project page)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lp3d_workflows.errors import UserError

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["DatasetSummary", "StoreSummary", "summarize_dataset", "summarize_store"]

_ATTRS = ("session", "smoother", "source_software", "fps", "lp3d_version")
_NAMED_DIMS = ("view", "member", "keypoint", "individual")


@dataclass(frozen=True)
class DatasetSummary:
    """One dataset (a store's group, or a netCDF file).

    Attributes:
        name: the group name (or the file name).
        kind: its ``lp3d_kind`` (``predictions``, ``smoothed``, ...).
        sizes: ``{dimension: length}``.
        variables: ``(name, dimensions, dtype)`` of each data variable.
        names: ``{dimension: names}`` of the named dimensions (views, members, keypoints, individuals).
        attrs: the attributes worth showing (session, smoother, fps, ...), as text.
        source_files: the files it was read from, if recorded.
        options: the settings it was made with, if recorded (``lp3d_options``).
    """

    name: str
    kind: str
    sizes: dict[str, int]
    variables: list[tuple[str, tuple[str, ...], str]]
    names: dict[str, list[str]] = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)
    source_files: list[str] = field(default_factory=list)
    options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreSummary:
    """A store or netCDF file.

    Attributes:
        path: where it is.
        n_bytes: its size on disk.
        session: the store's session name (None for netCDF or an unnamed store).
        format_version: the store format (None for netCDF).
        datasets: one summary per group.
    """

    path: Path
    n_bytes: int
    session: str | None
    format_version: int | None
    datasets: list[DatasetSummary]


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def summarize_dataset(name: str, ds: xr.Dataset) -> DatasetSummary:
    """What one dataset holds (reads metadata only)."""
    files = ds.attrs.get("source_files") or []
    files = [files] if isinstance(files, str) else [str(f) for f in files]
    options = json.loads(ds.attrs["lp3d_options"]) if "lp3d_options" in ds.attrs else {}
    return DatasetSummary(
        name=name,
        kind=str(ds.attrs.get("lp3d_kind", "?")),
        sizes={str(d): int(n) for d, n in ds.sizes.items()},
        variables=[(str(n), tuple(str(d) for d in v.dims), str(v.dtype)) for n, v in ds.data_vars.items()],
        names={d: [str(v) for v in ds[d].values] for d in _NAMED_DIMS if d in ds.coords},
        attrs={a: str(ds.attrs[a]) for a in _ATTRS if a in ds.attrs},
        source_files=files,
        options={k: v for k, v in options.items() if v is not None},
    )


def summarize_store(path: str | os.PathLike) -> StoreSummary:
    """What a store (``.zarr`` folder) or netCDF file (``.nc``) holds.

    Raises:
        UserError: no such path, or a file that is not netCDF.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"STORE {path}: no such store or file")
    if path.is_file():
        if path.suffix != ".nc":
            raise UserError(f"STORE {path}: expected a store (.zarr folder) or a netCDF file (.nc), but got a file")
        from lp3d_io.netcdf import from_netcdf

        return StoreSummary(path, _size(path), None, None, [summarize_dataset(path.name, from_netcdf(path, lazy=True))])
    from lp3d_io.store import list_groups, open_store, read_group

    store = open_store(path, "r")
    datasets = [summarize_dataset(group, read_group(store, group)) for group in list_groups(store)]
    return StoreSummary(path, _size(path), store.session, store.format_version, datasets)
