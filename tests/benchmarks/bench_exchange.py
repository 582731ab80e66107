"""Benchmark: what a token exchange costs a caller, and what `ExchangedTokenCache` saves.

Usage: .venv/bin/python tests/benchmarks/bench_exchange.py [--requests 200]

Three figures, medians over `--requests` calls: the STS's work in process (verify the subject token,
apply the rules, sign), one exchange over HTTP on loopback (keep-alive connection), and a cache hit.
Absolute numbers drift between runs on a shared machine; the ratio between an HTTP exchange and a
cache hit is the point (orders of magnitude).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt

from jwtlab import clock, services
from jwtlab.exchange import (
    ACCESS_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
    Client,
    ExchangedTokenCache,
    SecurityTokenService,
    TargetService,
    create_sts_app,
)
from jwtlab.keys import ed25519_key

IDP_KEY = ed25519_key("idp")


def median_us(fn: Callable[[], Any], n: int) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    n = parser.parse_args().requests

    sts = SecurityTokenService(
        issuer="https://sts.course.example",
        clients={"orders": Client("orders", secret="orders-demo-secret")},
        targets={"payments": TargetService("payments", frozenset({"payments:charge"}))},
        trusted_issuers={clock.DEMO_ISSUER: IDP_KEY},
        clock=clock.Clock(),
    )
    subject = jwt.encode(clock.claims("alice", aud="orders", scope="payments:charge", jti="u1"), IDP_KEY.signing_key,
                         algorithm="EdDSA", headers=IDP_KEY.headers(typ="at+jwt"))
    form = {"grant_type": [TOKEN_EXCHANGE_GRANT], "subject_token": [subject],
            "subject_token_type": [ACCESS_TOKEN_TYPE], "audience": ["payments"]}
    in_process = median_us(lambda: sts.exchange(form, "orders"), n)

    with services.serve(create_sts_app(sts)) as (service,), httpx.Client(timeout=5) as http:
        data = {k: v[0] for k, v in form.items()}

        def fetch(subject_token: str, target: str, scope: str | None) -> Mapping[str, Any]:
            resp = http.post(service.url + "/token", data=data, auth=("orders", "orders-demo-secret"))
            resp.raise_for_status()
            return resp.json()

        fetch(subject, "payments", None)  # warm the connection
        over_http = median_us(lambda: fetch(subject, "payments", None), n)
        cache = ExchangedTokenCache(fetch, now=clock.now)
        claims = {"jti": "u1"}
        cache.token_for(subject, claims, "payments")
        hit = median_us(lambda: cache.token_for(subject, claims, "payments"), n)

    print(f"exchange in process (verify + rules + sign): {in_process:8.1f} us")
    print(f"exchange over HTTP on loopback:              {over_http:8.1f} us")
    print(f"cache hit:                                   {hit:8.1f} us  ({over_http / hit:,.0f}x cheaper than HTTP)")


if __name__ == "__main__":
    main()
