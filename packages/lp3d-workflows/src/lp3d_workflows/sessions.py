"""From INPUT arguments to sessions, and from a session to a predictions dataset.

An INPUT is a prediction file (``.csv``, ``.h5``, ``.slp``: see :data:`lp3d_io.readers.POSE_READERS`), a
folder of them, a folder of session folders, an lp3d store (``.zarr``) or a netCDF file (``.nc``) of
predictions:

- files given directly form one session (named after their folder);
- a folder with prediction files in it is one session (named after the folder);
- a folder without prediction files whose sub-folders (or ``.zarr`` / ``.nc`` entries) hold
  sessions is a *batch*: each of those is a session;
- a store or netCDF file is one session (named after its stem).

Files are grouped into ensemble members and views by :func:`lp3d_io.grouping.read_predictions_arrays`:
camera names (from the calibration or ``--views``) as substrings of the file names, model seeds
like ``rng=3`` as members. Predictions come back in numpy form (:class:`lp3d_io.dataset.NumpyDataset`):
prediction files are read without importing xarray; a store or netCDF file is read with it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lp3d_io.readers import POSE_SUFFIXES, pose_files
from lp3d_io.store import is_store

from lp3d_workflows.errors import UserError

if TYPE_CHECKING:
    import xarray as xr
    from lp3d_eks import CameraRig
    from lp3d_io.dataset import NumpyDataset

__all__ = ["PredictionSession", "find_prediction_sessions", "load_predictions"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictionSession:
    """One recording to process.

    Attributes:
        name: session name (names the outputs of a batch).
        paths: the prediction files, or the one store / netCDF file.
        batch: found inside a folder of sessions (its outputs go to ``OUT/<name>/``).
    """

    name: str
    paths: tuple[Path, ...]
    batch: bool = False

    @property
    def container(self) -> Path | None:
        """The store or netCDF file this session is read from, or None for prediction files."""
        if len(self.paths) == 1 and (is_store(self.paths[0]) or self.paths[0].suffix == ".nc"):
            return self.paths[0]
        return None


def _session_name(path: Path) -> str:
    name = path.stem if path.suffix in (".zarr", ".nc") else path.name
    return name or "session"


def find_prediction_sessions(inputs: Sequence[str | os.PathLike]) -> list[PredictionSession]:
    """The sessions named by the INPUT arguments (see the module docstring).

    Raises:
        UserError: an input does not exist, is of an unknown kind, or holds nothing to read;
            two sessions have the same name.
    """
    files: list[Path] = []
    sessions: list[PredictionSession] = []
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise UserError(f"INPUT {path}: no such file or folder")
        if is_store(path) or (path.is_file() and path.suffix == ".nc"):
            sessions.append(PredictionSession(_session_name(path), (path,)))
        elif path.is_file():
            if path.suffix.lower() not in POSE_SUFFIXES:
                raise UserError(
                    f"INPUT {path}: expected prediction files ({', '.join(POSE_SUFFIXES)}), a folder, "
                    f"a store (.zarr) or a .nc file, "
                    f"but got a {path.suffix or 'suffix-less'} file"
                )
            files.append(path)
        elif pose := pose_files(path):
            sessions.append(PredictionSession(_session_name(path.resolve()), tuple(pose)))
        else:
            sessions.extend(_batch(path))
    if files:
        sessions.insert(0, PredictionSession(_session_name(files[0].resolve().parent), tuple(files)))
    names = [s.name for s in sessions]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"INPUT: expected sessions with distinct names, but {dup} appear more than once")
    return sessions


def _batch(folder: Path) -> list[PredictionSession]:
    sessions = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if is_store(entry) or (entry.is_file() and entry.suffix == ".nc"):
            sessions.append(PredictionSession(_session_name(entry), (entry,), batch=True))
        elif entry.is_dir() and (pose := pose_files(entry)):
            sessions.append(PredictionSession(entry.name, tuple(pose), batch=True))
    if not sessions:
        raise UserError(
            f"INPUT {folder}: expected prediction files ({', '.join(POSE_SUFFIXES)}) or session folders in it, "
            "but found neither"
        )
    return sessions


def _files_of_views(session: PredictionSession, views: Sequence[str], source: str) -> list[Path]:
    """The session's files that name one of ``views``; the others are skipped with a warning.

    Raises:
        UserError: a view appears in no file name.
    """
    from lp3d_io.grouping import match_view

    matched = {path: match_view(path.name, views) for path in session.paths}
    for view in views:
        if view not in matched.values():
            shown = ", ".join(p.name for p in session.paths[:4]) + (", ..." if len(session.paths) > 4 else "")
            raise UserError(
                f"session {session.name}: expected view {view!r} (from {source}) in the name of a prediction file, "
                f"but it appears in none of {len(session.paths)}: {shown}"
            )
    skipped = [p.name for p, view in matched.items() if view is None]
    if skipped:
        log.warning(
            f"session {session.name}: skipping {len(skipped)} file(s) naming none of the views {list(views)}: "
            + ", ".join(skipped[:4])
            + (", ..." if len(skipped) > 4 else "")
        )
    return [p for p, view in matched.items() if view is not None]


def load_predictions(
    session: PredictionSession, *, view_names: Sequence[str] | None = None, rig: CameraRig | None = None
) -> NumpyDataset:
    """Reads a session's ensemble predictions.

    Args:
        session: the session.
        view_names: views to use (``--views``); default the calibration's cameras, else all the
            views of a store, else a single view.
        rig: the calibration, if any (its camera names are the views).

    Returns:
        A predictions dataset (numpy form) with the requested views, in their order.

    Raises:
        UserError / ValueError: files cannot be grouped, or views are missing (one line each).
    """
    views = list(view_names) if view_names else (rig.names if rig is not None else None)
    container = session.container
    if container is None:
        from lp3d_io.grouping import candidate_views, read_predictions_arrays

        if views is None and (candidates := candidate_views(session.paths)):
            raise UserError(
                f"session {session.name}: the file names differ beyond their model seed, so they look like several "
                f"views ({', '.join(candidates)}); expected --views NAME ... (or --calibration) to say which, e.g. "
                f"--views {','.join(candidates)}"
            )
        paths = (
            session.paths
            if views is None
            else _files_of_views(session, views, "--views" if view_names else "--calibration")
        )
        return read_predictions_arrays(list(paths), views, session=session.name)
    from lp3d_io.dataset import NumpyDataset

    ds = NumpyDataset.from_xarray(_read_container(container))
    if views is not None:
        have = [str(v) for v in ds["view"].values]
        missing = [v for v in views if v not in have]
        if missing:
            raise UserError(f"{container}: expected views {views}, but the predictions have {have} (missing {missing})")
        ds = ds.sel(view=views)
    return ds


def _read_container(path: Path) -> xr.Dataset:
    if path.suffix == ".nc":
        from lp3d_io.netcdf import from_netcdf

        ds = from_netcdf(path)
        if ds.attrs.get("lp3d_kind") != "predictions":
            raise UserError(f"{path}: expected a predictions dataset, but got lp3d_kind={ds.attrs.get('lp3d_kind')!r}")
        return ds
    from lp3d_io.layout import PREDICTIONS, groups_of_kind
    from lp3d_io.store import list_groups, read_group

    groups = groups_of_kind(list_groups(path), PREDICTIONS)
    if not groups:
        raise UserError(f"{path}: expected a predictions group in the store, but it has {list_groups(path)}")
    return read_group(path, groups[0]).load()
