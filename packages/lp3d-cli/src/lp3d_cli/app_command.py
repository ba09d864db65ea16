"""``lp3d app``: the browser app (lp3d-app, the ``app`` extra), mounted into ``lp3d`` by :mod:`lp3d_cli.main`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from lp3d_workflows.errors import MissingExtraError


def app(
    project_dir: Annotated[
        Path,
        typer.Argument(help="The project folder (lp3d init / lp3d pipeline / lp3d demo output).", show_default=False),
    ] = Path("."),
    host: Annotated[
        str, typer.Option("--host", help="Interface to listen on; beyond 127.0.0.1 a token is required.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8080,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", help="Access token (default: a new one, printed in the URL); '' turns it off on 127.0.0.1."
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Path prefix behind a reverse proxy, e.g. /lp3d.")
    ] = None,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser.")] = False,
) -> None:
    """Open a project in the browser: sessions in a synchronized multi-view viewer, smoothing jobs, diagnostics.

    [bold]Examples[/bold]

      lp3d app demo-out/
      lp3d app project/ --host 0.0.0.0 --port 8888 --base-url /lp3d --no-browser
    """
    try:
        from lp3d_app.server import serve
    except ImportError:
        raise MissingExtraError(
            "lp3d app needs lp3d-app, which is not installed: pip install 'lp3d-cli[app]'"
        ) from None
    serve(project_dir, host=host, port=port, token=token, base_url=base_url, open_browser=not no_browser)
