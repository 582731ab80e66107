"""Benchmark: `verify_token` (every checklist check) against bare `jwt.decode` with the same key and checks.

Usage: .venv/bin/python tests/benchmarks/bench_verify.py [--reps 7] [--batch-seconds 0.05]

The course's target (performance notes, target 1): `verify_token` keeps at least 0.8x the throughput of
plain `jwt.decode` configured with the same key, algorithm allowlist, audience, issuer, required claims
and leeway, and never parses a key per request. Absolute numbers drift by tens of percent between runs
on a shared machine; ratios measured side by side hold, so the variants run interleaved (the order
rotates every repetition) and each figure is the median over the repetitions. Times are CPU time of
this process (`time.process_time`), so other programs competing for the cores do not count.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jwt

from jwtlab import keys
from jwtlab import verify as verify_module
from jwtlab.clock import DEMO_AUDIENCE, DEMO_ISSUER, claims
from jwtlab.verify import KeySet, verify_token

REQUIRED = ["exp", "iat", "iss", "aud", "sub"]
LEEWAY = 60
TARGET = 0.8


def fixtures() -> list[tuple[str, Any, str, dict[str, Any]]]:
    """Per algorithm: the demo key, a token valid for the next hour (PyJWT reads the wall clock), a JWKS."""
    asymmetric = [keys.rsa_key(0), keys.p256_key(), keys.ed25519_key()]
    jwks = keys.jwks(*asymmetric)
    secret = keys.hmac_secret()
    rows = []
    for key in [*asymmetric, secret]:
        token = jwt.encode(claims(now=int(time.time()), lifetime=3600), key.signing_key, algorithm=key.alg,
                           headers=key.headers())
        rows.append((key.alg, key, token, jwks if key is not secret else {"keys": [secret.public_jwk()]}))
    return rows


def variants(key: Any, token: str, jwks: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """The three contenders, each doing the same checks on the same token."""
    key_set = KeySet(jwks)
    bare_key = key.verifying_key  # a parsed key object: PyJWT at its best, no PEM per call
    common = {"issuer": DEMO_ISSUER, "audience": DEMO_AUDIENCE, "algorithms": [key.alg], "leeway": LEEWAY}

    def bare() -> Any:
        return jwt.decode(token, bare_key, options={"require": REQUIRED}, **common)

    def with_key_set() -> Any:
        return verify_token(token, key_set, required=REQUIRED, **common)

    def with_jwks_dict() -> Any:
        return verify_token(token, jwks, required=REQUIRED, **common)

    for check in (bare, with_key_set, with_jwks_dict):
        assert check()["sub"] == "alice", "every contender must accept the token it is timed on"
    return {"bare": bare, "keyset": with_key_set, "jwks": with_jwks_dict}


def per_call_us(func: Callable[[], Any], number: int) -> float:
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.process_time()
        for _ in range(number):
            func()
        return (time.process_time() - start) / number * 1e6
    finally:
        if gc_was_enabled:
            gc.enable()


def calibrate(funcs: dict[str, Callable[[], Any]], batch_seconds: float) -> int:
    """Calls per batch so that the slowest contender's batch takes about `batch_seconds`."""
    slowest = max(per_call_us(f, 20) for f in funcs.values())
    return max(20, int(batch_seconds * 1e6 / slowest))


def measure(funcs: dict[str, Callable[[], Any]], reps: int, batch_seconds: float) -> dict[str, float]:
    number = calibrate(funcs, batch_seconds)
    samples: dict[str, list[float]] = {name: [] for name in funcs}
    names = list(funcs)
    for rep in range(reps):
        order = names[rep % len(names):] + names[:rep % len(names)]  # rotate: nobody always runs first
        for name in order:
            samples[name].append(per_call_us(funcs[name], number))
    return {name: statistics.median(values) for name, values in samples.items()}


class _Counter:
    """Counts calls of the key-loading functions `verify_token` could reach."""

    def __init__(self) -> None:
        self.calls = 0
        self._saved: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str) -> None:
        original = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        self._saved.append((owner, name, original))
        setattr(owner, name, counted)

    def restore(self) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)


def key_parses_per_call(rows: list[tuple[str, Any, str, dict[str, Any]]], calls: int = 200) -> tuple[int, int]:
    """(key loads, verify_token calls) after warm-up: loads must not grow with the number of requests."""
    counter = _Counter()
    for owner, name in ((jwt, "PyJWK"), (verify_module, "load_pem_public_key"), (verify_module, "load_der_public_key")):
        counter.wrap(owner, name)
    misses_before = verify_module._entry_from_jwk_json.cache_info().misses
    try:
        total = 0
        for _, key, token, jwks in rows:
            funcs = variants(key, token, jwks)  # warm-up (and building the prebuilt KeySet) happens here
            counter.calls = 0
            misses_before = verify_module._entry_from_jwk_json.cache_info().misses
            for _ in range(calls):
                funcs["keyset"]()
                funcs["jwks"]()
                total += 2
            if counter.calls or verify_module._entry_from_jwk_json.cache_info().misses != misses_before:
                return counter.calls or 1, total
        return 0, total
    finally:
        counter.restore()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15, help="repetitions per contender (median taken; >= 5)")
    parser.add_argument("--batch-seconds", type=float, default=0.03, help="length of one timed batch")
    args = parser.parse_args(argv)
    if args.reps < 5:
        parser.error("--reps must be at least 5")

    rows = fixtures()
    print(f"verify_token vs bare jwt.decode: CPU µs per call, median of {args.reps} interleaved repetitions, "
          f"PyJWT {jwt.__version__}, Python {sys.version.split()[0]}")
    print("ratio = bare time / verify_token time (throughput of verify_token relative to jwt.decode); "
          f"target >= {TARGET}x")
    print()
    header = ("alg", "jwt.decode µs", "verify_token KeySet µs", "ratio", "verify_token JWKS dict µs", "ratio")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|")
    worst = float("inf")
    for alg, key, token, jwks in rows:
        result = measure(variants(key, token, jwks), args.reps, args.batch_seconds)
        ratio_set, ratio_dict = result["bare"] / result["keyset"], result["bare"] / result["jwks"]
        worst = min(worst, ratio_set, ratio_dict)
        print(f"| {alg} | {result['bare']:.1f} | {result['keyset']:.1f} | {ratio_set:.2f}x "
              f"| {result['jwks']:.1f} | {ratio_dict:.2f}x |")
    print()
    loads, calls = key_parses_per_call(rows)
    parsing = "yes" if loads else "no"
    print(f"key parsing per call: {parsing} ({loads} key loads in {calls} verify_token calls after warm-up)")
    print(f"lowest ratio: {worst:.2f}x ({'meets' if worst >= TARGET else 'BELOW'} the {TARGET}x target)")
    return 1 if loads else 0


if __name__ == "__main__":
    raise SystemExit(main())
