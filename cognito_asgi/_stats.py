from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["AuthStats"]


@dataclass(slots=True)
class AuthStats:
    """Counters of one TokenVerifier and the middleware using it, read by monitoring.

    Plain integers, bumped on the request path at the cost of an addition; the Prometheus
    integration (`cognito_asgi.prometheus`) reads them when scraped.
    """

    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    cache_hits: int = 0
    cache_misses: int = 0
    #: Verified tokens a full cache did not take in (seen once lately; see TokenVerifier).
    cache_turned_away: int = 0
    #: Batches of new tokens the middleware verified together, and the requests in them.
    verification_batches: int = 0
    batched_requests: int = 0
