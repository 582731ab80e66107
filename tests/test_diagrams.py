"""The notebooks' diagrams: drawn from data, and a typo in a box name fails loudly instead of vanishing."""

from __future__ import annotations

import matplotlib
import pytest

from jwtlab.diagrams import Arrow, Box, architecture, sequence

matplotlib.use("Agg")


def test_architecture_draws_every_box_and_label() -> None:
    fig = architecture(
        [Box("c", "Client", 0, 0, "client"), Box("g", "Gateway", 1, 0, "edge", note="verifies")],
        [Arrow("c", "g", "user token")],
        title="t",
    )
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"Client", "Gateway", "verifies", "user token"} <= texts


def test_sequence_has_one_arrow_per_message() -> None:
    fig = sequence(
        [Box("c", "Client", 0, 0, "client"), Box("i", "IdP", 1, 0, "idp")],
        [Arrow("c", "i", "token request"), Arrow("i", "c", "access token")],
    )
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_text()]
    assert labels == ["Client", "IdP", "token request", "access token"]


@pytest.mark.parametrize("draw", [architecture, sequence])
def test_an_unknown_box_is_an_error(draw) -> None:
    with pytest.raises(ValueError, match="do not exist"):
        draw([Box("c", "Client", 0, 0)], [Arrow("c", "nobody", "x")])
