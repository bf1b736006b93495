"""When to try a delivery again: exponential backoff with jitter, and what counts as transient.

Pure. A webhook answer of 2xx is delivered; 5xx, 429 and 408 (and timeouts, refused or reset
connections) are transient and retried; any other status fails at once. SMTP reply codes 4xx
are transient, 5xx permanent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    SENT = "sent"
    RETRY = "retry"
    FAIL = "fail"


@dataclass(frozen=True)
class Attempt:
    verdict: Verdict
    error: str | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait (429)


@dataclass(frozen=True)
class DeliveryPolicy:
    """Knobs of delivery (defaults for production; tests shrink the times)."""

    timeout: float = 10.0  # seconds for one webhook POST or one SMTP session
    backoff_base: float = 2.0  # first retry after about this many seconds, then doubling
    backoff_max: float = 3600.0
    jitter: float = 0.5  # each wait is scaled by a random factor in [1-j, 1+j]
    inline_max: float = 10.0  # waits up to this long happen inside the same send call
    lease: float = 300.0  # claimed alerts stay invisible to other senders this long
    concurrency: int = 8  # webhook POSTs in flight

    def delay(
        self, attempts: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after the `attempts`-th failed attempt."""
        base = min(self.backoff_max, self.backoff_base * 2 ** max(0, attempts - 1))
        factor = 1 + (rng or random).uniform(-self.jitter, self.jitter)
        wait = base * factor
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.backoff_max))
        return wait


def http_verdict(status: int, reason: str | None = None, retry_after: str | None = None) -> Attempt:
    if 200 <= status < 300:
        return Attempt(Verdict.SENT)
    error = f"HTTP {status}" + (f" {reason}" if reason else "")
    if status >= 500 or status in (408, 429):
        after = None
        if retry_after and retry_after.strip().isdigit():
            after = float(retry_after.strip())
        return Attempt(Verdict.RETRY, error, after)
    return Attempt(Verdict.FAIL, error)


def smtp_verdict(code: int | None, error: str) -> Attempt:
    if code is not None and 500 <= code < 600:
        return Attempt(Verdict.FAIL, error)
    return Attempt(Verdict.RETRY, error)
