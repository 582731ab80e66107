"""Benchmark: the DPoP replay cache under a flood of unique `jti`s, and what a proof costs (not a test).

    .venv/bin/python tests/benchmarks/bench_replay_cache.py [--rate 10000] [--seconds 60] [--proofs 2000]

A thief who cannot forge a proof can still send proofs of its own, each with a fresh `jti`, as fast as it
likes: every one of them must be remembered for the proof window, or a captured proof could be replayed.
Three ways to remember, fed the same flood (`--rate` unique `jti`s per second of course time for
`--seconds`, which is inside the 65 s window, so nothing expires on its own):

* a plain set of every `jti` ever seen — what a first attempt writes;
* `ReplayCache` bounded by time only (`max_entries` larger than the flood);
* `ReplayCache` as `DpopVerifier` builds it: `max_entries=100_000`, with the rising floor.

For each, the entries held at the end, the memory they take (`tracemalloc`, a pass of its own) and the
wall-clock microseconds per `remember`, run side by side and printed as ratios to the bounded cache. After
the flood the bounded cache is checked the way an attacker would probe it: a replay of a recent proof,
a replay of one it had to forget, and an honest fresh proof.

Last, the price of DPoP per request: `DpopVerifier.verify` of a real ES256 proof (signature, claims,
`ath`, `cnf.jkt`, replay cache) next to `verify_token` of the access token it accompanies, medians of
`--proofs` each. Figures are also written to `_build/figures/bench_replay_cache.json`.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import jwt
from report import print_table, write_figures

from jwtlab.clock import COURSE_NOW, DEMO_ISSUER
from jwtlab.dpop import DpopVerifier, ReplayCache, jkt_of, make_proof
from jwtlab.keys import ed25519_key, jwks, p256_key
from jwtlab.verify import verify_token

WINDOW = 65.0  #: DpopVerifier's default max_age 60 s + leeway 5 s
BOUND = 100_000  #: DpopVerifier's default max_entries


class PlainSet:
    """Every jti ever seen, forever: never forgets, so never lets a replay through — and never stops growing."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __len__(self) -> int:
        return len(self.seen)

    def remember(self, jti: str, iat: float, now: float) -> str | None:
        if jti in self.seen:
            return "replay"
        self.seen.add(jti)
        return None


STRATEGIES: dict[str, Callable[[int], Any]] = {
    "plain set of every jti": lambda flood: PlainSet(),
    "ReplayCache, time bound only": lambda flood: ReplayCache(window=WINDOW, max_entries=flood + 1),
    "ReplayCache, 100,000 entries": lambda flood: ReplayCache(window=WINDOW, max_entries=BOUND),
}


def flood(cache: Any, rate: int, seconds: int) -> float:
    """Feed `rate * seconds` unique jtis, `rate` per course second; return wall-clock µs per remember."""
    started = time.perf_counter()
    for second in range(seconds):
        now = COURSE_NOW + second
        for i in range(rate):
            cache.remember(f"flood-{second}-{i}", now, now)
    return (time.perf_counter() - started) / (rate * seconds) * 1e6


def memory_mb(name: str, rate: int, seconds: int) -> tuple[int, float]:
    """(entries held, MB allocated by the cache) after the flood, in a pass of its own."""
    gc.collect()
    tracemalloc.start()
    cache = STRATEGIES[name](rate * seconds)
    flood(cache, rate, seconds)
    held, (current, _) = len(cache), tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return held, current / 2**20


def probe_after_flood(rate: int, seconds: int) -> dict[str, str | None]:
    """What the bounded cache answers once the flood is over (None = accepted)."""
    cache = ReplayCache(window=WINDOW, max_entries=BOUND)
    flood(cache, rate, seconds)
    now = COURSE_NOW + seconds - 1
    return {
        "replay of the newest flood proof": cache.remember(f"flood-{seconds - 1}-{rate - 1}", now, now),
        "replay of the oldest flood proof": cache.remember("flood-0-0", COURSE_NOW, now),
        "an honest proof made now": cache.remember("honest-1", now + 1, now + 1),
    }


