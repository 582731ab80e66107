"""The stable reason codes of `verify_token` and of DPoP proofs: what each means and how to fix it.

A reason code is an API: services put it in their 401 bodies and logs, the error catalogue of the book
has a section per code (a test keeps the two in step), and `jwtlab inspect` prints the fix. Never
rename a code; add a new one instead.

`REASONS` holds the codes `verify_token` raises (notebook 20 triggers every one of them live);
`DPOP_REASONS` those of `jwtlab.dpop`, which checks the proof that travels beside a DPoP-bound token;
`ALL_REASONS` is both, for whatever reports any rejection (`TokenRejected`, the catalogue).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    code: str
    title: str
    fix: str


REASONS: dict[str, Reason] = {
    r.code: r
    for r in [
        Reason("malformed", "The token is not a well-formed compact JWS",
               "Send exactly three base64url segments separated by dots, each decoding to JSON objects (header, claims)."),
        Reason("too_large", "The token is larger than the verifier accepts",
               "Keep tokens small (a few kB); move bulky data out of the token and look it up by `sub`."),
        Reason("not_utf8", "The header or claims are not UTF-8 JSON",
               "Encode the JSON as UTF-8 without a byte-order mark (RFC 8725 §3.7)."),
        Reason("duplicate_name", "A JSON member name appears twice",
               "Emit each member once; parsers disagree about which duplicate wins, so it is rejected outright."),
        Reason("alg_not_allowed", "The algorithm is not on this verifier's allowlist for that key",
               "Sign with an algorithm the verifier allows and with a key of the matching type (RFC 8725 §3.1)."),
        Reason("kid_unknown", "No trusted key has this key id",
               "Sign with a key published in the issuer's JWKS and put its `kid` in the header; refresh the verifier's key set."),
        Reason("bad_signature", "The signature does not match the header and claims",
               "The token was altered or signed with another key: obtain a fresh token from the issuer."),
        Reason("expired", "The token has expired (`exp`)",
               "Get a new token (refresh it); if the clocks disagree, fix NTP rather than raising the leeway."),
        Reason("not_yet_valid", "The token is not valid yet (`nbf`)",
               "Wait until `nbf`, or fix the clock of the issuer or the verifier."),
        Reason("issued_in_future", "The token claims to be issued in the future (`iat`)",
               "The issuer's clock runs ahead of the verifier's: fix the clocks (NTP)."),
        Reason("lifetime_too_long", "The token lives longer than this verifier accepts (`exp` − `iat`)",
               "Issue shorter-lived access tokens and refresh them."),
        Reason("issuer", "The issuer (`iss`) is not the trusted one",
               "Use tokens from the configured issuer; `iss` must match exactly, character for character."),
        Reason("audience", "The token is not meant for this service (`aud`)",
               "Request a token whose `aud` names this service (or exchange it for one)."),
        Reason("missing_claim", "A required claim is missing",
               "Ask the issuer to include the claim (e.g. `exp`, `iat`, `sub`)."),
        Reason("bad_claim_type", "A claim has the wrong type or an impossible value",
               "Use JSON numbers for times, strings for `iss`/`sub`/`jti`, a string or list of strings for `aud`."),
        Reason("crit_unsupported", "The header demands an extension this verifier does not implement (`crit`, `b64`)",
               "Remove `crit`/`b64`: a verifier must reject critical extensions it does not understand."),
        Reason("forbidden_header", "The header carries a key or key location (`jwk`, `jku`, `x5u`, `x5c`) or JWE fields",
               "Never put keys or key URLs in the token; the verifier gets keys only from its configured key set."),
        Reason("typ", "The token type (`typ`) is not the one this verifier accepts",
               "Use the right kind of token (e.g. an access token with `typ: at+jwt`, not an ID token)."),
        Reason("weak_key", "The verification key is unusable or too weak for the algorithm",
               "Use HMAC secrets of at least 256 random bits and never a public key as an HMAC secret."),
        Reason("cnf_mismatch", "The token is bound to a certificate other than the one presented (`cnf`)",
               "Present the client certificate the token was issued for (RFC 8705); a bound token is useless to anyone else."),
        Reason("misconfigured", "The verifier itself was called with invalid settings",
               "Fix the call: algorithms, issuer and audience must be non-empty strings; keys a JWKS, JWK or key object."),
    ]
}


DPOP_REASONS: dict[str, Reason] = {
    r.code: r
    for r in [
        Reason("dpop_missing", "The request has no DPoP proof, or more than one",
               "Send exactly one `DPoP` header with a fresh proof on every request that uses a DPoP-bound token."),
        Reason("dpop_invalid", "The DPoP proof is not a valid proof JWT",
               "Sign a JWT with `typ: dpop+jwt`, an asymmetric `alg`, your public key as `jwk`, and `jti`, `htm`, "
               "`htu`, `iat` claims (RFC 9449 §4.2)."),
        Reason("dpop_wrong_request", "The DPoP proof was made for another method or URL (`htm`, `htu`)",
               "Make a new proof for each request, naming its method and its URL without query or fragment."),
        Reason("dpop_stale", "The DPoP proof's `iat` is outside the accepted window",
               "Make the proof just before sending the request; if the clocks disagree, fix NTP or use the server's nonce."),
        Reason("dpop_replay", "This DPoP proof was seen before (`jti`)",
               "Never resend a proof: make a new one, with a new random `jti`, for every request."),
        Reason("dpop_wrong_token", "The DPoP proof was made for another access token (`ath`)",
               "Put `ath` = base64url(SHA-256(access token)) of the token sent with this very request."),
        Reason("dpop_key_mismatch", "The access token is bound to another key than the proof's (`cnf.jkt`)",
               "Sign proofs with the key the token was issued for; a stolen DPoP-bound token is useless without it."),
        Reason("dpop_nonce", "The server wants a fresh DPoP nonce in the proof",
               "Retry once with the value of the response's `DPoP-Nonce` header as the proof's `nonce` claim."),
    ]
}

ALL_REASONS: dict[str, Reason] = {**REASONS, **DPOP_REASONS}


def describe(code: str) -> Reason:
    """The Reason for a code (KeyError for an unknown code: codes are a closed set)."""
    return ALL_REASONS[code]
