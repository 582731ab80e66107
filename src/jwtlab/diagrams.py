"""Architecture and sequence diagrams for the notebooks, drawn from a few lines of data.

Part IV and V notebooks open with a picture of what they build: boxes for services, arrows for requests,
and on each arrow the token that crosses it. The picture is drawn by matplotlib when the notebook runs,
so it shows in JupyterLab and in the book alike, needs nothing fetched and cannot drift from the text
beside it (the same cell can hold the names the code uses).

    from jwtlab.diagrams import Box, Arrow, architecture
    architecture(
        [Box("client", "Client", 0, 0), Box("gw", "Gateway", 1, 0, kind="edge")],
        [Arrow("client", "gw", "user token")],
        title="Verify once at the edge",
    )

matplotlib is imported only when a diagram is drawn: the toolkit itself does not need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

Kind = Literal["client", "edge", "service", "idp", "attacker", "store"]

#: Fill and edge colours per kind of box: the same colour means the same role in every notebook.
PALETTE: dict[str, tuple[str, str]] = {
    "client": ("#e8f1fb", "#2b6cb0"),
    "edge": ("#fff4e0", "#c05621"),
    "service": ("#e9f7ef", "#2f855a"),
    "idp": ("#f3e8fd", "#6b46c1"),
    "attacker": ("#fde8e8", "#c53030"),
    "store": ("#f2f2f2", "#4a5568"),
}
ARROW_COLOURS = {"ok": "#2d3748", "refused": "#c53030", "internal": "#2f855a", "keys": "#6b46c1"}
FONT = 9


@dataclass(frozen=True)
class Box:
    """A participant: a service, the gateway, the identity provider, a client or an attacker.

    `col` and `row` place it on a grid (column 0 is the left edge, row 0 the top row); fractional values
    are allowed for nudging. `note` is a second, smaller line (e.g. "verifies aud=orders").
    """

    key: str
    label: str
    col: float
    row: float
    kind: Kind = "service"
    note: str = ""


@dataclass(frozen=True)
class Arrow:
    """A request from one box to another, labelled with what crosses it (usually the token).

    `style` colours it: "ok" a normal request, "refused" one that is turned away (drawn dashed),
    "internal" a hop inside the estate, "keys" a key-set fetch. `bend` curves it (useful when two arrows
    join the same pair of boxes).
    """

    src: str
    dst: str
    label: str = ""
    style: Literal["ok", "refused", "internal", "keys"] = "ok"
    bend: float = 0.0


def architecture(
    boxes: Sequence[Box],
    arrows: Sequence[Arrow],
    *,
    title: str = "",
    width: float = 9.0,
    cell: tuple[float, float] = (2.6, 1.5),
) -> Figure:
    """Draw boxes on a grid and labelled arrows between them; returns the figure (shown by Jupyter).

    The figure is sized from the grid so that labels keep their size whatever the number of boxes, and
    capped at `width` inches so that it fits the book's column.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    by_key = {box.key: box for box in boxes}
    missing = sorted({k for a in arrows for k in (a.src, a.dst)} - by_key.keys())
    if missing:
        raise ValueError(f"arrows name boxes that do not exist: {missing}")
    cols = max(b.col for b in boxes) + 1
    rows = max(b.row for b in boxes) + 1
    fig_w = min(width, cols * cell[0])
    scale = fig_w / (cols * cell[0])
    fig_h = rows * cell[1] * scale + (0.45 if title else 0.1)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5 - (0.25 if title else 0))
    ax.axis("off")
    half_w, half_h = 0.3, 0.2

    for box in boxes:
        fill, edge = PALETTE[box.kind]
        ax.add_patch(
            FancyBboxPatch(
                (box.col - half_w, box.row - half_h), 2 * half_w, 2 * half_h,
                boxstyle="round,pad=0.02,rounding_size=0.06", facecolor=fill, edgecolor=edge, lw=1.4,
            )
        )
        dy = -0.05 if box.note else 0.0
        ax.text(box.col, box.row + dy, box.label, ha="center", va="center", fontsize=FONT + 1,
                fontweight="bold", color=edge)
        if box.note:
            ax.text(box.col, box.row + 0.1, box.note, ha="center", va="center", fontsize=FONT - 1.5,
                    color="#4a5568")

    for arrow in arrows:
        a, b = by_key[arrow.src], by_key[arrow.dst]
        start, end = _edge_point(a, b, half_w, half_h), _edge_point(b, a, half_w, half_h)
        colour = ARROW_COLOURS[arrow.style]
        ax.add_patch(
            FancyArrowPatch(
                start, end, arrowstyle="-|>", mutation_scale=12, color=colour, lw=1.3,
                linestyle="--" if arrow.style == "refused" else "-",
                connectionstyle=f"arc3,rad={arrow.bend}",
            )
        )
        if arrow.label:
            mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
            # A bent arrow's middle moves sideways by about bend × length / 2.
            dx, dy = end[0] - start[0], end[1] - start[1]
            mx, my = mx + arrow.bend * dy / 2, my - arrow.bend * dx / 2
            if abs(dy) < 1e-9:  # a level arrow is short: its label sits above it, not on it
                my -= 0.05
            ax.text(mx, my, arrow.label, ha="center", va="bottom" if abs(dy) < 1e-9 else "center",
                    fontsize=FONT - 1, color=colour, bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9})
    if title:
        ax.set_title(title, fontsize=FONT + 2, loc="left")
    fig.tight_layout(pad=0.2)
    return fig