def proof_costs(n: int) -> dict[str, float]:
    """Median µs: verify_token of an access token, and DpopVerifier.verify of its proof."""
    idp_key, client_key = ed25519_key("bench/idp"), p256_key("bench/client")  # DEMO keys
    now = COURSE_NOW
    claims = {"iss": DEMO_ISSUER, "sub": "alice", "aud": "orders-api", "iat": int(now), "exp": int(now) + 300,
              "jti": "at-1", "cnf": {"jkt": jkt_of(client_key.public_key)}}
    token = jwt.encode(claims, idp_key.signing_key, "EdDSA", headers=idp_key.headers(typ="at+jwt"))
    key_set = jwks(idp_key)
    url = "https://api.example/orders/1"
    proofs = [make_proof(client_key, "GET", url, now=now, access_token=token, jti=f"p-{i}") for i in range(n)]
    verifier = DpopVerifier(clock=lambda: now)
    token_us, proof_us = [], []
    for proof in proofs:  # interleaved, so drift on a shared machine hits both alike
        started = time.perf_counter()
        verified = verify_token(token, key_set, issuer=DEMO_ISSUER, audience="orders-api", algorithms=["EdDSA"],
                                typ="at+jwt", now=now)
        token_us.append((time.perf_counter() - started) * 1e6)
        started = time.perf_counter()
        verifier.verify(proof, method="GET", url=url, access_token=token, token_claims=verified, now=now)
        proof_us.append((time.perf_counter() - started) * 1e6)
    return {"verify_token": statistics.median(token_us), "DpopVerifier.verify": statistics.median(proof_us)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=10_000, help="unique jtis per second of course time")
    parser.add_argument("--seconds", type=int, default=60, help="length of the flood (inside the 65 s window)")
    parser.add_argument("--proofs", type=int, default=2_000, help="proofs verified for the per-request cost")
    args = parser.parse_args(argv)
    total = args.rate * args.seconds

    print(f"flood: {total:,} unique jtis, {args.rate:,}/s for {args.seconds} s (window {WINDOW:g} s)\n")
    memory = {name: memory_mb(name, args.rate, args.seconds) for name in STRATEGIES}
    speed = {name: flood(make(total), args.rate, args.seconds) for name, make in STRATEGIES.items()}
    base = "ReplayCache, 100,000 entries"
    rows = [("how the jtis are kept", "entries held", "memory MB", "ratio", "µs/remember", "ratio")]
    for name in STRATEGIES:
        held, mb = memory[name]
        rows.append((name, f"{held:,}", f"{mb:,.1f}", f"{mb / memory[base][1]:.2f}×", f"{speed[name]:.2f}",
                     f"{speed[name] / speed[base]:.2f}×"))
    print_table(rows, right={1, 2, 3, 4, 5})

    probes = probe_after_flood(args.rate, args.seconds)
    print("\nthe bounded cache after the flood:")
    for probe, answer in probes.items():
        print(f"  {probe:44} {'accepted' if answer is None else 'refused: ' + answer}")
    if probes["an honest proof made now"] is not None or None in list(probes.values())[:2]:
        raise AssertionError("the bounded cache let a replay through or refused an honest proof")

    costs = proof_costs(args.proofs)
    print(f"\nper request, median of {args.proofs:,}:")
    for name, us in costs.items():
        print(f"  {name:20} {us:7.1f} µs  {us / costs['verify_token']:.2f}×")

    figures = {
        "flood": {"jtis": total, "rate_per_s": args.rate, "seconds": args.seconds, "window_s": WINDOW},
        "entries_held": {n: memory[n][0] for n in STRATEGIES},
        "memory_mb": {n: round(memory[n][1], 2) for n in STRATEGIES},
        "microseconds_per_remember": {n: round(speed[n], 3) for n in STRATEGIES},
        "after_flood": {p: a or "accepted" for p, a in probes.items()},
        "microseconds_per_request": {n: round(v, 1) for n, v in costs.items()},
    }
    write_figures("bench_replay_cache", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
