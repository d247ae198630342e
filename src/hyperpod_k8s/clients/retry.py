"""The one retry policy: transient failures only (throttling, 5xx, connection errors), finite backoff.

Facades classify their client's exceptions into :class:`~hyperpod_k8s.errors.TransientError` (worth
another try) or another :class:`~hyperpod_k8s.errors.HpkError` (final at once); this module only
decides when to try again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from hyperpod_k8s.errors import TransientError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    # Full-jitter exponential backoff, capped; the number of delays is the number of retries.
    delays: Sequence[float] = (0.2, 0.5, 1.0, 2.0, 4.0)
    jitter: float = 0.5  # each delay is scaled by a random factor in [1 - jitter, 1]
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def call(self, fn: Callable[[], T], *, on_retry: Callable[[TransientError, float], None] | None = None) -> T:
        for delay in [*self.delays, None]:
            try:
                return fn()
            except TransientError as e:
                if delay is None:
                    raise
                pause = delay * (1 - self.jitter * random.random())
                if on_retry is not None:
                    on_retry(e, pause)
                self.sleep(pause)
        raise AssertionError("unreachable")


DEFAULT_POLICY = RetryPolicy()
NO_RETRY = RetryPolicy(delays=())
