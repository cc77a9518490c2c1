"""Loading the scripts under .ci/ (not a package) as modules, for the tests that check them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def load(name: str) -> ModuleType:
    """The module of ``.ci/<name>.py``, registered in ``sys.modules`` under ``name`` (the
    dataclasses those scripts define look their module up there)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / ".ci" / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load .ci/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
