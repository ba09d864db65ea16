"""netCDF files (HDF5-based, through h5netcdf), so movement and other xarray users can open them.

``to_netcdf`` validates the dataset and writes it atomically with compressed variables;
``from_netcdf`` reads it back (into memory by default, or lazily) and validates it. Any lp3d
dataset (predictions, labels, smoothed, calibration) round-trips: attributes are kept to
netCDF-compatible types by :mod:`lp3d_io.dataset`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from lp3d_io.dataset import NumpyDataset, validate
from lp3d_io.files import atomic_path, lazy_chunks

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["to_netcdf", "from_netcdf"]

_ENGINE = "h5netcdf"


def to_netcdf(ds: NumpyDataset | xr.Dataset, path: str | os.PathLike) -> None:
    """Writes a validated lp3d dataset (either form) to a netCDF-4 file, atomically (temp file, then rename).

    Numeric variables are gzip-compressed with byte shuffling.
    """
    validate(ds)
    if isinstance(ds, NumpyDataset):
        ds = ds.to_xarray()
    encoding = {
        name: {"compression": "gzip", "compression_opts": 4, "shuffle": True}
        for name, var in ds.variables.items()
        if var.dtype.kind in "fiu" and var.ndim > 0 and var.size > 0
    }
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine=_ENGINE, encoding=encoding)


def from_netcdf(path: str | os.PathLike, *, lazy: bool = False) -> xr.Dataset:
    """Reads an lp3d dataset from a netCDF file.

    Args:
        path: the file.
        lazy: keep the file open and read values on use (dask-backed if installed); default
            loads everything and closes the file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not an lp3d dataset (the message says what is wrong).
    """
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    if lazy:
        ds = xr.open_dataset(path, engine=_ENGINE, chunks=lazy_chunks())
    else:
        with xr.open_dataset(path, engine=_ENGINE) as opened:
            ds = opened.load()
    try:
        validate(ds, check_values=not lazy)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return ds
