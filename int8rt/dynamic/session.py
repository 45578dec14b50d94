"""DynamicSession: the deprecated name of int8rt.Session for dynamic-path models."""

from __future__ import annotations

import warnings
from typing import Any

from ..session import MAX_PLANS, Session


class DynamicSession(Session):
    """Deprecated alias: int8rt.Session runs every kind of .i8 model (static, dynamic int8,
    weight-only, float onnx layout) with one feed validation."""

    def __init__(self, model: Any, max_plans: int = MAX_PLANS, threads: int | None = 1) -> None:
        warnings.warn("int8rt.DynamicSession is deprecated: int8rt.Session runs dynamic and "
                      "weight-only models too", DeprecationWarning, stacklevel=2)
        super().__init__(model, threads=threads, max_plans=max_plans)
