"""Group prediction files into ensemble members and views, and read them as one dataset.

Labs name files after the camera and the model, e.g. ``..._Cam-A_....rng=0.csv``. A file's
**view** is the view name found in its file name: when several view names occur, one contained in
a longer match (``Cam-A`` inside ``Cam-AB``) gives way to it, then a name delimited by
non-alphanumeric characters wins over one embedded in a word; anything still ambiguous is an
error. A file's **member** is its seed token (``rng=3``, ``seed_3``, ``member-3``) when every file
has one; otherwise files whose names differ only in the view name are one member
(``member_0, member_1, ...`` in name order). Without view names every file is a member of one view,
unless the names differ beyond their seed (``a.rng=0.top.csv``, ``a.rng=0.bot.csv``): that is an
error naming the candidate views (:func:`candidate_views`). An explicit ``mapping`` from file to
``(member, view)`` overrides the automatic match for the files it names. Every member must have
exactly one file per view; missing, duplicate or unmatched files are errors that list the files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lp3d_io.dataset import NumpyDataset, labels_dataset, predictions_arrays
from lp3d_io.pose_table import PoseTable
from lp3d_io.readers import POSE_SUFFIXES, from_pose_file

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "SINGLE_VIEW",
    "match_view",
    "member_token",
    "candidate_views",
    "group_prediction_files",
    "group_view_files",
    "read_predictions",
    "read_predictions_arrays",
    "read_labels",
]

SINGLE_VIEW = "view_0"
_SEED = re.compile(r"(?<![A-Za-z0-9])(?:rng|seed|member)[=_-]?\d+(?![0-9])", re.IGNORECASE)


def _spans(name: str, view: str) -> list[tuple[int, int]]:
    return [(m.start(), m.start() + len(view)) for m in re.finditer(re.escape(view), name)]


def _delimited(name: str, span: tuple[int, int]) -> bool:
    a, b = span
    return (a == 0 or not name[a - 1].isalnum()) and (b == len(name) or not name[b].isalnum())


def match_view(file_name: str, view_names: Sequence[str]) -> str | None:
    """The view whose name occurs in ``file_name`` (see the module docstring), or None.

    Raises:
        ValueError: several views match equally well.
    """
    spans = {v: _spans(file_name, v) for v in view_names if v}
    spans = {v: s for v, s in spans.items() if s}
    # Drop a view whose every occurrence lies inside an occurrence of a longer matching view.
    kept = {
        v: s
        for v, s in spans.items()
        if not all(
            any(len(w) > len(v) and a2 <= a and b <= b2 for w, s2 in spans.items() for a2, b2 in s2) for a, b in s
        )
    }
    if len(kept) > 1:
        delimited = {v for v, s in kept.items() if any(_delimited(file_name, span) for span in s)}
        if len(delimited) == 1:
            return delimited.pop()
        raise ValueError(f"{file_name}: expected one view name in the file name, but found {sorted(kept)}")
    return next(iter(kept), None)


def member_token(file_name: str) -> str | None:
    """The seed token of a file name (``rng=3``, ``seed_3``, ...), or None; the last one wins."""
    found = _SEED.findall(file_name)
    return found[-1] if found else None


def candidate_views(paths: Iterable[str | os.PathLike]) -> list[str] | None:
    """Candidate view names when file names differ beyond their model seed, else None.

    ``a.rng=0.top.csv`` and ``a.rng=0.bot.csv`` differ in ``top`` / ``bot``: without view names
    they would be read as members of one view, which is never what was meant. Files without a seed
    token give None (their names may differ in anything).
    """
    files = [Path(p) for p in paths]
    tokens = {p: member_token(p.name) for p in files}
    if not all(tokens.values()):
        return None
    templates = sorted({p.stem.replace(str(tokens[p]), "") for p in files})
    if len(templates) < 2:
        return None
    prefix = os.path.commonprefix(templates)
    suffix = os.path.commonprefix([t[::-1] for t in templates])[::-1]
    prefix = re.sub(r"[A-Za-z0-9]*$", "", prefix)  # cut back to a delimiter
    suffix = re.sub(r"^[A-Za-z0-9]*", "", suffix)
    return [t[len(prefix) : len(t) - len(suffix)] for t in templates]


def _natural_key(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _mapping_lookup(mapping: Mapping[Any, tuple[str, str]] | None, path: Path) -> tuple[str, str] | None:
    if not mapping:
        return None
    for key in (path, str(path), path.name):
        if key in mapping:
            member, view = mapping[key]
            return str(member), str(view)
    return None


def _listing(paths: Iterable[Path]) -> str:
    return ", ".join(p.name for p in paths)


def group_prediction_files(
    paths: Iterable[str | os.PathLike],
    view_names: Sequence[str] | None = None,
    mapping: Mapping[Any, tuple[str, str]] | None = None,
) -> dict[tuple[str, str], Path]:
    """Assigns each prediction file to an ensemble member and a view.

    Args:
        paths: the files (one per member and view).
        view_names: the views, in order (e.g. ``rig.names`` of the calibration). None: a single
            view named ``"view_0"`` and every file is a member.
        mapping: ``{file: (member, view)}`` for files the names do not resolve; keys may be
            paths or bare file names.

    Returns:
        ``{(member, view): path}`` ordered by member (natural order) then view order.

    Raises:
        ValueError: a file matches no view or several, two files claim the same (member, view),
            a member lacks a view, or (without view names) the names differ beyond their seed; the
            message lists the files or names concerned.
    """
    files = [Path(p) for p in paths]
    if not files:
        raise ValueError("paths: expected prediction files, but got none")
    if view_names is None and not mapping and (candidates := candidate_views(files)):
        raise ValueError(
            f"expected view_names: the file names differ beyond their model seed, so they look like several views "
            f"({', '.join(candidates)}); pass view_names={candidates} (in camera order) or a calibration"
        )
    views = [SINGLE_VIEW] if view_names is None else [str(v) for v in view_names]
    dup = sorted({v for v in views if views.count(v) > 1})
    if dup:
        raise ValueError(f"view_names: expected unique names, but {dup} appear more than once")
    assigned: dict[Path, tuple[str | None, str]] = {}
    unmatched = []
    for path in files:
        explicit = _mapping_lookup(mapping, path)
        if explicit is not None:
            if explicit[1] not in views:
                raise ValueError(f"mapping[{path.name!r}]: expected a view in {views}, but got {explicit[1]!r}")
            assigned[path] = explicit
            continue
        view = SINGLE_VIEW if view_names is None else match_view(path.name, views)
        if view is None:
            unmatched.append(path)
        else:
            assigned[path] = (None, view)
    if unmatched:
        raise ValueError(
            f"expected each file name to contain one of the views {views}, but these match none: "
            f"{_listing(unmatched)} (pass mapping={{file: (member, view)}})"
        )
    auto = [p for p, (m, _) in assigned.items() if m is None]
    tokens = {p: member_token(p.name) for p in auto}
    if all(tokens.values()):
        for p in auto:
            assigned[p] = (str(tokens[p]), assigned[p][1])
    else:
        # Files whose names differ only in the view name belong to the same member.
        templates = {}
        for p in auto:
            view = assigned[p][1]
            templates[p] = p.name if view_names is None else p.name.replace(view, "\0")
        order = sorted(set(templates.values()), key=_natural_key)
        for p in auto:
            assigned[p] = (f"member_{order.index(templates[p])}", assigned[p][1])
    grouped: dict[tuple[str, str], Path] = {}
    for path, key in assigned.items():
        if key in grouped:
            raise ValueError(
                f"expected one file for member {key[0]!r} and view {key[1]!r}, but got {grouped[key].name} "
                f"and {path.name} (pass mapping={{file: (member, view)}})"
            )
        grouped[key] = path  # type: ignore[index]
    members = sorted({m for m, _ in grouped}, key=_natural_key)
    problems = []
    for member in members:
        missing = [v for v in views if (member, v) not in grouped]
        if missing:
            have = [grouped[(member, v)].name for v in views if (member, v) in grouped]
            problems.append(f"member {member!r} lacks views {missing} (has {', '.join(have)})")
    if problems:
        raise ValueError(f"expected every member to have a file for each view {views}, but " + "; ".join(problems))
    return {(m, v): grouped[(m, v)] for m in members for v in views}


def group_view_files(paths: Iterable[str | os.PathLike], view_names: Sequence[str]) -> dict[str, Path]:
    """One file per view (e.g. labeled frames ``CollectedData_<view>.csv``), matched by name.

    Raises:
        ValueError: a file matches no view or several, or a view has no file or several.
    """
    grouped = group_prediction_files(paths, view_names, mapping=None)
    members = sorted({m for m, _ in grouped})
    if len(members) != 1:
        raise ValueError(
            f"expected one file per view {list(view_names)}, but got {len(grouped)}: {_listing(grouped.values())}"
        )
    return {v: grouped[(members[0], v)] for v in view_names}


def _files(paths_or_dir: str | os.PathLike | Iterable[str | os.PathLike], suffixes: Sequence[str]) -> list[Path]:
    if isinstance(paths_or_dir, str | os.PathLike):
        root = Path(paths_or_dir)
        if root.is_dir():
            files = sorted(p for p in root.iterdir() if p.suffix.lower() in suffixes and not p.name.startswith("."))
            if not files:
                raise ValueError(f"{root}: expected files ending in {', '.join(suffixes)}, but found none")
            return files
        return [root]
    return [Path(p) for p in paths_or_dir]


def _view_names(view_names: Sequence[str] | None, calibration: Any) -> Sequence[str] | None:
    if calibration is None:
        return view_names
    from lp3d_io.calibration import check_views, from_anipose_toml

    rig = calibration if hasattr(calibration, "cameras") else from_anipose_toml(calibration)
    if view_names is None:
        return rig.names
    check_views(rig, view_names)
    return view_names


def _guess_software(scorer: str) -> str:
    return "DeepLabCut" if scorer.startswith("DLC") else "Lightning Pose"


def read_predictions_arrays(
    paths_or_dir: str | os.PathLike | Iterable[str | os.PathLike],
    view_names: Sequence[str] | None = None,
    *,
    mapping: Mapping[Any, tuple[str, str]] | None = None,
    calibration: Any = None,
    fps: float | None = None,
    session: str | None = None,
    source_software: str | None = None,
    dtype: Any = np.float32,
) -> NumpyDataset:
    """Reads ensemble predictions (one file per member and view) into a predictions dataset, in numpy form.

    Args:
        paths_or_dir: the files, or a folder (its ``*.csv`` and ``*.h5`` files are read).
        view_names: the views; default from ``calibration``, else a single view (see
            :func:`group_prediction_files`).
        mapping: explicit ``{file: (member, view)}`` for names that do not resolve.
        calibration: an anipose TOML path or a :class:`lp3d_eks.CameraRig`; its camera names
            are the views (and must cover ``view_names`` when both are given).
        fps, session: dataset attributes.
        source_software: default from the scorer (``DLC...``: DeepLabCut, else Lightning Pose).
        dtype: float dtype of the arrays (float32: network outputs carry no more precision).

    Returns:
        A predictions :class:`~lp3d_io.dataset.NumpyDataset` ``(member, view, time, keypoint, individual, space)``.

    Raises:
        ValueError: files cannot be grouped, or a file's keypoints, individuals, frame count or
            frame numbers differ from the first file's (the message names both files).
    """
    files = _files(paths_or_dir, POSE_SUFFIXES)
    grouped = group_prediction_files(files, _view_names(view_names, calibration), mapping)
    members = list(dict.fromkeys(m for m, _ in grouped))
    views = list(dict.fromkeys(v for _, v in grouped))
    position = confidence = None
    first: PoseTable | None = None
    for (member, view), path in grouped.items():
        table = from_pose_file(path, dtype=dtype)
        if first is None:
            first = table
            shape = (len(members), len(views)) + table.position.shape[:3]
            position = np.empty(shape + (2,), dtype=dtype)
            confidence = np.empty(shape, dtype=dtype)
        else:
            _check_same(table, first)
        m, v = members.index(member), views.index(view)
        position[m, v] = table.position[..., :2]
        confidence[m, v] = np.nan if table.confidence is None else table.confidence
    assert first is not None and position is not None
    index = first.index if first.index.dtype.kind in "iu" else None
    return predictions_arrays(
        position,
        confidence,
        view_names=views,
        keypoint_names=first.keypoint_names,
        member_names=members,
        individual_names=first.individual_names,
        fps=fps,
        source_software=source_software or _guess_software(first.scorer),
        source_files=[str(p) for p in grouped.values()],
        session=session,
        time=index if index is not None and np.all(np.diff(index) > 0) else None,
    )


def read_predictions(
    paths_or_dir: str | os.PathLike | Iterable[str | os.PathLike], view_names: Sequence[str] | None = None, **kwargs
) -> xr.Dataset:
    """Reads ensemble predictions into an :class:`xarray.Dataset`: :func:`read_predictions_arrays` (same
    arguments), then :meth:`~lp3d_io.dataset.NumpyDataset.to_xarray`.

    Returns:
        A predictions dataset ``(member, view, time, keypoint, individual, space)``.
    """
    return read_predictions_arrays(paths_or_dir, view_names, **kwargs).to_xarray()


def _check_same(table: PoseTable, first: PoseTable, *, same_labels: bool = True) -> None:
    """Raises if ``table`` does not have the keypoints, individuals and rows (and row labels) of ``first``."""
    for what, got, want in (
        ("keypoints", table.keypoint_names, first.keypoint_names),
        ("individuals", table.individual_names, first.individual_names),
    ):
        if got != want:
            raise ValueError(f"{table.path}: expected {what} {want} (as in {first.path.name}), but got {got}")
    if table.n_frames != first.n_frames:
        raise ValueError(
            f"{table.path}: expected {first.n_frames} rows (as in {first.path.name}), but got {table.n_frames}"
        )
    if same_labels and not np.array_equal(table.index, first.index):
        bad = int(np.flatnonzero(table.index != first.index)[0])
        raise ValueError(
            f"{table.path}: row {bad + 1}: expected label {first.index[bad].item()!r} (as in {first.path.name}), "
            f"but got {table.index[bad].item()!r}"
        )


def read_labels(
    paths_or_dir: str | os.PathLike | Iterable[str | os.PathLike] | Mapping[str, str | os.PathLike],
    view_names: Sequence[str],
    *,
    session: str | None = None,
) -> xr.Dataset:
    """Reads labeled frames in the Lightning Pose multi-view layout (one CSV per view).

    Args:
        paths_or_dir: ``{view: path}``, the files, or a folder (its ``*.csv`` files).
        view_names: the views; each file's name must contain one (``CollectedData_top.csv``).
        session: dataset attribute.

    Returns:
        A labels dataset ``(view, frame, keypoint, individual, space)`` with ``image_path``.

    Raises:
        ValueError: keypoints or the number of rows differ between views (names the file).
    """
    if isinstance(paths_or_dir, Mapping):
        by_view = {str(v): Path(paths_or_dir[v]) for v in view_names}
    else:
        by_view = group_view_files(_files(paths_or_dir, (".csv",)), view_names)
    from lp3d_io.csv import from_pose_csv

    tables = [from_pose_csv(by_view[v], dtype=np.float32) for v in view_names]
    for table in tables[1:]:
        _check_same(table, tables[0], same_labels=False)
    first = tables[0]
    return labels_dataset(
        np.stack([t.position[..., :2] for t in tables]),
        np.stack([t.index.astype(str) for t in tables]),
        view_names=list(view_names),
        keypoint_names=first.keypoint_names,
        individual_names=first.individual_names,
        source_files=[str(by_view[v]) for v in view_names],
        session=session,
    )
