"""Interleaved, bounded timing shared by the benchmarks in this directory.

Every operation runs in batches of about BATCH_SECONDS. One round times one batch of each
operation, in an order that rotates from round to round, so a noisy moment of the machine
falls on all of them alike; each batch is preceded by an untimed tenth, so it is timed in
its own steady state rather than in the caches the previous operation left. The tables show
the best and the median round, and ratios compare best with best.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter

from cognito_asgi import TokenVerifier
from cognito_asgi.testing import LocalIssuer

__all__ = [
    "Batch",
    "Row",
    "measure",
    "parse_run_options",
    "print_table",
    "sync_batch",
    "verifier_with_a_full_cache",
]

#: Runs the operation `n` times and returns the seconds it took.
Batch = Callable[[int], float]
BATCH_SECONDS = 0.005
MAX_BATCH = 5000


@dataclass
class Row:
    name: str
    batch: Batch
    number: int = 0  # operations per batch, set by calibration
    times: list[float] = field(default_factory=list)  # µs per operation, one per round

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def sync_batch(operation: Callable[[], object]) -> Batch:
    def run(n: int) -> float:
        start = perf_counter()
        for _ in range(n):
            operation()
        return perf_counter() - start

    return run


def _calibrate(row: Row) -> None:
    row.batch(3)  # a first run: fails early if the operation does
    n = 8
    while n < MAX_BATCH and row.batch(n) < BATCH_SECONDS / 4:
        n *= 2
    row.number = max(8, min(MAX_BATCH, int(n * BATCH_SECONDS / max(row.batch(n), 1e-9))))


def measure(rows: list[Row], rounds: int) -> None:
    """Fill each row's `times` with `rounds` interleaved measurements."""
    for row in rows:
        _calibrate(row)
        row.times.clear()
    for round_number in range(rounds):
        shift = round_number % len(rows)
        for row in rows[shift:] + rows[:shift]:
            row.batch(max(2, row.number // 10))  # untimed warm-up
            row.times.append(row.batch(row.number) / row.number * 1e6)


def print_table(rows: list[Row], baseline: Row, title: str, unit: str = "operation") -> None:
    print(f"\n{title}\n")
    print(f"| {unit} | best µs | median µs | ratio to {baseline.name.split(':')[0]} |")
    print("|---|---:|---:|---:|")
    for row in rows:
        ratio = row.best / baseline.best
        print(f"| {row.name} | {row.best:.1f} | {row.median:.1f} | {ratio:.2f} |")


def parse_run_options(doc: str | None) -> tuple[int, int]:
    """`--quick` and `--rounds` of a benchmark script: (rounds, distinct tokens to mint)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few short rounds")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 30, quick 3)")
    args = parser.parse_args()
    return args.rounds or (3 if args.quick else 30), 16 if args.quick else 256


def verifier_with_a_full_cache(issuer: LocalIssuer, size: int) -> TokenVerifier:
    """A TokenVerifier whose cache of `size` entries is full of tokens not used again.

    A full cache takes a new token in only on its second verification among its last `size`
    refusals, which a rotation through more than `size` distinct tokens never gives: every
    token of such a rotation misses, as with a stream of tokens each used once.
    """
    verifier = TokenVerifier(issuer.settings(token_cache_size=size))
    for n in range(size):
        asyncio.run(verifier.verify(issuer.access_token(f"earlier{n}")))
    return verifier
