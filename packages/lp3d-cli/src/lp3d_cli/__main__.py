"""``python -m lp3d_cli`` runs the ``lp3d`` command."""

from lp3d_cli.main import app

app()
