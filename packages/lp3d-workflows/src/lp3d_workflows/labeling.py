"""Labels as a labeler edits them: the project's label files read and written without losing a
column or a row, the frames to label, drafts, and the geometry that guides a click.

**Label files** (``CollectedData_<view>.csv``, :mod:`lp3d_io.layout`) are Lightning Pose's and
DeepLabCut's: a 3-row header (``scorer``, ``bodyparts``, ``coords``; 4 rows with ``individuals`` for
a multi-animal file), one or three index columns (DeepLabCut's ``labeled-data, <video>, <image>``)
and ``x, y`` (sometimes ``likelihood``) columns per keypoint. :class:`LabelFile` keeps every cell as
it was read: saving a frame changes the ``x`` and ``y`` cells of that frame's row (the first
individual's), appends a row for a new frame, and writes every other cell back as it came (other
individuals, ``likelihood`` columns, keypoints the project does not label, rows of other frames,
the line ending). Every view of a frame is written at once: each view's file goes to a temporary
file first, and all are renamed into place together (:func:`lp3d_io.files.atomic_path`).

**Frames** (:func:`list_frames`): the rows of the label files (the same rows in every view, as
Lightning Pose's multi-view layout has them), and the frames extracted for labeling that have no
row yet (the *queue*, ``<project>/.lp3d-app/labeling/queue.json``, written by
:mod:`lp3d_workflows.frame_extraction`; a queued frame may carry a *prefill*: the smoothed positions
of a model's result, which the labeler corrects rather than starts from nothing). A frame's id is a
hash of its image key (its path without the view, :func:`lp3d_io.layout.parse_session`).

**Drafts** (:class:`Drafts`): what a labeler typed but did not save, kept per frame in
``<project>/.lp3d-app/labeling/drafts.json`` (rewritten atomically at every change), so that nothing
typed is lost if the browser or the server dies; a save removes the frame's draft.

**Geometry** (:func:`guide`): with a calibration (:class:`lp3d_eks.CameraRig`, pinhole or fisheye),
the positions a labeler placed are triangulated (DLT, every view where a keypoint is placed: two at
least) and projected into every view: the *suggestion* where it is not placed yet, the
*reprojection error* where it is (pixels: a bad click or a bad calibration shows at once). The
*epipolar curve* of a point is the projection into another view of its camera ray (the pixel
undistorted into a ray, points along it projected with the other camera's lens model: a curve for a
distorted or fisheye lens).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lp3d_io.files import atomic_path, write_text_atomic
from lp3d_io.layout import frame_id, frame_image_path, labels_file, parse_session

from lp3d_workflows.errors import UserError
from lp3d_workflows.project import APP_DIR, Project, is_inside

__all__ = [
    "LABELING_DIR",
    "LabelFile",
    "read_label_file",
    "new_label_file",
    "FrameEntry",
    "QueuedFrame",
    "list_frames",
    "find_frame",
    "frame_image",
    "frame_points",
    "image_size",
    "check_points",
    "save_frame",
    "read_queue",
    "add_to_queue",
    "Drafts",
    "Guide",
    "guide",
    "epipolar_curve",
    "points_dict",
    "frame_session",
    "frame_image_sizes",
    "session_rig",
    "frame_details",
]

LABELING_DIR = f"{APP_DIR}/labeling"
"""The labeler's files in a project: ``queue.json`` (frames to label) and ``drafts.json``."""
_QUEUE = "queue.json"
_DRAFTS = "drafts.json"
MAX_DRAFT_BYTES = 1 << 20
"""A frame's draft is at most this large (as JSON)."""
_SAVE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def _lock(path: Path) -> threading.Lock:
    with _LOCKS_LOCK:
        return _SAVE_LOCKS.setdefault(str(path), threading.Lock())


