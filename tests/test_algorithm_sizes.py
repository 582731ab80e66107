"""The size table of book/algorithms/choosing.md is measured, not typed: recompute every figure.

The page compares what each algorithm adds to every request. The figures come from signing the same
claims with each course demo key (as notebooks/11-signatures does); if a key, the claims or a library
changes a size, this test names the row and column that went stale.
"""

from __future__ import annotations

import json
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from jwtlab import b64, clock, keys

CLAIMS = clock.claims("alice", scope="orders:read")


def b64_length(n_bytes: int) -> int:
    return (4 * n_bytes + 2) // 3


def measured_rows() -> dict[str, list[str]]:
    """alg label -> [signature bytes, token characters, public key DER bytes, JWKS entry characters]."""
    signers = {
        "HS256": keys.hmac_secret(),
        "RS256": keys.rsa_key(0, "RS256"),
        "PS256": keys.rsa_key(1, "PS256"),
        "ES256": keys.p256_key(),
        "EdDSA": keys.ed25519_key(),
    }
    rows: dict[str, list[str]] = {}
    for alg, signer in signers.items():
        token = jwt.encode(CLAIMS, signer.signing_key, algorithm=alg, headers=signer.headers())
        signature = b64.decode(token.rsplit(".", 1)[1])
        if alg == "HS256":
            der, entry = "secret, never published", "never published"
        else:
            der = str(len(signer.public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)))
            entry = str(len(json.dumps(signer.public_jwk(), separators=(",", ":"))))
        rows[alg] = [str(len(signature)), str(len(token)), der, entry]
    rs_prefix = int(rows["RS256"][1]) - b64_length(256)
    for bits in (3072, 4096):
        rows[f"RS256, RSA-{bits}"] = [str(bits // 8), str(rs_prefix + b64_length(bits // 8)), "", ""]
    return rows


def page_rows(root: Path) -> dict[str, list[str]]:
    text = (root / "book" / "algorithms" / "choosing.md").read_text(encoding="utf-8")
    table = text.split("<!-- sizes-table: checked by tests/test_algorithm_sizes.py -->", 1)[1].strip().split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:   # skip the header and the |---| line
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_size_table_matches_real_tokens(root: Path) -> None:
    assert page_rows(root) == measured_rows()


def test_computed_rsa_sizes_agree_with_real_larger_keys() -> None:
    """The RSA-3072/4096 rows are computed; a real key of each size must give the same token length."""
    rows = measured_rows()
    private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    kid = keys.thumbprint(keys.public_jwk_of(private.public_key()))
    token = jwt.encode(CLAIMS, private, algorithm="RS256", headers={"kid": kid})
    assert str(len(token)) == rows["RS256, RSA-3072"][1]
