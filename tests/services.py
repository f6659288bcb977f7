"""`require(service, reason)`: skip a test locally when a service is missing, fail in CI.

CI sets LEPTONCI_REQUIRE_SERVICES=1, and then a missing Docker engine or registry is a
failure, never a quiet skip.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def services_required() -> bool:
    return os.environ.get("LEPTONCI_REQUIRE_SERVICES") == "1"


def require(service: str, reason: str) -> NoReturn:
    """Stop the current test: pytest.fail in CI, pytest.skip elsewhere."""
    message = f"{service} unavailable: {reason}"
    if services_required():
        pytest.fail(f"{message} (LEPTONCI_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)
