"""JSON with numpy arrays (orjson; NaN becomes null) for the large numeric responses."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import orjson
from fastapi import Response

__all__ = ["NumpyJSONResponse", "dataclass_json"]


class NumpyJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_array, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def _array(value: Any) -> Any:
    if isinstance(value, np.ndarray):  # a view that is not C-contiguous
        return np.ascontiguousarray(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dataclass_json(value: Any) -> Any:
    """A dataclass (nested) as plain data for :class:`NumpyJSONResponse`."""
    return dataclasses.asdict(value)
