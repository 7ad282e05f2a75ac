"""Prometheus metrics for cognito-asgi (needs the `prometheus` extra, prometheus-client).

The counters are plain integers kept by the verifier and its key cache; this collector reads
them at scrape time, so monitoring adds nothing to the request path::

    from prometheus_client import make_asgi_app
    from cognito_asgi.prometheus import register

    app = CognitoAuthMiddleware(inner, public_paths=["/metrics"])
    register(app.verifier)
    inner.mount("/metrics", make_asgi_app())

Metrics (all counters): `cognito_asgi_requests_accepted_total`,
`cognito_asgi_requests_refused_total{reason}`, `cognito_asgi_token_cache_hits_total`,
`cognito_asgi_token_cache_misses_total`, `cognito_asgi_token_cache_turned_away_total`,
`cognito_asgi_verification_batches_total`,
`cognito_asgi_batched_requests_total`, `cognito_asgi_jwks_fetches_total`,
`cognito_asgi_jwks_fetch_failures_total`.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import REGISTRY, CounterMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ._verifier import TokenVerifier

__all__ = ["CognitoCollector", "register"]


class CognitoCollector(Collector):
    """Exposes one TokenVerifier's counters (and its key cache's) to Prometheus."""

    def __init__(self, verifier: TokenVerifier, *, namespace: str = "cognito_asgi") -> None:
        self.verifier = verifier
        self.namespace = namespace

    def collect(self) -> Iterator[Metric]:
        stats, jwks, ns = self.verifier.stats, self.verifier.jwks, self.namespace
        counters = [
            ("requests_accepted", "Requests with a valid token", stats.accepted),
            ("token_cache_hits", "Tokens served from the verified-token cache", stats.cache_hits),
            ("token_cache_misses", "Tokens verified in full", stats.cache_misses),
            (
                "token_cache_turned_away",
                "Verified tokens the full cache did not take in",
                stats.cache_turned_away,
            ),
            (
                "verification_batches",
                "Batches of new tokens verified together",
                stats.verification_batches,
            ),
            (
                "batched_requests",
                "Requests whose token was verified in a batch",
                stats.batched_requests,
            ),
            ("jwks_fetches", "Successful key-set fetches", jwks.fetches),
            ("jwks_fetch_failures", "Failed key-set fetches", jwks.fetch_failures),
        ]
        for name, documentation, value in counters:
            yield CounterMetricFamily(f"{ns}_{name}", documentation, value=value)
        refused = CounterMetricFamily(
            f"{ns}_requests_refused", "Requests refused, by reason code", labels=["reason"]
        )
        for reason, count in sorted(stats.refused.items()):
            refused.add_metric([reason], count)
        yield refused


def register(
    verifier: TokenVerifier,
    registry: CollectorRegistry = REGISTRY,
    *,
    namespace: str = "cognito_asgi",
) -> CognitoCollector:
    """Register a collector for `verifier` (e.g. `middleware.verifier`) and return it."""
    collector = CognitoCollector(verifier, namespace=namespace)
    registry.register(collector)
    return collector
