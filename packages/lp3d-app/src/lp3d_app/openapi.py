"""Prints the server's OpenAPI schema (the typed client of the front end is generated from it):

python -m lp3d_app.openapi > packages/lp3d-app/frontend/openapi.json
"""

from __future__ import annotations

import json
import sys
import tempfile


def schema() -> dict:
    """The OpenAPI schema of the app (built on an empty project, without the front end)."""
    from lp3d_app.security import Security
    from lp3d_app.server import create_app

    with tempfile.TemporaryDirectory() as root:
        return create_app(root, Security(None, True), frontend=False).openapi()


if __name__ == "__main__":
    json.dump(schema(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
