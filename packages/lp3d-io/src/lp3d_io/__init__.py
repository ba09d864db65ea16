"""lp3d-io: multi-view pose data as labeled arrays, zarr stores, and the file formats labs use."""

__version__ = "0.1.0"
