"""The app's server: :func:`create_app` builds it, :func:`serve` runs it with uvicorn.

Routes (under the base URL): ``/`` the page, ``/assets/...`` its files, ``/api/...`` one router
per resource (:mod:`lp3d_app.routers`). Every route depends on :func:`lp3d_app.security.check_request`.
Errors are one line of JSON, ``{"error": "..."}``: 400 for bad input (what was expected, and what
came), 401 / 403 for access, 404 for an id that is not in the project, 500 for a bug (logged with
its traceback on the server, never sent).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from lp3d_workflows.errors import one_line
from lp3d_workflows.project import describe_project
from starlette.exceptions import HTTPException

from lp3d_app import __version__
from lp3d_app.routers import assets, diagnostics, frames, jobs, labels, models, project, sessions, sources
from lp3d_app.security import (
    COOKIE,
    Security,
    check_host_and_origin,
    check_request,
    is_loopback,
    new_token,
    token_matches,
)
from lp3d_app.state import AppState

__all__ = ["create_app", "serve", "normalize_base_url", "app_url"]

log = logging.getLogger("lp3d_app")


def normalize_base_url(base_url: str | None) -> str:
    """``"prefix"``, ``"/prefix/"`` -> ``"/prefix"``; ``None``, ``"/"`` -> ``""``.

    Raises:
        ValueError: characters a URL path prefix should not have.
    """
    value = (base_url or "").strip().strip("/")
    if not value:
        return ""
    if any(c in value for c in "?#%\\ ") or ".." in value.split("/"):
        raise ValueError(f"--base-url: expected a path like /prefix, but got {base_url!r}")
    return "/" + value


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


def _validation_message(err: RequestValidationError) -> str:
    parts = []
    for e in err.errors()[:3]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(
            f"{where}: {e.get('msg', 'invalid')}"
            + (f", but got {e['input']!r}" if "input" in e and not isinstance(e["input"], dict) else "")
        )
    return "; ".join(parts) or "invalid request"


def create_app(
    root: str | os.PathLike, security: Security, *, assets_dir: Path | None = None, frontend: bool = True
) -> FastAPI:
    """The app for project folder ``root``.

    Raises:
        UserError: ``root`` is not a folder.
        FrontendMissing: the front end is not built (``frontend=False``: serve the API alone).
    """
    base = security.base_url
    state = AppState(Path(root))
    describe_project(root)  # a bad folder fails here, before the server starts

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        interrupted = state.jobs.recover()
        if interrupted:
            log.info(f"marked {len(interrupted)} job(s) left running by an earlier server as interrupted")
        yield
        state.jobs.shutdown()
        state.close()

    app = FastAPI(
        title="lp3d app",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=f"{base}/api/openapi.json",
    )
    app.state.security = security
    app.state.lp3d = state
    app.state.assets = assets.load_assets(assets_dir or assets.STATIC) if frontend else {}

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, err: HTTPException) -> JSONResponse:
        return _error(err.status_code, err.detail)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, err: RequestValidationError) -> JSONResponse:
        return _error(400, _validation_message(err))

    async def not_found(_request: Request, err: Exception) -> JSONResponse:
        return _error(404, err.args[0] if err.args else type(err).__name__)

    async def user_error(_request: Request, err: Exception) -> JSONResponse:
        return _error(400, one_line(err))

    for kind in (KeyError, IndexError):  # an id or a frame that is not there
        app.add_exception_handler(kind, not_found)
    for kind in (ValueError, OSError):  # what lp3d_workflows.errors calls user errors
        app.add_exception_handler(kind, user_error)

    @app.exception_handler(Exception)
    async def any_error(request: Request, err: Exception) -> JSONResponse:
        log.error(f"{request.method} {request.url.path}: internal error", exc_info=err)
        return _error(500, f"internal error: {type(err).__name__}: {one_line(err)}")

    @app.middleware("http")
    async def access_log(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        # the path only: a query may hold the token
        log.debug(
            f"{request.method} {request.url.path} {response.status_code} {1000 * (time.perf_counter() - start):.0f} ms"
        )
        return response

    # the page: a valid ?token= becomes a cookie, and the URL loses it
    def page(request: Request) -> Response:
        check_host_and_origin(security, request)
        query_token = request.query_params.get("token")
        if query_token is not None and token_matches(security, query_token):
            response = RedirectResponse(f"{base}/", status_code=303)
            response.set_cookie(COOKIE, query_token, httponly=True, samesite="strict", path=f"{base}/")
            return response
        if security.token is not None and not token_matches(security, request.cookies.get(COOKIE)):
            return Response(
                "<!doctype html><title>lp3d app</title><p>This lp3d app needs its token: open the URL that "
                "<code>lp3d app</code> printed (it ends with <code>?token=...</code>).</p>",
                status_code=401,
                media_type="text/html",
            )
        return assets._index(request)

    app.add_api_route(f"{base}/", page, methods=["GET"], include_in_schema=False)
    if base:
        app.add_api_route(base, lambda: RedirectResponse(f"{base}/", 308), methods=["GET"], include_in_schema=False)
    checked = [Depends(check_request)]
    app.include_router(assets.router, prefix=base, dependencies=checked)
    for module in (project, sessions, frames, sources, diagnostics, jobs, labels, models):
        app.include_router(module.router, prefix=f"{base}/api", dependencies=checked)
    return app


def app_url(host: str, port: int, base_url: str, token: str | None) -> str:
    """The URL to open (with the token, as Jupyter prints it)."""
    shown = "localhost" if host in ("127.0.0.1", "localhost") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}{base_url}/" + (f"?token={token}" if token else "")


def serve(
    root: str | os.PathLike,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    base_url: str | None = None,
    open_browser: bool = True,
    on_url=print,
) -> None:
    """Runs the app until Ctrl-C (or SIGTERM); running jobs are stopped with it.

    Args:
        root: the project folder.
        host: the interface (127.0.0.1: this machine only).
        port: the port.
        token: the token; None generates one; ``""`` turns it off (loopback only).
        base_url: a path prefix for a reverse proxy.
        open_browser: open the URL in a browser.
        on_url: called with the line to print (the URL with its token).
    """
    import uvicorn

    loopback = is_loopback(host)
    if token == "":
        if not loopback:
            raise ValueError(f"--token: expected a token when listening on {host} (beyond this machine), but got ''")
        token_value = None
    else:
        token_value = token or new_token()
    security = Security(token_value, loopback, normalize_base_url(base_url))
    app = create_app(root, security)
    url = app_url(host, port, security.base_url, token_value)
    on_url(f"lp3d app: {Path(root).resolve()} at {url}")
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    config = uvicorn.Config(app, host=host, port=port, access_log=False, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    server.run()
