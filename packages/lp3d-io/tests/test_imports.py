"""Importing lp3d-io costs numpy alone: xarray, zarr, pandas, pyarrow, dask, OpenCV and h5py load on use."""

from __future__ import annotations

import subprocess
import sys

import lp3d_io
import pytest

HEAVY = {"xarray", "zarr", "numcodecs", "pandas", "pyarrow", "dask", "cv2", "h5py", "h5netcdf"}


def test_modules_import_heavy_libraries_only_when_used():
    code = (
        "import sys, lp3d_io, lp3d_io.dataset, lp3d_io.csv, lp3d_io.grouping, lp3d_io.store, lp3d_io.calibration, "
        "lp3d_io.netcdf, lp3d_io.hdf5\n"
        "from lp3d_io import read_group, write_group, from_pose_csv, predictions_dataset\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert HEAVY.isdisjoint(out.split()), sorted(HEAVY & set(out.split()))


def test_lazy_names():
    assert set(lp3d_io.__all__) <= set(dir(lp3d_io))
    assert lp3d_io.write_group is __import__("lp3d_io.store").store.write_group
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        lp3d_io.nothing  # noqa: B018
