"""Build-time pictures of the whole estate for the Part IV chapter page, of lab 7's estate and of
lab 8's DPoP exchange.

Why generate it: the picture is drawn by `jwtlab.diagrams` from the same names the toolkit uses, so it
cannot drift from the code the way a hand-drawn binary would, needs nothing fetched (the build runs
offline), and nothing binary is committed. It is drawn on `builder-inited`, before any page is read,
into `_build/diagrams/` under the source directory (ignored by git, like every build output), where
the page's `figure` directive finds it and Sphinx copies it into the HTML output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

#: Where the picture lands, relative to the source directory (the repository root).
OUTPUT = Path("_build") / "diagrams" / "estate.png"
#: Lab 7's estate, with the hop of each planted flaw, for its lab page.
LAB7_OUTPUT = Path("_build") / "diagrams" / "secure-the-estate.png"
#: Lab 8: alice's client and a thief with her token, at the DPoP gateway, as a sequence.
LAB8_OUTPUT = Path("_build") / "diagrams" / "sender-constrained.png"


def _headless() -> None:
    """No display during a build: matplotlib's Agg backend, chosen before anything imports pyplot."""
    import matplotlib

    matplotlib.use("Agg")


def _save(figure: Any, path: Path) -> None:
    """Write a finished figure as a PNG at `path` and release its memory."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    plt.close(figure)


def draw_estate(path: Path) -> None:
    """Draw every service of Part IV and the token that crosses each arrow, as a PNG at `path`."""
    _headless()
    from jwtlab.diagrams import Arrow, Box, architecture

    boxes = [
        Box("client", "client", 0, 1, kind="client", note="user or service"),
        Box("idp", "identity provider", 1.4, 0, kind="idp", note="jwtlab.idp, rotating keys"),
        Box("gw", "gateway", 1.4, 1, kind="edge", note="jwtlab.gateway"),
        Box("jwks", "JWKS cache", 2.8, 0, kind="store", note="jwtlab.jwks"),
        Box("svc", "orders, payments", 2.8, 1, note="jwtlab.upstream"),
        Box("sts", "token exchange", 1.4, 2, kind="idp", note="jwtlab.exchange (STS)"),
        Box("chain", "service chain", 2.8, 2, note="mTLS, bound tokens"),
    ]
    arrows = [
        Arrow("client", "idp", "grant → access token"),
        Arrow("client", "gw", "Bearer access token"),
        Arrow("gw", "jwks", "kid lookup", style="keys"),
        Arrow("jwks", "idp", "/.well-known/jwks.json", style="keys"),
        Arrow("gw", "svc", "internal token, aud = service", style="internal"),
        Arrow("svc", "sts", "exchange over mTLS", style="internal"),
        Arrow("sts", "chain", "cnf-bound token", style="internal"),
    ]
    figure = architecture(boxes, arrows, title="The whole estate: who calls whom, with which token")
    _save(figure, path)


def draw_lab7_estate(path: Path) -> None:
    """Draw lab 7's estate (labs/secure-the-estate/solution/estate.py) and where each flaw sits, at `path`."""
    _headless()
    from jwtlab.diagrams import Arrow, Box, architecture

    boxes = [
        Box("client", "client", 0, 1, kind="client", note="or an attacker"),
        Box("idp", "demo IdP", 1.4, 0, kind="idp", note="jwtlab.idp (given)"),
        Box("gw", "gateway", 1.4, 1, kind="edge", note="flaws 1, 2, 3"),
        Box("orders", "orders", 2.8, 0.4, note="flaw 4"),
        Box("payments", "payments", 2.8, 1.6, note="flaw 5"),
        Box("direct", "straight in", 4.2, 1, kind="attacker", note="debug port, replay"),
    ]
    arrows = [
        Arrow("client", "gw", "Bearer IdP token"),
        Arrow("gw", "idp", "JWKS (key cache)", style="keys"),
        Arrow("gw", "orders", "internal, aud orders", style="internal"),
        Arrow("gw", "payments", "internal, aud payments", style="internal"),
        Arrow("direct", "orders", "X-User: admin", style="refused"),
        Arrow("direct", "payments", "aud orders", style="refused"),
    ]
    figure = architecture(boxes, arrows, title="Lab 7: the estate and where each flaw sits")
    _save(figure, path)


def draw_lab8_dpop(path: Path) -> None:
    """Draw lab 8 (labs/sender-constrained/solution/dpop_gateway.py): alice's requests pass, the
    thief's copies of her token do not, and which check refuses each, at `path`."""
    _headless()
    from jwtlab.diagrams import Arrow, Box, sequence

    actors = [
        Box("client", "alice's client", 0, 0, kind="client"),
        Box("thief", "thief", 1, 0, kind="attacker"),
        Box("gw", "DPoP gateway", 2, 0, kind="edge"),
        Box("orders", "/orders", 3, 0),
    ]
    messages = [
        Arrow("client", "gw", "DPoP <token> + proof (GET /orders, ath, jti, iat) by her key"),
        Arrow("gw", "orders", "200: every check passed", style="internal"),
        Arrow("thief", "gw", "Bearer <stolen token> → 401 (scheme)", style="refused"),
        Arrow("thief", "gw", "token + a proof by the thief's key → 401 (binding)", style="refused"),
        Arrow("thief", "gw", "token + alice's captured proof → 401 (replay)", style="refused"),
        Arrow("thief", "gw", "token + a GET proof on POST /orders → 401 (request)", style="refused"),
    ]
    figure = sequence(actors, messages, title="Lab 8: a stolen DPoP-bound token is not enough")
    _save(figure, path)


def _builder_inited(app: Sphinx) -> None:
    draw_estate(Path(app.srcdir) / OUTPUT)
    draw_lab7_estate(Path(app.srcdir) / LAB7_OUTPUT)
    draw_lab8_dpop(Path(app.srcdir) / LAB8_OUTPUT)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", _builder_inited)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
