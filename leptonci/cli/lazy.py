"""Lazy binding of the modules the CLI calls, so `leptonci --help` loads none of them."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType


def lazy(name: str) -> ModuleType:
    """A module that is loaded on first use: `leptonci --help` imports no command."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, name
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")  # as an import would: leptonci.commands.build
    setattr(importlib.import_module(parent), child, module)
    return module
