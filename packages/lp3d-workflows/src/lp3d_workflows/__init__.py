"""lp3d-workflows: the operations every lp3d front end runs, as plain typed functions.

The command line (``lp3d``, :mod:`lp3d_cli`) and the browser app (``lp3d app``) call these and
only present their results; neither holds logic the other needs. Each workflow composes the
libraries (:mod:`lp3d_eks`, :mod:`lp3d_io`, and :mod:`lp3d_models` for training, prediction and
distillation when the ``models`` extra is installed), takes a progress callback
(:mod:`lp3d_workflows.progress`), logs through :mod:`logging`, writes its outputs atomically, and
raises one-line errors (:mod:`lp3d_workflows.errors`).

- :mod:`~lp3d_workflows.batch` / :mod:`~lp3d_workflows.smoothing`: smooth sessions (``lp3d smooth``)
- :mod:`~lp3d_workflows.triangulation`: per-frame triangulation (``lp3d triangulate``)
- :mod:`~lp3d_workflows.conversion`: between CSV folders, stores and netCDF (``lp3d convert``)
- :mod:`~lp3d_workflows.report`: the smoothing report (``lp3d report``)
- :mod:`~lp3d_workflows.store_summary`: what a store holds (``lp3d info``)
- :mod:`~lp3d_workflows.pipeline`: train, predict, smooth, distill, score (``lp3d pipeline``)
- :mod:`~lp3d_workflows.demo`: the demos (``lp3d demo``)
"""

__version__ = "0.1.0"
