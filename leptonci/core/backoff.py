"""Bounded exponential backoff with jitter: the one retry schedule every adapter uses.

The schedule only: the loop that follows it is ``leptonci.adapters.retrying``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based).

        Doubles from base_delay up to max_delay; jittered to between half and all of
        that, so parallel jobs retrying the same remote spread out.
        """
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(attempt - 1, 0))
        return ceiling * (0.5 + random.random() / 2)
