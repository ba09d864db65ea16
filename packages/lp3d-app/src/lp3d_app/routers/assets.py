"""The page and its built assets (``static/``, from ``make frontend``), served only from a fixed list.

The list of files is read once at start: a request names an entry of it or gets 404, so no path
from a client reaches the file system. ``index.html`` gets ``<base href>`` for the base URL.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["assets"])


class FrontendMissing(RuntimeError):
    pass


def load_assets(static: Path = STATIC) -> dict[str, tuple[bytes, str]]:
    """``{relative path: (bytes, media type)}`` of the built front end.

    Raises:
        FrontendMissing: the front end is not built (one line saying how to build it).
    """
    if not (static / "index.html").is_file():
        raise FrontendMissing(
            f"the lp3d app's front end is not built ({static}/index.html is missing): run `make frontend` "
            "(npm ci && npm run build in packages/lp3d-app/frontend)"
        )
    assets = {}
    for path in static.rglob("*"):
        if path.is_file() and not path.is_symlink():
            media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            assets[path.relative_to(static).as_posix()] = (path.read_bytes(), media)
    return assets


def _index(request: Request) -> Response:
    data, _ = request.app.state.assets["index.html"]
    base = request.app.state.security.base_url + "/"
    html = data.decode().replace("<head>", f'<head>\n    <base href="{base}">', 1)
    return Response(html, media_type="text/html", headers={"Cache-Control": "no-store"})


@router.get("/assets/{name:path}", include_in_schema=False)
def asset(name: str, request: Request) -> Response:
    found = request.app.state.assets.get(f"assets/{name}")
    if found is None:
        raise HTTPException(404, f"asset {name!r}: no such file in the app")
    data, media = found
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=31536000, immutable"})
