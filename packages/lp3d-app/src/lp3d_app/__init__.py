"""The lp3d browser app: a FastAPI server over lp3d_workflows, and its built front end (``static/``).

``lp3d app PROJECT_DIR`` (lp3d-cli) or :func:`lp3d_app.server.serve` runs it; :func:`lp3d_app.server.create_app`
builds the ASGI app (tests use it with FastAPI's TestClient).
"""

__version__ = "0.1.0"
