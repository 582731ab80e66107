"""`jwtlab up`: run the Part IV demo stack on 127.0.0.1 until Ctrl-C (or for `--seconds`).

    jwtlab up                 IdP, gateway, orders, payments and inventory on loopback, wall-clock time
    jwtlab up --cache 1000    with the gateway's verified-token cache on

It first checks itself end to end (a password-grant token for alice, one request through the gateway)
and prints the addresses and a ready-to-paste token request. DEMO users, secrets and keys only.
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "up",
        help="start the demo IdP, gateway and services on 127.0.0.1 (Part IV) until Ctrl-C",
        description="Start the demo identity provider, the gateway and three services on 127.0.0.1 ports chosen by "
        "the OS, check them end to end, print their addresses and keep them running until Ctrl-C.",
    )
    parser.add_argument("--cache", type=int, default=0, metavar="N", help="verified-token cache size (0 = off)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import httpx

    from ..clock import Clock
    from ..stack import demo_stack

    with demo_stack(clock=Clock(real=True), token_cache_size=args.cache) as stack:
        token_url = stack.idp_service.url + "/token"
        r = httpx.post(token_url, data={"grant_type": "password", "username": "alice",
                                        "password": "alice-demo-password", "client_id": "course-cli",
                                        "audience": "orders-api"})
        check = httpx.get(stack.gateway.url + "/orders/1",
                          headers={"Authorization": f"Bearer {r.json().get('access_token', '')}"})
        print(f"identity provider  {stack.idp_service.url}  (JWKS: /.well-known/jwks.json, tokens: /token)")
        print(f"gateway            {stack.gateway.url}  (/orders, /payments, /inventory, /public; /readyz, /metrics)")
        for name, service in stack.services.items():
            trust = "trusts the gateway's claim headers (for comparison)" if name == "inventory" else \
                "only the gateway's internal token gets in"
            print(f"{name:18} {service.url}  ({trust})")
        print(f"self-check: token {r.status_code}, alice → gateway → orders {check.status_code}")
        print("get a token (DEMO user, DEMO password):")
        print(f"  curl -s {token_url} -d grant_type=password -d username=alice -d password=alice-demo-password "
              "-d client_id=course-cli -d audience=orders-api")
        if r.status_code != 200 or check.status_code != 200:
            return 1
        print("running; Ctrl-C stops everything", flush=True)
        deadline = None if args.seconds is None else time.monotonic() + args.seconds
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    return 0
