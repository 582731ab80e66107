"""`jwtlab up`: run the Part IV demo stack on 127.0.0.1 until Ctrl-C (or for `--seconds`).

    jwtlab up                    IdP, gateway, orders, payments and inventory on ports the OS picks
    jwtlab up --port-base 8700   the same on fixed ports 8700-8704 (IdP, gateway, orders, payments, inventory)
    jwtlab up --cache 1000       with the gateway's verified-token cache on
    jwtlab up --course-clock     on the book's clock (it starts at 2026-01-01T00:00:00Z and runs on), so
                                 the book's `jwtlab inspect ... --now 2026-01-01T00:00:00Z` lines fit its tokens

It first checks itself end to end (a password-grant token for alice, one request through the gateway),
then prints the addresses, DEMO tokens for alice and ready-to-paste `curl` lines for the common flows,
each with the answer to expect. `tests/test_up_readme.py` runs those printed lines and holds them to
their expectations. DEMO users, secrets and keys only.
"""

from __future__ import annotations

import argparse
import shlex
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jwtlab.clock import COURSE_NOW, DEMO_ISSUER

COURSE_NOW_ISO = datetime.fromtimestamp(COURSE_NOW, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

#: The order of the services on `--port-base N`: N, N+1, ...
PORT_ORDER = ("idp", "gateway", "orders", "payments", "inventory")
DEMO_USER = ("alice", "alice-demo-password")
CLIENT_ID = "course-cli"


@dataclass(frozen=True)
class Example:
    """One printed curl line: what it shows, the command, the status to expect and a JSON field to expect."""

    what: str
    argv: tuple[str, ...]
    status: int
    field: str | None = None  # dotted path into the JSON body, e.g. "identity.sub"
    value: str | None = None

    def comment(self) -> str:
        expect = f"→ {self.status}" + (f", {self.field} is {self.value}" if self.field else "")
        return f"# {self.what} {expect}"

    def line(self) -> str:
        # $TOKEN-style variables stay unquoted inside double quotes, so the shell expands them.
        return " ".join(f'"{a}"' if "$" in a else shlex.quote(a) for a in self.argv)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "up",
        help="start the demo IdP, gateway and services on 127.0.0.1 (Part IV) until Ctrl-C",
        description="Start the demo identity provider, the gateway and three services on 127.0.0.1, check them "
        "end to end, print their addresses, DEMO tokens and ready-to-paste curl lines, and keep them running "
        "until Ctrl-C.",
    )
    parser.add_argument("--cache", type=int, default=0, metavar="N", help="verified-token cache size (0 = off)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--port-base", type=int, default=None, metavar="PORT",
                        help="fixed ports PORT..PORT+4 for the IdP, gateway, orders, payments and inventory "
                        "(default: free ports chosen by the OS)")
    parser.add_argument("--course-clock", action="store_true",
                        help="run on the book's clock (starts at 2026-01-01T00:00:00Z and moves on in real time) "
                        "instead of the wall clock, so the book's `--now 2026-01-01T00:00:00Z` examples fit")
    parser.set_defaults(func=run)


def ports_from(base: int | None) -> dict[str, int]:
    """The fixed port of each service for `--port-base`, or {} (the OS picks)."""
    if base is None:
        return {}
    if not 1024 <= base <= 65535 - len(PORT_ORDER):
        raise ValueError(f"--port-base must be between 1024 and {65535 - len(PORT_ORDER)}, not {base}")
    return {name: base + i for i, name in enumerate(PORT_ORDER)}


def taken_port(ports: dict[str, int]) -> str | None:
    """The first fixed port already in use, as "PORT (name)", or None. Checked before anything starts, so
    a clash is a sentence rather than a half-started stack."""
    for name, port in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return f"{port} ({name})"
    return None


def examples(idp: str, gateway: str) -> list[Example]:
    """The flows the README shows, against these base URLs."""
    user, password = DEMO_USER
    bearer = "Authorization: Bearer $TOKEN"
    return [
        Example("get a token from the identity provider (DEMO user and password)",
                ("curl", "-s", f"{idp}/token", "-d", "grant_type=password", "-d", f"username={user}",
                 "-d", f"password={password}", "-d", f"client_id={CLIENT_ID}", "-d", "audience=orders-api"),
                200, "token_type", "Bearer"),
        Example("call orders through the gateway with it", ("curl", "-s", f"{gateway}/orders/1", "-H", bearer),
                200, "identity.sub", user),
        Example("the same call without a token", ("curl", "-s", "-i", f"{gateway}/orders/1"), 401),
        Example("a spoofed identity header is stripped: inventory still sees alice",
                ("curl", "-s", f"{gateway}/inventory/1", "-H", bearer, "-H", "X-User-Sub: admin"),
                200, "identity.sub", user),
        Example("a token for another audience (payments-api) at orders",
                ("curl", "-s", "-i", f"{gateway}/orders/1", "-H", "Authorization: Bearer $PAYMENTS_TOKEN"), 401),
        Example("the identity provider's public keys (JWKS)", ("curl", "-s", f"{idp}/.well-known/jwks.json"),
                200, "keys.0.use", "sig"),
    ]


