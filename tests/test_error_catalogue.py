"""The error catalogue (book/errors/catalogue.md) and the code stay in step.

Every reason code (of `verify_token` and of DPoP proofs) and every exception class of the installed PyJWT has a section with a stable
label, `(reason-CODE)=` or `(pyjwt-ClassName)=`; no section names a code or class that does not exist; and each
section says what triggers the failure, how to recognise it, how to fix it and which HTTP answer it gets. A new
reason code, or a PyJWT upgrade that adds an exception class, fails here until the book explains it.
"""

from __future__ import annotations

import re
from pathlib import Path

import jwt

from jwtlab.reasons import ALL_REASONS as REASONS

LABEL = re.compile(r"^\((reason|pyjwt)-([A-Za-z0-9_]+)\)=$", re.MULTILINE)
REQUIRED_PARTS = ("**Triggered by:**", "**Recognise it:**", "**Fix:**", "**HTTP:**")


def pyjwt_exception_classes() -> set[str]:
    """Every PyJWT exception class: PyJWTError and its subclasses defined by PyJWT itself (not by jwtlab)."""
    return {
        name for name, obj in vars(jwt.exceptions).items()
        if isinstance(obj, type) and issubclass(obj, jwt.PyJWTError) and obj.__module__.startswith("jwt")
    }


def sections(root: Path) -> dict[tuple[str, str], str]:
    """(kind, name) → the section's text, from its label to the next label or heading of level 2."""
    text = (root / "book" / "errors" / "catalogue.md").read_text(encoding="utf-8")
    found = list(LABEL.finditer(text))
    out: dict[tuple[str, str], str] = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        body = text[match.end():end].split("\n## ", 1)[0]
        key = (match.group(1), match.group(2))
        assert key not in out, f"two sections are labelled {match.group(0)}"
        out[key] = body
    return out


def test_pyjwt_class_discovery_sees_the_whole_tree() -> None:
    classes = pyjwt_exception_classes()
    assert {"PyJWTError", "InvalidTokenError", "ExpiredSignatureError", "PyJWKClientConnectionError"} <= classes
    assert "TokenRejected" not in classes  # jwtlab's own subclass is documented as the reason codes


def test_every_reason_code_has_a_section(root: Path) -> None:
    documented = {name for kind, name in sections(root) if kind == "reason"}
    assert sorted(set(REASONS) - documented) == [], "reason codes without a section in book/errors/catalogue.md"
    assert sorted(documented - set(REASONS)) == [], "sections for reason codes that do not exist"


def test_every_pyjwt_exception_has_a_section(root: Path) -> None:
    documented = {name for kind, name in sections(root) if kind == "pyjwt"}
    classes = pyjwt_exception_classes()
    assert sorted(classes - documented) == [], f"PyJWT {jwt.__version__} exception classes without a section"
    assert sorted(documented - classes) == [], "sections for PyJWT classes that do not exist"


def test_each_section_is_complete_and_titled_by_its_name(root: Path) -> None:
    for (kind, name), body in sections(root).items():
        heading = body.strip().splitlines()[0]
        assert heading == f"### `{name}`", f"{kind}-{name}: heading {heading!r}"
        missing = [part for part in REQUIRED_PARTS if part not in body]
        assert not missing, f"{kind}-{name} lacks {missing}"
        http = body.split("**HTTP:**", 1)[1]
        assert re.search(r"\b(400|401|403|500|503)\b", http), f"{kind}-{name}: no status code in its HTTP answer"


def test_cross_references_name_existing_sections(root: Path) -> None:
    text = (root / "book" / "errors" / "catalogue.md").read_text(encoding="utf-8")
    known = {f"{kind}-{name}" for kind, name in sections(root)}
    refs = set(re.findall(r"\{ref\}`((?:reason|pyjwt)-[A-Za-z0-9_]+)`", text))
    assert refs and refs <= known, sorted(refs - known)


def first_status(body: str) -> str:
    """The status a section answers with: the first status code in its HTTP bullet."""
    match = re.search(r"\b(400|401|403|500|503)\b", body.split("**HTTP:**", 1)[1])
    assert match
    return match.group(1)


def test_token_problems_get_401_and_only_server_problems_get_5xx(root: Path) -> None:
    """Hostile input never earns a 500: every reason code is answered 401 except the verifier's own misconfiguration."""
    statuses = {name: first_status(body) for (kind, name), body in sections(root).items() if kind == "reason"}
    assert {name for name, status in statuses.items() if status != "401"} == {"misconfigured"}
    assert statuses["misconfigured"] == "500"
    pyjwt = {name: first_status(body) for (kind, name), body in sections(root).items() if kind == "pyjwt"}
    token_errors = {name for name in pyjwt if issubclass(getattr(jwt.exceptions, name), jwt.InvalidTokenError)}
    assert all(pyjwt[name] == "401" for name in token_errors), "every InvalidTokenError subclass is a 401"
    assert pyjwt["PyJWKClientConnectionError"] == "503" and pyjwt["PyJWKSetError"] == "503"


def table_codes(root: Path, heading: str) -> list[str]:
    """The first-column codes of the table under a level-2 heading of the catalogue."""
    text = (root / "book" / "errors" / "catalogue.md").read_text(encoding="utf-8")
    part = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", part, re.MULTILINE)


def test_every_refresh_grant_reason_is_in_the_catalogue(root: Path) -> None:
    from jwtlab.refresh import REFRESH_REASONS

    assert table_codes(root, "When the token endpoint refuses a refresh token") == list(REFRESH_REASONS)


def test_the_gateways_revocation_reasons_are_the_ones_it_raises(root: Path) -> None:
    source = (root / "src" / "jwtlab" / "gateway.py").read_text(encoding="utf-8")
    codes = table_codes(root, "When the gateway says a token was taken back")
    assert codes == ["session_ended", "token_inactive", "introspection_unavailable"]
    assert all(f'"{code}"' in source for code in codes)