def _number(value: float) -> str:
    """A coordinate as a label file holds it: 3 decimals at most (a thousandth of a pixel)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _value(cell: str) -> float:
    cell = cell.strip()
    if not cell:
        return np.nan
    try:
        return float(cell)
    except ValueError:
        return np.nan


# --- one label file ----------------------------------------------------------------------------------


@dataclass
class LabelFile:
    """One view's label file, every cell kept as read (see the module docstring).

    Attributes:
        path: the file.
        header: the header rows (``scorer``, [``individuals``], ``bodyparts``, ``coords``).
        n_index: leading index columns (1, or 3 for DeepLabCut's ``labeled-data, <video>, <image>``).
        rows: the data rows, every cell as a string.
        newline: the line ending of the file.
    """

    path: Path
    header: list[list[str]]
    n_index: int
    rows: list[list[str]]
    newline: str = "\n"
    _columns: dict[tuple[str, str], int] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def multi_animal(self) -> bool:
        return len(self.header) == 4

    @property
    def n_columns(self) -> int:
        return len(self.header[0])

    def column(self, keypoint: str, coord: str) -> int | None:
        """The column of the first individual's ``keypoint`` ``coord`` (x or y), or None."""
        if self._columns is None:  # the header is read once per file, not once per cell
            bodyparts, coords = self.header[-2], self.header[-1]
            first = self.header[1][self.n_index] if self.multi_animal else None
            self._columns = {}
            for j in range(self.n_index, self.n_columns):
                if not self.multi_animal or self.header[1][j] == first:
                    self._columns.setdefault((bodyparts[j], coords[j]), j)
        return self._columns.get((keypoint, coord))

    @property
    def keypoints(self) -> list[str]:
        """The first individual's keypoints with ``x`` and ``y`` columns, in file order."""
        bodyparts = self.header[-2]
        names = dict.fromkeys(bodyparts[j] for j in range(self.n_index, self.n_columns))
        return [k for k in names if self.column(k, "x") is not None and self.column(k, "y") is not None]

    def key(self, row: int) -> str:
        """The image path of a row (index cells joined with ``/``)."""
        return "/".join(c for c in self.rows[row][: self.n_index] if c != "") or self.rows[row][0]

    def find(self, image: str) -> int | None:
        for i in range(len(self.rows)):
            if self.key(i) == image:
                return i
        return None

    def positions(self, row: int, keypoints: Sequence[str]) -> np.ndarray:
        """``(keypoint, 2)`` of a row (NaN: no label, or no column)."""
        out = np.full((len(keypoints), 2), np.nan)
        for k, name in enumerate(keypoints):
            for c, coord in enumerate(("x", "y")):
                j = self.column(name, coord)
                if j is not None and j < len(self.rows[row]):
                    out[k, c] = _value(self.rows[row][j])
        return out

    def all_positions(self, keypoints: Sequence[str]) -> np.ndarray:
        """``(row, keypoint, 2)`` of every row, as :meth:`positions` reads each."""
        out = np.full((len(self.rows), len(keypoints), 2), np.nan)
        for k, name in enumerate(keypoints):
            for c, coord in enumerate(("x", "y")):
                j = self.column(name, coord)
                if j is None:
                    continue
                cells = [r[j].strip() or "nan" if j < len(r) else "nan" for r in self.rows]
                try:  # numpy parses a column at once; a cell that is not a number: one by one
                    out[:, k, c] = np.array(cells, dtype=np.float64)
                except ValueError:
                    out[:, k, c] = [_value(cell) for cell in cells]
        return out

    def _add_columns(self, keypoint: str) -> None:
        """Appends ``x, y`` columns of a keypoint the file does not have (empty in every row)."""
        individual = self.header[1][self.n_index] if self.multi_animal else None
        for coord in ("x", "y"):
            self.header[0].append(self.header[0][self.n_index])
            if individual is not None:
                self.header[1].append(individual)
            self.header[-2].append(keypoint)
            self.header[-1].append(coord)
            for row in self.rows:
                row.append("")
        self._columns = None  # new columns: the map is made again

    def set(self, image: str, keypoints: Sequence[str], xy: np.ndarray, row: int | None = None) -> int:
        """Sets the ``x, y`` cells of ``image``'s row (``row`` when given, else found by its path;
        appended when there is none) to ``xy`` ``(keypoint, 2)`` (NaN: empty); returns the row."""
        for name in keypoints:
            if self.column(name, "x") is None or self.column(name, "y") is None:
                self._add_columns(name)
        if row is None:
            row = self.find(image)
        if row is None:
            parts = image.split("/")
            if self.n_index == 1 or len(parts) < self.n_index:
                index = [image] + [""] * (self.n_index - 1)
            else:
                index = ["/".join(parts[: len(parts) - self.n_index + 1]), *parts[len(parts) - self.n_index + 1 :]]
            self.rows.append(index + [""] * (self.n_columns - self.n_index))
            row = len(self.rows) - 1
        cells = self.rows[row]
        cells.extend([""] * (self.n_columns - len(cells)))
        for k, name in enumerate(keypoints):
            for c, coord in enumerate(("x", "y")):
                value = float(xy[k, c])
                cells[self.column(name, coord)] = _number(value) if np.isfinite(value) else ""  # type: ignore[index]
        return row

    def text(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator=self.newline)
        writer.writerows(self.header)
        writer.writerows(self.rows)
        return out.getvalue()


def read_label_file(path: str | os.PathLike) -> LabelFile:
    """Reads a label file keeping every cell (a header without rows is a file of no frames yet).

    Raises:
        ValueError: not a label file (the header names what was expected).
        FileNotFoundError: no such file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: label file not found") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a readable CSV file ({err})") from None
    newline = "\r\n" if "\r\n" in raw else "\n"
    rows = [r for r in csv.reader(io.StringIO(raw, newline="")) if r]
    multi = len(rows) > 1 and rows[1][:1] == ["individuals"]
    expected = ["scorer", "individuals", "bodyparts", "coords"] if multi else ["scorer", "bodyparts", "coords"]
    for line, want in enumerate(expected):
        got = rows[line][0] if line < len(rows) and rows[line] else "<end of file>"
        if got != want:
            raise ValueError(f"{path}: line {line + 1}: expected {want!r} (a label file's header), but got {got!r}")
    header = [list(r) for r in rows[: len(expected)]]
    width = len(header[0])
    if any(len(r) != width for r in header):
        raise ValueError(f"{path}: expected header rows of {width} fields (as line 1), but they differ")
    n_index = 1
    while n_index < width and header[-1][n_index] == "":
        n_index += 1
    body = [list(r) + [""] * (width - len(r)) for r in rows[len(expected) :]]
    for line, r in enumerate(body, start=len(expected) + 1):
        if len(r) > width:
            raise ValueError(f"{path}: line {line}: expected {width} fields (as the header), but got {len(r)}")
    return LabelFile(path, header, n_index, body, newline)


def new_label_file(path: str | os.PathLike, keypoints: Sequence[str], scorer: str = "lp3d") -> LabelFile:
    """A label file of ``keypoints`` without rows (Lightning Pose's layout: one index column)."""
    header = [
        ["scorer"] + [scorer] * (2 * len(keypoints)),
        ["bodyparts"] + [k for k in keypoints for _ in (0, 1)],
        ["coords"] + ["x", "y"] * len(keypoints),
    ]
    return LabelFile(Path(path), header, 1, [])


# --- a project's frames ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedFrame:
    """A frame extracted for labeling (:mod:`lp3d_workflows.frame_extraction`).

    Attributes:
        session: its session.
        frame: its index in the session's videos.
        method: how it was chosen (``uniform``, ``kmeans``, ``motion``, ``uncertain``, ``inconsistent``).
        score: the score that chose it (uncertainty, inconsistency), if any.
        source: the result its prefill comes from (a label), if any.
        prefill: ``{view: [[x, y] or None per keypoint]}`` smoothed positions to start from, if any.
    """

    session: str
    frame: int
    method: str
    score: float | None = None
    source: str | None = None
    prefill: dict[str, list[list[float] | None]] | None = None


@dataclass(frozen=True)
class FrameEntry:
    """A frame of the labeler: a row of the label files, or a queued frame without one yet.

    Attributes:
        id: the client's name for it.
        key: its image path without the view (:func:`lp3d_io.layout.parse_session`).
        session: its session ("" for none).
        frame: its index in the session's videos, if its image name says.
        images: ``{view: image path relative to the data root}``.
        row: its row in the label files, or None.
        n_points: labeled positions (keypoints x views).
        queued: how it was chosen, if it was extracted for labeling.
    """

    id: str
    key: str
    session: str
    frame: int | None
    images: dict[str, str]
    row: int | None = None
    n_points: int = 0
    queued: QueuedFrame | None = None


def _frame_id(key: str) -> str:
    return "frame-" + hashlib.sha1(key.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class _ViewLabels:
    """One view's label file as the labeler lists it: each row's image path and ``(row, keypoint, 2)``
    positions of the project's keypoints."""

    keys: list[str]
    positions: np.ndarray


_READ: dict[tuple[str, tuple[str, ...]], tuple[tuple[int, int, int], _ViewLabels]] = {}
_READ_LOCK = threading.Lock()


def _view_labels(path: Path, keypoints: Sequence[str]) -> _ViewLabels:
    """A view's label file, parsed again only when it changed (its inode, size or modification time:
    a save replaces the file)."""
    info = path.stat()
    stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
    key = (str(path), tuple(keypoints))
    with _READ_LOCK:
        found = _READ.get(key)
    if found is not None and found[0] == stamp:
        return found[1]
    file = read_label_file(path)
    labels = _ViewLabels([file.key(row) for row in range(len(file.rows))], file.all_positions(keypoints))
    labels.positions.flags.writeable = False
    with _READ_LOCK:
        _READ[key] = (stamp, labels)
    return labels


def _label_files(project: Project) -> dict[str, _ViewLabels]:
    if project.data_root is None or not project.views:
        return {}
    files = {}
    for view in project.views:
        path = project.data_root / labels_file(view)
        if path.is_file():
            files[view] = _view_labels(path, project.keypoints)
    return files if len(files) == len(project.views) else {}


def read_queue(project: Project) -> list[QueuedFrame]:
    """The frames extracted for labeling (none without a queue)."""
    path = project.root / LABELING_DIR / _QUEUE
    try:
        items = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    out = []
    for item in items if isinstance(items, list) else []:
        with contextlib.suppress(TypeError, KeyError, ValueError):
            out.append(QueuedFrame(**item))
    return out


def add_to_queue(project: Project, frames: Sequence[QueuedFrame]) -> None:
    """Adds frames to the queue (a frame queued again replaces its earlier entry)."""
    with _lock(project.root / LABELING_DIR / _QUEUE):
        kept = {(q.session, q.frame): q for q in read_queue(project)}
        for q in frames:
            kept[(q.session, q.frame)] = q
        write_text_atomic(
            project.root / LABELING_DIR / _QUEUE,
            json.dumps([q.__dict__ for q in kept.values()], allow_nan=False),
        )


def list_frames(project: Project) -> list[FrameEntry]:
    """The labeled frames (rows of the label files, in their order), then the queued frames that
    have no row yet (in the order they were queued)."""
    files = _label_files(project)
    views = project.views
    entries: list[FrameEntry] = []
    keys: set[str] = set()
    if files:
        labeled = {v: np.isfinite(files[v].positions).all(-1).sum(-1) for v in views}  # (row,) per view
        for row in range(len(files[views[0]].keys)):
            images = {v: files[v].keys[row] if row < len(files[v].keys) else "" for v in views}
            session, key = parse_session(images[views[0]], views[0])
            found = frame_id(images[views[0]], views[0])
            points = sum(int(labeled[v][row]) for v in views if row < len(labeled[v]))
            entries.append(
                FrameEntry(_frame_id(key), key, session, None if found is None else found[1], images, row, points)
            )
            keys.add(key)
    for q in read_queue(project):
        images = {v: frame_image_path(q.session, v, q.frame) for v in views}
        key = parse_session(images[views[0]], views[0])[1] if views else ""
        if key in keys:
            entries = [
                FrameEntry(e.id, e.key, e.session, e.frame, e.images, e.row, e.n_points, q) if e.key == key else e
                for e in entries
            ]
            continue
        keys.add(key)
        entries.append(FrameEntry(_frame_id(key), key, q.session, q.frame, images, None, 0, q))
    return entries


def find_frame(project: Project, frame_id_: str) -> FrameEntry:
    """The frame with this id. Raises KeyError (``"frame <id>: not in this project"``)."""
    for entry in list_frames(project):
        if entry.id == frame_id_:
            return entry
    raise KeyError(f"frame {frame_id_!r}: not in this project")


def frame_points(project: Project, entry: FrameEntry) -> np.ndarray:
    """``(view, keypoint, 2)`` saved positions of a frame (NaN: none)."""
    out = np.full((len(project.views), len(project.keypoints), 2), np.nan)
    if entry.row is None:
        return out
    files = _label_files(project)
    for v, view in enumerate(project.views):
        if entry.row < len(files[view].keys):
            out[v] = files[view].positions[entry.row]
    return out


def image_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` of an image (read from a PNG's header; other formats decoded), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return None if image is None else (int(image.shape[1]), int(image.shape[0]))


def check_points(
    points: Mapping[str, Mapping[str, Sequence[float] | None]],
    views: Sequence[str],
    keypoints: Sequence[str],
    sizes: Mapping[str, tuple[int, int]],
) -> np.ndarray:
    """``{view: {keypoint: [x, y] or None}}`` as ``(view, keypoint, 2)`` (NaN: not placed or not visible).

    Raises:
        UserError: a view or keypoint that does not exist, or a position outside its image
            (pixel centres at integers: ``-0.5 <= x <= width - 0.5``).
    """
    out = np.full((len(views), len(keypoints), 2), np.nan)
    for view, by_keypoint in points.items():
        if view not in views:
            raise UserError(f"view {view!r}: expected one of {list(views)}")
        v = views.index(view)
        for keypoint, xy in by_keypoint.items():
            if keypoint not in keypoints:
                raise UserError(f"keypoint {keypoint!r}: expected one of {list(keypoints)}")
            if xy is None:
                continue
            if len(xy) != 2 or not all(isinstance(c, int | float) and np.isfinite(c) for c in xy):
                raise UserError(f"{view} {keypoint}: expected [x, y] (two numbers) or null, but got {xy!r}")
            x, y = float(xy[0]), float(xy[1])
            size = sizes.get(view)
            if size is not None:
                w, h = size
                if not (-0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5):
                    raise UserError(
                        f"{view} {keypoint}: expected a position inside the {w} x {h} image "
                        f"(x in [-0.5, {w - 0.5:g}], y in [-0.5, {h - 0.5:g}]), but got ({x:g}, {y:g})"
                    )
            out[v, keypoints.index(keypoint)] = (x, y)
    return out


def save_frame(project: Project, entry: FrameEntry, positions: np.ndarray) -> FrameEntry:
    """Writes a frame's ``(view, keypoint, 2)`` positions into every view's label file at once (see
    the module docstring); the files are created when the project has none yet. Returns the frame
    as saved (its row).

    Raises:
        UserError: the project has no data folder, views or keypoints.
    """
    if project.data_root is None or not project.views or not project.keypoints:
        raise UserError("labels: expected a project with views and keypoints (create it first)")
    root = project.data_root
    views, keypoints = project.views, project.keypoints
    with _lock(root):
        files = {}
        for view in views:
            path = root / labels_file(view)
            files[view] = read_label_file(path) if path.is_file() else new_label_file(path, keypoints)
        lengths = {len(f.rows) for f in files.values()}
        if len(lengths) > 1:
            raise UserError(
                f"labels: expected the same rows in every view's label file, but got "
                f"{ {v: len(f.rows) for v, f in files.items()} }"
            )
        row = entry.row
        if row is None:  # a frame saved since the entry was listed, or a new one (appended to every file)
            row = files[views[0]].find(entry.images[views[0]])
        for v, view in enumerate(views):
            written = files[view].set(entry.images[view], keypoints, positions[v], row)
        row = written
        with contextlib.ExitStack() as stack:  # every file to a temporary file; renamed together at the end
            for f in files.values():
                tmp = stack.enter_context(atomic_path(f.path))
                tmp.write_text(f.text(), encoding="utf-8")
    points = int(np.isfinite(positions).all(-1).sum())
    return FrameEntry(entry.id, entry.key, entry.session, entry.frame, entry.images, row, points, entry.queued)


def frame_image(project: Project, entry: FrameEntry, view: str) -> Path:
    """The image file of a frame's view, inside the project.

    Raises:
        KeyError: no such view, or no image (yet) for it.
    """
    if view not in entry.images or project.data_root is None:
        raise KeyError(f"view {view!r}: expected one of {list(entry.images)}")
    path = project.data_root / entry.images[view]
    if not path.is_file() or not is_inside(project.root, path):
        raise KeyError(f"{entry.images[view]}: no image of this frame in the project")
    return path


# --- drafts --------------------------------------------------------------------------------------------


class Drafts:
    """What a labeler typed and did not save, per frame key (see the module docstring)."""

    def __init__(self, project_root: Path) -> None:
        self.path = Path(project_root) / LABELING_DIR / _DRAFTS

    def _read(self) -> dict[str, Any]:
        try:
            value = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def get(self, key: str) -> dict[str, Any] | None:
        """``{"draft": ..., "saved": time}`` of a frame, or None."""
        return self._read().get(key)

    def put(self, key: str, draft: dict[str, Any]) -> float:
        """Keeps a frame's draft (any JSON object, at most :data:`MAX_DRAFT_BYTES`); returns its time.

        Raises:
            UserError: too large.
        """
        text = json.dumps(draft, allow_nan=False)
        if len(text) > MAX_DRAFT_BYTES:
            raise UserError(f"draft: expected at most {MAX_DRAFT_BYTES} bytes of JSON, but got {len(text)}")
        now = time.time()
        with _lock(self.path):
            drafts = self._read()
            drafts[key] = {"draft": draft, "saved": now}
            write_text_atomic(self.path, json.dumps(drafts))
        return now

    def delete(self, key: str) -> None:
        with _lock(self.path):
            drafts = self._read()
            if drafts.pop(key, None) is not None:
                write_text_atomic(self.path, json.dumps(drafts))

    def keys(self) -> set[str]:
        return set(self._read())


# --- geometry -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Guide:
    """What the cameras say about a frame's placed positions.

    Attributes:
        suggested: ``(view, keypoint, 2)`` the triangulation of the placed positions (two views or
            more) projected into every view (NaN: fewer than two placed).
        errors: ``(view, keypoint)`` pixels between a placed position and that projection (NaN where
            nothing is placed, or fewer than two views are).
        epipolar: ``{(from view, to view): [curve, ...]}`` for the chosen keypoint: each curve
            ``(n, 2)`` pixels inside the ``to`` view's image.
    """

    suggested: np.ndarray
    errors: np.ndarray
    epipolar: dict[tuple[str, str], list[np.ndarray]] = field(default_factory=dict)

    def as_dict(self, views: Sequence[str], keypoints: Sequence[str]) -> dict[str, Any]:
        """``{"suggested": {view: {keypoint: [x, y]}}, "errors": {view: {keypoint: px}}, "epipolar":
        [{"source", "target", "curves"}]}``, leaving out what is NaN."""
        return {
            "suggested": {
                view: {
                    k: self.suggested[v, i].tolist()
                    for i, k in enumerate(keypoints)
                    if np.isfinite(self.suggested[v, i]).all()
                }
                for v, view in enumerate(views)
            },
            "errors": {
                view: {k: float(self.errors[v, i]) for i, k in enumerate(keypoints) if np.isfinite(self.errors[v, i])}
                for v, view in enumerate(views)
            },
            "epipolar": [
                {"source": a, "target": b, "curves": [np.round(c, 2).tolist() for c in curves]}
                for (a, b), curves in self.epipolar.items()
            ],
        }


def _ray(camera: Any, pixel: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Camera centre and unit direction (world) of the ray through ``pixel`` (None beyond the lens)."""
    normalized = camera.undistort(np.asarray(pixel, dtype=np.float64))
    if not np.isfinite(normalized).all():
        return None
    rotation = camera.rotation
    centre = -rotation.T @ camera.tvec
    direction = rotation.T @ np.array([normalized[0], normalized[1], 1.0])
    return centre, direction / np.linalg.norm(direction)


def epipolar_curve(rig: Any, source: str, target: str, pixel: Sequence[float], n: int = 200) -> list[np.ndarray]:
    """The curve in view ``target`` of the camera ray through ``pixel`` of view ``source``: points
    along the ray, from near its camera to far beyond the rig, projected with ``target``'s lens
    model; split where it leaves the image or passes behind the camera. ``[(n_i, 2), ...]``, each
    run inside the image sampled again with ``n`` points."""
    a, b = rig[source], rig[target]
    ray = _ray(a, np.asarray(pixel, dtype=np.float64))
    if ray is None:
        return []
    centre, direction = ray
    centres = np.stack([-c.rotation.T @ c.tvec for c in rig.cameras])
    scale = float(np.median(np.linalg.norm(centres - centres.mean(axis=0), axis=1))) or 1.0
    w, h = b.size

    def project(depths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points = centre + depths[:, None] * direction
        pixels = b.project(points)
        inside = ((points @ b.rotation.T + b.tvec)[:, 2] > 0) & np.isfinite(pixels).all(axis=1)
        inside &= (pixels[:, 0] >= -0.5) & (pixels[:, 1] >= -0.5)
        if w > 0 and h > 0:
            inside &= (pixels[:, 0] <= w - 0.5) & (pixels[:, 1] <= h - 0.5)
        return pixels, inside

    def runs(inside: np.ndarray) -> list[tuple[int, int]]:
        edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(np.int8), [0]])))
        return list(zip(edges[0::2], edges[1::2], strict=True))

    depths = np.geomspace(1e-3 * scale, 1e3 * scale, 4 * n)
    _, inside = project(depths)
    curves = []
    for start, stop in runs(inside):
        fine = np.geomspace(depths[max(start - 1, 0)], depths[min(stop, len(depths) - 1)], n)
        pixels, ok = project(fine)
        curves += [pixels[i:j] for i, j in runs(ok) if j - i >= 2]
    return curves


def guide(rig: Any, positions: np.ndarray, views: Sequence[str], keypoint: int | None = None) -> Guide:
    """Suggestions, reprojection errors and the chosen keypoint's epipolar curves (see the module
    docstring) of ``positions`` ``(view, keypoint, 2)`` (NaN: not placed) in ``views`` (the rig's
    cameras of those names)."""
    rig = rig.subset(list(views))
    positions = np.asarray(positions, dtype=np.float64)
    V, K = positions.shape[:2]  # noqa: N806
    placed = np.isfinite(positions).all(-1)  # (view, keypoint)
    suggested = np.full((V, K, 2), np.nan)
    errors = np.full((V, K), np.nan)
    enough = placed.sum(axis=0) >= 2
    if enough.any():
        points3d = rig.triangulate(positions[:, enough])  # (k, 3)
        projected = rig.project(points3d)  # (view, k, 2)
        suggested[:, enough] = projected
        errors[:, enough] = np.where(
            placed[:, enough], np.linalg.norm(projected - positions[:, enough], axis=-1), np.nan
        )
    epipolar: dict[tuple[str, str], list[np.ndarray]] = {}
    if keypoint is not None and 0 <= keypoint < K:
        for a in range(V):
            if not placed[a, keypoint]:
                continue
            for b in range(V):
                if b != a:
                    epipolar[(views[a], views[b])] = epipolar_curve(rig, views[a], views[b], positions[a, keypoint])
    return Guide(suggested, errors, epipolar)


# --- what a labeler page needs -----------------------------------------------------------------------


def points_dict(positions: np.ndarray, views: Sequence[str], keypoints: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``(view, keypoint, 2)`` as ``{view: {keypoint: [x, y] or None}}``."""
    return {
        view: {
            k: [float(positions[v, i, 0]), float(positions[v, i, 1])] if np.isfinite(positions[v, i]).all() else None
            for i, k in enumerate(keypoints)
        }
        for v, view in enumerate(views)
    }


def frame_session(project: Project, entry: FrameEntry) -> Any:
    """The project's session of a frame (None: a frame of no session the project knows)."""
    return next((s for s in project.sessions if s.name == entry.session), None)


def frame_image_sizes(project: Project, entry: FrameEntry) -> dict[str, tuple[int, int]]:
    """Each view's image ``(width, height)``: its image file's, else its session's."""
    session = frame_session(project, entry)
    sizes = {}
    for view in project.views:
        size = None
        if project.data_root is not None and view in entry.images:
            size = image_size(project.data_root / entry.images[view])
        if size is None and session is not None:
            size = session.image_sizes.get(view)
        if size is not None:
            sizes[view] = size
    return sizes


def session_rig(project: Project, entry: FrameEntry) -> Any:
    """The calibration of a frame's session (a :class:`lp3d_eks.CameraRig`), or None.

    Raises:
        UserError: a calibration without a camera for every view.
    """
    from lp3d_eks import CameraRig

    session = frame_session(project, entry)
    if session is None or session.calibration is None:
        return None
    rig = CameraRig.from_toml(project.calibration(session.calibration).path)
    missing = [v for v in project.views if v not in rig.names]
    if missing:
        raise UserError(f"calibration: expected a camera named after every view, but {missing} have none")
    return rig


def frame_details(project: Project, entry: FrameEntry, drafts: Drafts) -> dict[str, Any]:
    """A frame as the labeler opens it: images' sizes, saved points, prefill, draft, calibration."""
    session = frame_session(project, entry)
    stored = drafts.get(entry.key)
    prefill = None
    if entry.queued is not None and entry.queued.prefill:
        prefill = {
            view: {k: p for k, p in zip(project.keypoints, row, strict=False)}
            for view, row in entry.queued.prefill.items()
            if view in project.views
        }
    return {
        "id": entry.id,
        "session": entry.session,
        "session_id": None if session is None or not session.videos else session.id,
        "frame": entry.frame,
        "n_frames": 0 if session is None else session.n_frames,
        "views": project.views,
        "keypoints": project.keypoints,
        "image_sizes": frame_image_sizes(project, entry),
        "points": points_dict(frame_points(project, entry), project.views, project.keypoints),
        "prefill": prefill,
        "prefill_source": None if entry.queued is None else entry.queued.source,
        "draft": None if stored is None else stored.get("draft"),
        "draft_saved": None if stored is None else stored.get("saved"),
        "calibrated": session is not None and session.calibration is not None,
    }
