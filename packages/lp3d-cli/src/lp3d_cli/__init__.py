"""lp3d-cli: the ``lp3d`` command (smooth, triangulate, convert, report, info, demo).

The command-line layer only: reading and writing go through :mod:`lp3d_io`, smoothing through
:mod:`lp3d_eks`. Nothing imports this package.
"""

__version__ = "0.1.0"
