"""Benchmark: what the gateway costs, as ratios measured side by side in one run (not a test).

    .venv/bin/python tests/benchmarks/bench_gateway.py [--seconds 2] [--reps 5] [--connections 32]

Absolute requests/s on a shared 2-core machine drift by ±20-40 %; ratios of scenarios measured in the
same run, interleaved, median of several repetitions, hold to about ±10 %. So every figure printed is a
ratio against something measured seconds earlier:

* gateway with verification ÷ plain upstream endpoint (cache off, cache on) — targets ≥ 0.25× / ≥ 0.30×
* gateway with ÷ without verification
* cached ÷ uncached JWKS (verification with the cached key set vs. fetching the JWKS per verification) ≥ 10×
* JWKS fetches per 10,000 gateway requests in steady state — target 0

The upstream and the gateway each run in their own process, pinned to their own core when the machine
allows it. The load generator is a small keep-alive HTTP/1.1 client on raw asyncio streams (with uvloop),
much cheaper per request than an HTTP client library, because on two cores it shares a CPU with the
servers it measures. Figures are also written to `_build/figures/bench_gateway.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from report import write_figures

# -- servers, each in its own process -------------------------------------------------------------

RSA_ISSUER = "https://idp-rsa.course.example"


def _identity_provider(alg: str) -> Any:
    """The demo IdP on real time (the gateway checks `exp` against it): Ed25519 keys, or RSA for RS256."""
    from jwtlab.clock import DEMO_ISSUER
    from jwtlab.idp import IdentityProvider
    from jwtlab.keys import RSA_DEMO_KEY_COUNT, rsa_key
    from jwtlab.rotation import KeyRotation

    if alg == "EdDSA":
        return IdentityProvider(clock=time.time, issuer=DEMO_ISSUER)
    rotation = KeyRotation(clock=time.time, key_factory=lambda g: rsa_key(g % RSA_DEMO_KEY_COUNT))
    return IdentityProvider(clock=time.time, issuer=RSA_ISSUER, rotation=rotation)


def _pin(cpu: int | None) -> str:
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return "unpinned"
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return "unpinned"
    os.sched_setaffinity(0, {available[cpu % len(available)]})
    return f"cpu {available[cpu % len(available)]}"


def _server_main(kind: str, options: dict[str, Any], cpu: int | None, conn: Any) -> None:
    pinned = _pin(cpu)
    from jwtlab.services import start

    if kind == "idp":
        from jwtlab.idp import create_idp

        app = create_idp(_identity_provider(options.get("alg", "EdDSA")))
    elif kind == "upstream":
        from jwtlab.upstream import create_service

        app = create_service("orders", gateway_jwks_url=None)
    else:
        from jwtlab.clock import DEMO_ISSUER
        from jwtlab.gateway import GatewayConfig, Issuer, Route, create_gateway

        upstream = options["upstream"]
        routes = [
            Route("/verify", upstream, audience="orders-api", forward="claims", strip_prefix=True),
            Route("/verify-rs", upstream, audience="orders-api", forward="claims", strip_prefix=True,
                  issuer=RSA_ISSUER),
            Route("/internal", upstream, audience="orders-api", forward="internal_jwt", strip_prefix=True),
            Route("/open", upstream, auth="none", strip_prefix=True),
        ]
        app = create_gateway(GatewayConfig(issuer=DEMO_ISSUER, jwks_url=options["jwks_url"], routes=routes,
                                           token_cache_size=options.get("cache", 0),
                                           more_issuers=(Issuer(RSA_ISSUER, options["rsa_jwks_url"], ("RS256",)),)))
    service = start(app, name=kind)
    conn.send((service.url, pinned))
    conn.recv()  # block until the parent says stop
    service.stop()


class Server:
    def __init__(self, kind: str, cpu: int | None = None, **options: Any) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_server_main, args=(kind, options, cpu, child), daemon=True)
        self.process.start()
        if not self.conn.poll(60):
            raise RuntimeError(f"{kind} did not start")
        self.url, self.pinned = self.conn.recv()
        self.kind = kind

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used (Linux /proc), to cost each request."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(15)
        if self.process.is_alive():
            self.process.kill()


# -- load generator ---------------------------------------------------------------------------------

async def _connection(host: str, port: int, request: bytes, deadline: float, counts: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            key = "ok" if status == b"200" else status.decode()
            counts[key] = counts.get(key, 0) + 1
    finally:
        writer.close()


async def _load(url: str, path: str, token: str | None, seconds: float, connections: int) -> dict[str, int]:
    hostport = url.split("://", 1)[1]
    host, port = hostport.rsplit(":", 1)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = f"GET {path} HTTP/1.1\r\nHost: {hostport}\r\n{auth}\r\n".encode()
    counts: dict[str, int] = {}
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(_connection(host, int(port), request, deadline, counts) for _ in range(connections)))
    return counts


def measure(url: str, path: str, token: str | None, seconds: float, connections: int,
            servers: list[Server]) -> tuple[float, list[float], int]:
    """Requests/s (after a short warm-up), CPU seconds per request of each server, non-200 answers.

    CPU per request is what the ratios that matter are computed from: on a shared machine the wall-clock
    rate depends on what else runs, while the CPU a process spends per request does not (much), and
    1 / (CPU per request) is the throughput that process reaches on a core of its own.
    """
    asyncio.run(_load(url, path, token, 0.3, connections))
    cpu_before = [s.cpu_seconds() for s in servers]
    started = time.perf_counter()
    counts = asyncio.run(_load(url, path, token, seconds, connections))
    elapsed = time.perf_counter() - started
    total = sum(counts.values())
    cpu = [(s.cpu_seconds() - b) / total for s, b in zip(servers, cpu_before, strict=True)]
    errors = sum(n for k, n in counts.items() if k != "ok")
    return total / elapsed, cpu, errors


def _metrics(url: str) -> dict[str, Any]:
    import httpx

    return httpx.get(url + "/metrics").json()


# -- JWKS: cached vs fetched per verification ------------------------------------------------------

async def _jwks_ratio(jwks_url: str, token: str, issuer: str, alg: str, seconds: float) -> tuple[float, float]:
    """Verifications/s with the cached key set vs. a verifier without a cache.

    Without a cache means what PyJWKClient with caching off does: a one-shot client per verification —
    new connection, fetch, parse the keys, verify. Over loopback to an idle IdP, the cheapest a fetch
    can ever be; across a real network the ratio only grows.
    """
    from jwtlab import verify
    from jwtlab.jwks import JwksClient, verify_with

    options = {"issuer": issuer, "audience": "orders-api", "algorithms": [alg], "typ": "at+jwt"}
    async with JwksClient(jwks_url) as cached_client:
        rates = []
        for uncached in (False, True, False, True):
            n, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds / 2:
                if uncached:
                    verify._entry_from_jwk_json.cache_clear()  # no cache at all: parse the keys again too
                    client = JwksClient(jwks_url)
                    await client.start(background=False)
                    await verify_with(client, token, **options)
                    await client.close()
                else:
                    await verify_with(cached_client, token, **options)
                n += 1
            rates.append(n / (time.perf_counter() - started))
    return statistics.mean(rates[0::2]), statistics.mean(rates[1::2])


# -- the run ------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each measurement")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions (median is reported)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.install() if sys.version_info < (3, 12) else None
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        pass

    from jwtlab.clock import DEMO_ISSUER

    idp = Server("idp", alg="EdDSA")
    idp_rsa = Server("idp", alg="RS256")
    upstream = Server("upstream", cpu=1)
    jwks_url = idp.url + "/.well-known/jwks.json"
    rsa_jwks_url = idp_rsa.url + "/.well-known/jwks.json"
    common = {"upstream": upstream.url, "jwks_url": jwks_url, "rsa_jwks_url": rsa_jwks_url}
    gw = Server("gateway", cpu=0, cache=0, **common)
    gw_cached = Server("gateway", cpu=0, cache=1024, **common)
    servers = [gw_cached, gw, upstream, idp_rsa, idp]
    try:
        # The same demo keys as the IdP processes (derived by name / committed), so tokens minted here verify.
        token = _identity_provider("EdDSA").issue("alice", "orders-api", "orders:read", lifetime=300)
        rs_token = _identity_provider("RS256").issue("alice", "orders-api", "orders:read", lifetime=300)
        scenarios = {
            "plain upstream": (upstream, "/public/ping", None),
            "gateway, no verification": (gw, "/open/public/ping", None),
            "gateway + verify (cache off)": (gw, "/verify/public/ping", token),
            "gateway + verify (cache on)": (gw_cached, "/verify/public/ping", token),
            "gateway + verify + internal JWT (cache off)": (gw, "/internal/public/ping", token),
            "gateway + verify RS256 (cache off)": (gw, "/verify-rs/public/ping", rs_token),
        }
        before = {s.url: _metrics(s.url) for s in (gw, gw_cached)}
        rates: dict[str, list[float]] = {name: [] for name in scenarios}
        capacity: dict[str, list[float]] = {name: [] for name in scenarios}
        errors = 0
        for _ in range(args.reps):
            for name, (server, path, tok) in scenarios.items():
                hops = [server] if server is upstream else [server, upstream]
                rate, cpu, failed = measure(server.url, path, tok, args.seconds, args.connections, hops)
                rates[name].append(rate)
                # A chain of processes, each on its own core, runs at the pace of its busiest member.
                capacity[name].append(1 / max(cpu))
                errors += failed
        after = {s.url: _metrics(s.url) for s in (gw, gw_cached)}
        gateway_requests = sum(after[u]["allowed"] - before[u]["allowed"] for u in after)
        fetches = sum(after[u]["issuers"][i]["fetches"] - before[u]["issuers"][i]["fetches"]
                      for u in after for i in after[u]["issuers"])
        jwks_seconds = min(args.seconds, 2.0)
        cached, uncached = asyncio.run(_jwks_ratio(jwks_url, token, DEMO_ISSUER, "EdDSA", jwks_seconds))
        rs_cached, rs_uncached = asyncio.run(_jwks_ratio(rsa_jwks_url, rs_token, RSA_ISSUER, "RS256", jwks_seconds))
    finally:
        for server in servers:
            server.stop()

    med = {name: statistics.median(values) for name, values in rates.items()}
    cap = {name: statistics.median(values) for name, values in capacity.items()}

    def ratio(a: str, b: str) -> tuple[float, float]:
        return cap[a] / cap[b], med[a] / med[b]

    rows = [
        ("gateway+verify ÷ plain upstream, cache off", *ratio("gateway + verify (cache off)", "plain upstream"), "≥ 0.25×"),
        ("gateway+verify ÷ plain upstream, cache on", *ratio("gateway + verify (cache on)", "plain upstream"), "≥ 0.30×"),
        ("gateway with ÷ without verification (cache off)",
         *ratio("gateway + verify (cache off)", "gateway, no verification"), "—"),
        ("gateway+verify+internal JWT ÷ plain upstream",
         *ratio("gateway + verify + internal JWT (cache off)", "plain upstream"), "—"),
        ("gateway+verify RS256 ÷ plain upstream, cache off",
         *ratio("gateway + verify RS256 (cache off)", "plain upstream"), "≥ 0.25×"),
        ("cached ÷ uncached JWKS, EdDSA (verifications/s)", cached / uncached, cached / uncached, "≥ 10×"),
        ("cached ÷ uncached JWKS, RS256 (verifications/s)", rs_cached / rs_uncached, rs_cached / rs_uncached, "≥ 10×"),
    ]
    per_10k = fetches / gateway_requests * 10_000 if gateway_requests else float("nan")
    print(f"pinning: gateway {gw.pinned}, upstream {upstream.pinned}; {args.reps} reps × {args.seconds:g} s, "
          f"{args.connections} connections, {os.cpu_count()} CPUs")
    print("\n| scenario | req/s per dedicated core (from CPU/request) | req/s wall clock, shared machine |\n|---|---|---|")
    for name, value in med.items():
        print(f"| {name} | {cap[name]:,.0f} | {value:,.0f} |")
    print("\n| ratio | per dedicated core | wall clock | target |\n|---|---|---|---|")
    for name, value, wall, target in rows:
        print(f"| {name} | {value:.2f}× | {wall:.2f}× | {target} |")
    print(f"| JWKS fetches per 10,000 gateway requests (steady state) | {per_10k:.2f} | | 0 |")
    print(f"\nnon-200 answers during the run: {errors}; gateway requests: {gateway_requests:,}")
    figures = {"requests_per_second_wall": med, "requests_per_second_per_core": cap,
               "ratios_per_core": {n: round(v, 3) for n, v, _, _ in rows},
               "ratios_wall": {n: round(w, 3) for n, _, w, _ in rows},
               "jwks_fetches_per_10k": per_10k, "errors": errors, "jwks_verifications_per_s": {
                   "EdDSA cached": cached, "EdDSA uncached": uncached, "RS256 cached": rs_cached,
                   "RS256 uncached": rs_uncached}}
    write_figures("bench_gateway", figures)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
