"""Small SVG charts the CLI writes; hand-written to keep plotting libraries out of the install."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

SIZE, PAD = 360, 48


def _xy(confidence: float, accuracy: float) -> tuple[float, float]:
    span = SIZE - 2 * PAD
    return PAD + confidence * span, SIZE - PAD - accuracy * span


def reliability_svg(
    before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]], *, title: str
) -> str:
    """A reliability diagram: accuracy against mean confidence per bin, before (grey) and after
    (blue) calibration, dot area by item count; the diagonal is perfect calibration."""
    total = max(1, sum(int(b["count"]) for b in after))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" '
        f'viewBox="0 0 {SIZE} {SIZE}" role="img" aria-label="{escape(title)}">',
        f'<rect width="{SIZE}" height="{SIZE}" fill="white"/>',
        f'<text x="{SIZE / 2}" y="24" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    x0, y0 = _xy(0, 0)
    x1, y1 = _xy(1, 1)
    parts.append(
        f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="none" stroke="#999"/>'
    )
    parts.append(
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#999" stroke-dasharray="4 4"/>'
    )
    for tick in (0.0, 0.5, 1.0):
        tx, _ = _xy(tick, 0)
        _, ty = _xy(0, tick)
        parts.append(
            f'<text x="{tx}" y="{y0 + 16}" text-anchor="middle" font-size="11">{tick:.1f}</text>'
        )
        parts.append(
            f'<text x="{x0 - 8}" y="{ty + 4}" text-anchor="end" font-size="11">{tick:.1f}</text>'
        )
    parts.append(
        f'<text x="{SIZE / 2}" y="{SIZE - 10}" text-anchor="middle" font-size="12">'
        "confidence</text>"
    )
    parts.append(
        f'<text x="14" y="{SIZE / 2}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {SIZE / 2})">accuracy</text>'
    )
    for bins, colour, name in ((before, "#999999", "before"), (after, "#1f5fbf", "after")):
        points = [b for b in bins if int(b["count"]) > 0]
        if len(points) > 1:
            xy = [_xy(b["confidence"], b["accuracy"]) for b in points]
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
            )
        for b in points:
            cx, cy = _xy(b["confidence"], b["accuracy"])
            r = 2 + 8 * (int(b["count"]) / total) ** 0.5
            parts.append(
                f'<circle class="{name}" cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{colour}" '
                f'fill-opacity="0.6"><title>{name}: {b["count"]} items, confidence '
                f"{b['confidence']:.3f}, accuracy {b['accuracy']:.3f}</title></circle>"
            )
    parts.append(f'<text x="{x0 + 6}" y="{y1 + 14}" font-size="11" fill="#999999">before</text>')
    parts.append(
        f'<text x="{x0 + 6}" y="{y1 + 28}" font-size="11" fill="#1f5fbf">after calibration</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