def refresh_line(idp: str, audience: str = "orders-api", variable: str = "TOKEN") -> str:
    """One shell line that fetches a fresh DEMO token into `variable` (the printed ones expire in minutes)."""
    user, password = DEMO_USER
    form = " ".join(f"-d {shlex.quote(f)}" for f in (
        "grant_type=password", f"username={user}", f"password={password}", f"client_id={CLIENT_ID}",
        f"audience={audience}"))
    extract = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"
    return f"export {variable}=$(curl -s {idp}/token {form} | {extract})"


def _token(http: Any, token_url: str, audience: str, scope: str | None = None) -> tuple[int, str]:
    user, password = DEMO_USER
    data = {"grant_type": "password", "username": user, "password": password, "client_id": CLIENT_ID,
            "audience": audience}
    if scope:
        data["scope"] = scope
    resp = http.post(token_url, data=data)
    return resp.status_code, resp.json().get("access_token", "") if resp.status_code == 200 else ""


def run(args: argparse.Namespace) -> int:
    import httpx

    from ..clock import Clock
    from ..stack import demo_stack

    try:
        ports = ports_from(args.port_base)
        taken = taken_port(ports)
        if taken:
            raise OSError(f"port {taken} is already in use")
        clock = Clock(real=True)
        if args.course_clock:
            clock.set(COURSE_NOW)  # the book's "now", moving on in real time from the moment it starts
        stack_cm = demo_stack(clock=clock, token_cache_size=args.cache, ports=ports)
        stack = stack_cm.__enter__()
    except (ValueError, OSError) as exc:
        hint = " (a port is taken: is another `jwtlab up` running? try another --port-base)" if isinstance(exc, OSError) else ""
        print(f"jwtlab up: cannot start: {exc}{hint}")
        return 2
    except KeyboardInterrupt:  # Ctrl-C while starting: demo_stack has stopped what it started
        print("stopped", flush=True)
        return 130
    try:
        return _serve(stack, args.seconds, httpx, course_clock=args.course_clock)
    except KeyboardInterrupt:
        return 0
    finally:
        stack_cm.__exit__(None, None, None)
        print("stopped", flush=True)


def _serve(stack: Any, seconds: float | None, httpx: Any, *, course_clock: bool = False) -> int:
    idp, gateway = stack.idp_service.url, stack.gateway.url
    token_url = idp + "/token"
    with httpx.Client(timeout=10) as http:
        status, token = _token(http, token_url, "orders-api")
        _, payments_token = _token(http, token_url, "payments-api", "payments:read")
        check = http.get(gateway + "/orders/1", headers={"Authorization": f"Bearer {token}"})
    print(f"identity provider  {idp}  (JWKS: /.well-known/jwks.json, tokens: /token)")
    print(f"gateway            {gateway}  (/orders, /payments, /inventory, /public; /readyz, /metrics)")
    for name, service in stack.services.items():
        trust = "trusts the gateway's claim headers, for comparison" if name == "inventory" else \
            "only the gateway's internal token gets in"
        print(f"{name:18} {service.url}  ({trust})")
    print(f"self-check: token {status}, alice → gateway → orders {check.status_code}")
    if course_clock:
        print(f"clock: the course clock, started at {COURSE_NOW_ISO} (the book's examples fit its tokens)")
    else:
        print(f"clock: this machine's clock (--course-clock runs on the book's, from {COURSE_NOW_ISO})")
    if status != 200 or check.status_code != 200:
        return 1
    print()
    print("DEMO tokens for alice (valid a few minutes):")
    print(f"  export TOKEN={token}")
    print(f"  export PAYMENTS_TOKEN={payments_token}")
    print("A fresh TOKEN when it has expired (one line):")
    print(f"  {refresh_line(idp)}")
    print("Verify one yourself, exactly as the gateway does:")
    now = f" --now {COURSE_NOW_ISO}" if course_clock else ""
    print(f'  jwtlab inspect "$TOKEN" --jwks {idp}/.well-known/jwks.json --iss {DEMO_ISSUER} --aud orders-api{now}')
    print()
    print("Try it (paste into a shell):")
    for example in examples(idp, gateway):
        print(f"  {example.comment()}")
        print(f"  {example.line()}")
    print()
    print("running; Ctrl-C stops everything", flush=True)
    deadline = None if seconds is None else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        time.sleep(0.2)
    return 0
