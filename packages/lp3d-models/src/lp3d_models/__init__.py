"""lp3d-models: multi-view transformer pose models (filled in by the models issue)."""

__version__ = "0.1.0"
