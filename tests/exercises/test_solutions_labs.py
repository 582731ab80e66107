"""Solutions to the "predict, then check" exercises of the lab pages.

They run the labs' reference solutions with the inputs an exercise names, so the predicted answers on the
pages are checked against the code the labs' checks accept.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from jwtlab import attacks, clock, keys, pki

LABS = Path(__file__).resolve().parents[2] / "labs"


def reference(lab: str, module: str) -> ModuleType:
    """A lab's reference solution, imported from its file under a name no other test uses."""
    path = LABS / lab / "solution" / f"{module}.py"
    spec = importlib.util.spec_from_file_location(
        f"exercise_{lab.replace('-', '_')}_{module}", path
    )
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


# --- ex-labs-jwks-rotation-1: what an IdP's Cache-Control turns into -----------------------------------


def test_cache_control_predictions() -> None:
    cache = reference("jwks-rotation", "jwks_cache")
    predictions = {
        "max-age=7200": 3600,
        "max-age=0": 30,
        "no-store": 30,
        None: 300,
        "max-age=600": 600,
    }
    for header, seconds in predictions.items():
        assert cache.ttl_from_cache_control(header) == seconds, header


# --- ex-labs-token-propagation-1: what an exchange may issue --------------------------------------------


def test_exchange_narrows_scope_and_lifetime() -> None:
    sts = reference("token-propagation", "propagation")
    allowed = frozenset({"payments:write", "payments:read"})
    assert (
        sts.issued_scope(
            "payments:write ledger:write", "orders:read payments:write", allowed
        )
        == "payments:write"
    )
    with pytest.raises(sts.ExchangeError):
        sts.issued_scope(
            "ledger:write", "orders:read payments:write", allowed
        )  # nothing left: invalid_scope
    now = clock.now()
    assert sts.expiry({"exp": now + 60}, now) == now + 60, (
        "never after the subject token's exp"
    )
    assert sts.expiry({"exp": now + 3600}, now) == now + 120, "at most two minutes"


# --- ex-labs-service-identity-2: compute cnf.x5t#S256 yourself ------------------------------------------


def x5t_s256(pem: bytes) -> str:
    """base64url, unpadded, of SHA-256 over the certificate's DER (RFC 8705 §3.1)."""

    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    return (
        base64.urlsafe_b64encode(hashlib.sha256(der).digest())
        .rstrip(b"=")
        .decode("ascii")
    )


def test_thumbprint_by_hand_matches_the_toolkit() -> None:
    pem = attacks.self_signed_certificate(keys.p256_key(), common_name="orders")
    assert x5t_s256(pem) == pki.x5t_s256(pem)
    assert len(x5t_s256(pem)) == 43  # 32 bytes of SHA-256 in base64url


# --- ex-labs-sender-constrained-1/2: which check refuses the thief, and a full replay cache ---------------


def test_the_thiefs_own_proof_and_a_late_replay() -> None:
    from jwtlab.dpop import jkt_of, make_proof

    gateway = reference("sender-constrained", "dpop_gateway")
    alice, thief = keys.p256_key("lab8-client"), keys.p256_key("lab8-thief")
    url, now, token = "http://127.0.0.1:8000/orders", clock.COURSE_NOW, "eyJ.token.sig"
    bound = {"sub": "alice", "cnf": {"jkt": jkt_of(alice.public_key)}}
    claims, jwk = gateway.verify_proof(make_proof(thief, "GET", url, now=now, access_token=token))
    gateway.check_request(claims, "GET", url, now)  # a perfect proof, for this request
    with pytest.raises(gateway.Refused) as refused:
        gateway.check_binding(claims, jwk, token, bound)
    assert (refused.value.reason, refused.value.error) == ("dpop_key_mismatch", "invalid_token")
    captured, _ = gateway.verify_proof(make_proof(alice, "GET", url, now=now, access_token=token))
    with pytest.raises(gateway.Refused) as refused:
        gateway.check_request(captured, "GET", url, now + 70)
    assert refused.value.reason == "dpop_stale"


def test_a_full_replay_cache() -> None:
    gateway = reference("sender-constrained", "dpop_gateway")
    cache = gateway.JtiCache(window=65, max_entries=3)
    for iat in (100, 101, 102):
        cache.remember(f"j-{iat}", iat, 102)
    cache.remember("alice", 102, 102)  # accepted: the entry of 100 is forgotten, the floor is 100
    assert (len(cache), cache.floor) == (3, 100)
    with pytest.raises(gateway.Refused) as refused:
        cache.remember("j-100", 100, 102)  # the forgotten proof, replayed
    assert refused.value.reason == "dpop_stale"
    cache.remember("fourth", 102, 102)  # forgets 101, floor 101, accepted
    assert (len(cache), cache.floor) == (3, 101)
