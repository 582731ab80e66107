"""Benchmark: how long a revoked token still works, and what each way of taking it back costs (not a test).

    .venv/bin/python tests/benchmarks/bench_revocation.py [--requests 200] [--reps 5]

Four ways for the toolkit's demo stack (IdP, gateway, services, over real loopback HTTP) to take back
alice's 5-minute access token, each on its own course `Clock`:

* short lifetime only — a plain JWT gateway that verifies locally and checks nothing else;
* session denylist — the IdP announces the ended login by back-channel logout (`logout=True`), the
  gateway refuses every token of that session (`sid`);
* introspection, 30 s cache — opaque tokens, the gateway asks the IdP and caches each answer for 30 s;
* introspection, no cache — the same with `introspect_cache_seconds=0`: the IdP is asked every time.

The experiment is the same for each: alice logs in at t0 (password grant), uses her token every 10 s,
and logs out at t = t0 + 60 s (`/revoke` of her refresh token, which ends the login). Then the gateway is
probed once per second of course time — the clock is advanced, never slept — until it refuses. The
figures "last accepted at t + X s" and "refused from t + Y s" are deterministic.

The cost is not: wall-clock microseconds per request through the gateway (and on to `orders`), for each
strategy measured side by side in one run — interleaved, `--requests` keep-alive requests per
repetition, median of `--reps` — and printed as a ratio to the first strategy, which is what holds on a
shared machine (absolute figures drift by tens of percent). Everything runs in this one process, so the
figures compare the strategies with each other, not with a production deployment. A cached introspection
answer can cost less than local verification: the gateway finds it by the token's hash and checks no
signature. Figures are also written to
`_build/figures/bench_revocation.json`.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from report import print_table, write_figures

from jwtlab.clock import Clock
from jwtlab.idp import IdentityProvider
from jwtlab.stack import DemoStack, demo_stack

WEB_APP = ("web-app", "web-app-demo-secret")  # DEMO client secret (jwtlab.idp.DEMO_CLIENTS)
ALICE = {"grant_type": "password", "username": "alice", "password": "alice-demo-password",  # DEMO password
         "audience": "orders-api", "scope": "orders:read"}
REVOKE_AFTER = 60  #: seconds of course time between the login and the logout
PROBE_LIMIT = 3600  #: give up probing after an hour of course time (a token that never dies)

#: name -> demo_stack options (and whether the IdP hands out opaque access tokens).
STRATEGIES: dict[str, dict[str, Any]] = {
    "short lifetime only": {},
    "session denylist (logout)": {"logout": True},
    "introspection, 30 s cache": {"introspect": True, "opaque": True},
    "introspection, no cache": {"introspect": True, "opaque": True, "introspect_cache_seconds": 0},
}


@dataclass(frozen=True)
class Window:
    """What one revocation experiment found, in whole seconds of course time after the logout."""

    last_accepted: int | None  #: the last probe that got 200 (None: refused from the first probe on)
    refused_from: int  #: the first probe refused
    reason: str  #: the gateway's reason code for that refusal


@contextlib.contextmanager
def strategy_stack(name: str) -> Iterator[DemoStack]:
    """The demo stack configured for one strategy, on a fresh course clock."""
    options = dict(STRATEGIES[name])
    clock = Clock()
    opaque = options.pop("opaque", False)
    idp = IdentityProvider(clock=clock.now, opaque_access_tokens=opaque)
    with demo_stack(clock=clock, idp=idp, **options) as stack:
        yield stack


def login(stack: DemoStack, http: httpx.Client) -> dict[str, Any]:
    """Alice's login: the token response with her access and refresh tokens."""
    r = http.post(stack.idp_service.url + "/token", data=ALICE, auth=WEB_APP)
    r.raise_for_status()
    return r.json()


def call(stack: DemoStack, http: httpx.Client, token: str) -> httpx.Response:
    return http.get(stack.gateway.url + "/orders/42", headers={"Authorization": f"Bearer {token}"})


def revocation_window(stack: DemoStack, http: httpx.Client) -> Window:
    """Log in, use the token, log out at t0 + 60 s, probe every second until the gateway refuses."""
    tokens = login(stack, http)
    access = tokens["access_token"]
    for _ in range(0, REVOKE_AFTER, 10):  # in use: t0, t0 + 10 s, ... t0 + 50 s
        assert call(stack, http, access).status_code == 200
        stack.clock.advance(10)
    assert call(stack, http, access).status_code == 200  # t0 + 60 s, just before the logout
    r = http.post(stack.idp_service.url + "/revoke", data={"token": tokens["refresh_token"]}, auth=WEB_APP)
    assert r.status_code == 200, r.text
    last = None
    for second in range(PROBE_LIMIT):
        r = call(stack, http, access)
        if r.status_code != 200:
            return Window(last, second, r.json().get("reason", str(r.status_code)))
        last = second
        stack.clock.advance(1)
    raise AssertionError(f"still accepted {PROBE_LIMIT} s after the logout")


def microseconds_per_request(stack: DemoStack, http: httpx.Client, token: str, n: int) -> float:
    """Wall-clock µs per request through the gateway with one keep-alive connection."""
    started = time.perf_counter()
    for _ in range(n):
        if call(stack, http, token).status_code != 200:
            raise AssertionError("a live token was refused during the cost measurement")
    return (time.perf_counter() - started) / n * 1e6


def describe(window: Window) -> tuple[str, str]:
    last = "none" if window.last_accepted is None else f"t + {window.last_accepted} s"
    return last, f"t + {window.refused_from} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per strategy and repetition")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions (the median is reported)")
    args = parser.parse_args(argv)

    windows: dict[str, Window] = {}
    costs: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    with contextlib.ExitStack() as running, httpx.Client(timeout=10) as http:
        stacks = {name: running.enter_context(strategy_stack(name)) for name in STRATEGIES}
        for name, stack in stacks.items():
            windows[name] = revocation_window(stack, http)
        live = {name: login(stack, http)["access_token"] for name, stack in stacks.items()}
        for name, stack in stacks.items():  # warm-up: connections, JWKS, the 30 s cache's first answer
            microseconds_per_request(stack, http, live[name], 20)
        for _ in range(args.reps):
            for name, stack in stacks.items():
                costs[name].append(microseconds_per_request(stack, http, live[name], args.requests))

    median = {name: statistics.median(values) for name, values in costs.items()}
    base = median[next(iter(STRATEGIES))]
    rows = [("strategy", "last accepted", "refused from", "refused as", "µs/request", "ratio")]
    for name, window in windows.items():
        rows.append((name, *describe(window), window.reason, f"{median[name]:,.0f}",
                     f"{median[name] / base:.2f}×"))
    print(f"alice logs out at t = t0 + {REVOKE_AFTER} s; access tokens live 300 s (gateway leeway 60 s);")
    print(f"cost: {args.reps} interleaved reps × {args.requests} requests, median; ratio to the first row\n")
    print_table(rows, right={1, 2, 4, 5})
    figures = {
        "revoked_after_login_s": REVOKE_AFTER,
        "windows": {name: asdict(w) for name, w in windows.items()},
        "microseconds_per_request": {name: round(v, 1) for name, v in median.items()},
        "ratio_to_short_lifetime": {name: round(v / base, 3) for name, v in median.items()},
        "reps": args.reps, "requests": args.requests,
    }
    write_figures("bench_revocation", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
