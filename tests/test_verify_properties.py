"""Properties of `verify_token` that must hold for *every* input, checked with generated inputs.

The corpus (test_verify_corpus.py) pins the attacks someone has thought of; these properties cover the
inputs nobody listed: whatever the token is, the verifier either returns claims or raises
`TokenRejected` — never another exception (checklist B.16), and a changed token never verifies.
Runs are derandomised, so CI sees the same examples every time.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from forgery import AUDIENCE, ED, HS, ISSUER, NOW, RSA, forge, good_claims, good_token, header_for
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jwtlab import b64
from jwtlab.reasons import REASONS
from jwtlab.verify import KeySet, TokenRejected, verify_token

TRUSTED = KeySet([RSA, ED, HS])
ALGS = ["RS256", "EdDSA", "HS256"]

#: Deterministic and modest: the whole module stays within a few seconds.
DETERMINISTIC = settings(
    derandomize=True, database=None, deadline=None, max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def verify(token: Any) -> dict[str, Any]:
    return verify_token(token, TRUSTED, issuer=ISSUER, audience=AUDIENCE, algorithms=ALGS, now=NOW)


def rejected(token: Any) -> TokenRejected:
    """Assert the token is rejected the one allowed way, with a known reason; return the rejection."""
    with pytest.raises(TokenRejected) as info:
        verify(token)
    assert type(info.value) is TokenRejected and info.value.reason in REASONS
    return info.value


B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
segments = st.binary(max_size=120).map(b64.encode)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=5)
#: Member names: registered JOSE/JWT names half of the time, so the checks on them get exercised.
header_objects = st.dictionaries(
    st.sampled_from(["alg", "kid", "typ", "cty", "crit", "b64", "jku", "jwk", "x5c", "zip"]) | st.text(max_size=6),
    json_values, max_size=4)
claims_objects = st.dictionaries(
    st.sampled_from(["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope"]) | st.text(max_size=6),
    json_values | st.sampled_from([ISSUER, AUDIENCE, [AUDIENCE], NOW, NOW + 120, NOW - 120, "alice", ""]),
    max_size=5)

anything = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=B64URL + ".=+/ ", max_size=300),
    st.binary(max_size=300),
    st.tuples(segments, segments, segments).map(".".join),
    st.tuples(json_objects, json_objects, segments).map(
        lambda t: f"{b64.encode(json.dumps(t[0]).encode())}.{b64.encode(json.dumps(t[1]).encode())}.{t[2]}"),
    st.integers(), st.floats(), st.none(), st.booleans(), st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3), st.builds(object),
    st.binary(max_size=100).map(bytearray),
)


@DETERMINISTIC
@given(token=anything)
def test_arbitrary_input_is_rejected_and_nothing_else_escapes(token: Any) -> None:
    rejected(token)


VALID_TOKENS = {key.alg: good_token(key) for key in (RSA, ED, HS)}


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, str]:
    """A valid token and a mutation of it: replace, insert or delete characters, or reorder segments."""
    original = VALID_TOKENS[draw(st.sampled_from(sorted(VALID_TOKENS)))]
    mutated = original
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "swap"]))
        char = draw(st.sampled_from(B64URL + ".=+/ \n\x00é") | st.characters())
        at = draw(st.integers(min_value=0, max_value=max(0, len(mutated) - 1)))
        if op == "replace" and mutated:
            mutated = mutated[:at] + char + mutated[at + 1:]
        elif op == "insert":
            mutated = mutated[:at] + char + mutated[at:]
        elif op == "delete" and mutated:
            mutated = mutated[:at] + mutated[at + 1:]
        else:
            parts = mutated.split(".")
            order = draw(st.permutations(range(len(parts))))
            mutated = ".".join(parts[i] for i in order)
    return original, mutated


@DETERMINISTIC
@given(pair=mutations())
def test_a_mutated_token_is_rejected_unless_unchanged(pair: tuple[str, str]) -> None:
    original, mutated = pair
    if mutated == original:
        assert verify(mutated)["sub"] == "alice"
    else:
        rejected(mutated)


@st.composite
def signed_structures(draw: st.DrawFn) -> tuple[str, dict[str, Any] | None]:
    """A correctly signed token with generated header members and claims; also the claims as signed."""
    key = draw(st.sampled_from([HS, ED, RSA]))
    header: dict[str, Any] = {**header_for(key), **draw(header_objects)}
    if draw(st.booleans()):  # sometimes keep the header honest, so the claims are what gets tested
        header.update(header_for(key))
        header = {k: v for k, v in header.items() if k not in ("crit", "b64", "jku", "x5u", "jwk", "x5c", "enc", "zip", "epk")}
    claims: dict[str, Any] = draw(claims_objects)
    if draw(st.booleans()):
        claims = {**claims, **good_claims()} if draw(st.booleans()) else {**good_claims(), **claims}
    ascii_only = draw(st.booleans())
    encoded_header = b64.encode(json.dumps(header, ensure_ascii=ascii_only).encode("utf-8"))
    encoded_claims = b64.encode(json.dumps(claims, ensure_ascii=ascii_only).encode("utf-8"))
    return forge(encoded_header, encoded_claims, key, alg=key.alg), claims


@DETERMINISTIC
@given(case=signed_structures())
def test_signed_generated_json_returns_its_claims_or_is_rejected(case: tuple[str, dict[str, Any]]) -> None:
    token, claims = case
    try:
        result = verify(token)
    except TokenRejected as exc:
        assert type(exc) is TokenRejected and exc.reason in REASONS
        event(f"rejected: {exc.reason}")
        return
    event("accepted")
    # Accepted: exactly the claims that were signed, and every check really held.
    assert result == claims
    assert result["iss"] == ISSUER and result["sub"]
    assert AUDIENCE in ([result["aud"]] if isinstance(result["aud"], str) else result["aud"])
    assert result["exp"] > NOW - 60 and result["iat"] <= NOW + 60


def test_the_generators_reach_acceptance() -> None:
    # Guard against a vacuous property: the honest part of the structured generator does verify.
    token = forge(b64.encode(json.dumps(header_for(HS)).encode()), b64.encode(json.dumps(good_claims()).encode()), HS)
    assert verify(token) == good_claims()
