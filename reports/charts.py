"""Inline SVG charts for the report: no JavaScript, no fonts or files to fetch, so the HTML is
one file that renders the same in a mail client, a browser and on paper.

Geometry is computed from ``Decimal`` (amounts never pass through float) and rounded to 0.1 px;
every label is escaped. Each chart carries a ``<title>`` so screen readers and printouts that
drop graphics still say what it shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from markupsafe import Markup, escape

Number = Decimal | float | int
CURRENT = "#2f6fb0"
PREVIOUS = "#b9c8da"
MUTED = "#d9e0e8"
INK = "#1f2933"
GRID = "#e4e7eb"
FONT = "font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"


@dataclasses.dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: Number
    text: str  # the value as the reader should see it, e.g. "$1,234.00"
    previous: Number | None = None  # drawn as a thin bar under the main one
    previous_text: str = ""


def _d(value: Number) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _px(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.1"), ROUND_HALF_EVEN))


def _scale(values: Sequence[Number], span: int) -> Callable[[Number], Decimal]:
    top = max((abs(_d(v)) for v in values), default=Decimal(0))
    if top == 0:
        return lambda value: Decimal(0)
    return lambda value: max(_d(value), Decimal(0)) / top * span


def bar_chart(bars: Sequence[Bar], *, title: str, width: int = 900) -> Markup:
    """Horizontal bars, one row per label; a thin grey bar below shows ``previous``."""
    label_w, text_w, row_h = 230, 170, 30 if any(b.previous is not None for b in bars) else 22
    span = width - label_w - text_w
    scale = _scale([v for b in bars for v in (b.value, b.previous) if v is not None], span)
    height = row_h * len(bars) + 8
    parts = [_open(width, height, title)]
    for index, bar in enumerate(bars):
        y = Decimal(index * row_h + 4)
        parts.append(
            f'<text x="{label_w - 8}" y="{_px(y + 12)}" text-anchor="end">'
            f"{escape(_clip(bar.label, 34))}</text>"
            f'<rect x="{label_w}" y="{_px(y + 2)}" width="{_px(scale(bar.value))}" height="14" '
            f'fill="{CURRENT}"/>'
            f'<text x="{_px(label_w + scale(bar.value) + 6)}" y="{_px(y + 13)}">'
            f"{escape(bar.text)}</text>"
        )
        if bar.previous is not None:
            parts.append(
                f'<rect x="{label_w}" y="{_px(y + 18)}" width="{_px(scale(bar.previous))}" '
                f'height="6" fill="{PREVIOUS}"/>'
                f'<text x="{_px(label_w + scale(bar.previous) + 6)}" y="{_px(y + 25)}" '
                f'class="sub">{escape(bar.previous_text)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(
    labels: Sequence[str],
    values: Sequence[Number],
    *,
    title: str,
    axis_text: Callable[[Number], str],
    overlay: Sequence[Number] | None = None,
    width: int = 900,
    height: int = 180,
) -> Markup:
    """Vertical columns per label (days). ``overlay`` draws a darker column inside each one
    (e.g. GPU-hours used inside GPU-hours bought); without it the columns are dark."""
    left, bottom, top_pad = 84, 22, 10
    plot_h = height - bottom - top_pad
    scale = _scale([*values, *(overlay or [])], plot_h)
    top_value = max((abs(_d(v)) for v in [*values, *(overlay or [])]), default=Decimal(0))
    count = max(len(values), 1)
    step = Decimal(width - left - 4) / count
    bar_w = max(step * Decimal("0.72"), Decimal(1))
    base = Decimal(height - bottom)
    parts = [_open(width, height, title)]
    for fraction in (Decimal(0), Decimal("0.5"), Decimal(1)):
        y = base - plot_h * fraction
        parts.append(
            f'<line x1="{left}" x2="{width - 4}" y1="{_px(y)}" y2="{_px(y)}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{_px(y + 4)}" text-anchor="end" class="sub">'
            f"{escape(axis_text(top_value * fraction))}</text>"
        )
    fill = MUTED if overlay is not None else CURRENT
    for index, value in enumerate(values):
        x = left + step * index + (step - bar_w) / 2
        h = scale(value)
        parts.append(
            f'<rect x="{_px(x)}" y="{_px(base - h)}" width="{_px(bar_w)}" height="{_px(h)}" '
            f'fill="{fill}"/>'
        )
        if overlay is not None:
            inner = scale(overlay[index])
            parts.append(
                f'<rect x="{_px(x)}" y="{_px(base - inner)}" width="{_px(bar_w)}" '
                f'height="{_px(inner)}" fill="{CURRENT}"/>'
            )
        # A label each week and on the last column, unless that one would touch the last weekly.
        last = index == len(values) - 1 and index % 7 >= 3
        if index % 7 == 0 or last:
            parts.append(
                f'<text x="{_px(x + bar_w / 2)}" y="{height - 6}" text-anchor="middle" '
                f'class="sub">{escape(labels[index])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="{FONT};font-size:12px;fill:{INK}">'
        f"<title>{escape(title)}</title>"
        f"<style>.sub{{font-size:10.5px;fill:#52606d}}</style>"
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