def sequence(
    actors: Sequence[Box],
    messages: Sequence[Arrow],
    *,
    title: str = "",
    width: float = 9.0,
    step: float = 0.42,
) -> Figure:
    """A sequence diagram: one lifeline per actor (left to right by `col`), one row per message.

    For flows where order matters more than layout (a token exchange, a refresh, a replay): each
    message is a horizontal arrow under the previous one, labelled with what it carries.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    order = sorted(actors, key=lambda b: b.col)
    x = {actor.key: i for i, actor in enumerate(order)}
    missing = sorted({k for m in messages for k in (m.src, m.dst)} - x.keys())
    if missing:
        raise ValueError(f"messages name actors that do not exist: {missing}")
    n = len(order)
    height = 0.9 + step * (len(messages) + 1) + (0.3 if title else 0)
    fig, ax = plt.subplots(figsize=(width, height))
    bottom = len(messages) + 1
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(bottom + 0.2, -1.1 - (0.5 if title else 0))
    ax.axis("off")
    for actor in order:
        fill, edge = PALETTE[actor.kind]
        i = x[actor.key]
        ax.add_patch(FancyBboxPatch((i - 0.38, -0.95), 0.76, 0.6, boxstyle="round,pad=0.02",
                                    facecolor=fill, edgecolor=edge, lw=1.4))
        ax.text(i, -0.65, actor.label, ha="center", va="center", fontsize=FONT + 1, fontweight="bold",
                color=edge)
        ax.plot([i, i], [-0.35, bottom], color=edge, lw=1, alpha=0.5, linestyle=":")
    for row, msg in enumerate(messages, start=1):
        a, b = x[msg.src], x[msg.dst]
        colour = ARROW_COLOURS[msg.style]
        ax.annotate("", xy=(b, row), xytext=(a, row),
                    arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.3,
                                "linestyle": "--" if msg.style == "refused" else "-"})
        ax.text((a + b) / 2, row - 0.18, msg.label, ha="center", va="bottom", fontsize=FONT - 1,
                color=colour)
    if title:
        ax.set_title(title, fontsize=FONT + 2, loc="left")
    fig.tight_layout(pad=0.2)
    return fig


def _edge_point(a: Box, b: Box, half_w: float, half_h: float) -> tuple[float, float]:
    """Where the line from a's centre towards b's centre leaves a's box (so arrows touch the borders)."""
    dx, dy = b.col - a.col, b.row - a.row
    if dx == 0 and dy == 0:
        return a.col, a.row
    tx = half_w / abs(dx) if dx else float("inf")
    ty = half_h / abs(dy) if dy else float("inf")
    t = min(tx, ty) * 1.08
    return a.col + dx * t, a.row + dy * t
