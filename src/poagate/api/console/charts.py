"""The console's daily chart (spec §13): suppressed, released and forwarded AD1s per day, as
inline SVG built here — no script, no image fetched, readable by a screen reader (a title, a
description with the totals, and a table of the same figures beside it on the page).

The figures are ``service.reporting.summarise``'s, the same as ``GET /v1/summary?bucket=day``.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from poagate.service.reporting import Day

SERIES = (  # (name, colour): colours told apart in greyscale too
    ("suppressed", "#1f4e79"),
    ("released", "#d98c00"),
    ("forwarded", "#7a7a7a"),
)
WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 28, 40


def nice_top(largest: int) -> int:
    """The y axis' top: 1, 2 or 5 times a power of ten, at least ``largest`` (and 1)."""
    top = 1
    while top < largest:
        top = next(t for t in _steps(top) if t > top)
    return top


def _steps(after: int) -> list[int]:
    power = 1
    while power * 10 <= after:
        power *= 10
    return [power * 2, power * 5, power * 10]


def daily_chart(days: Sequence[Day], caption: str) -> Markup:
    """An SVG bar chart of ``days``: three bars a day; every bar carries its figures as data
    attributes (``data-day``, ``data-series``, ``data-count``)."""
    totals = {name: sum(getattr(d, name) for d in days) for name, _ in SERIES}
    desc = (
        f"{len(days)} days. Totals: "
        + ", ".join(f"{totals[name]:,} {name}" for name, _ in SERIES)
        + "."
    )
    largest = max((getattr(d, name) for d in days for name, _ in SERIES), default=0)
    top = nice_top(largest)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar = max(slot * 0.8 / len(SERIES), 0.5)
    parts = [
        f'<svg data-chart="daily" role="img" aria-labelledby="chart-title chart-desc" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">',
        f'<title id="chart-title">{escape(caption)}</title>',
        f'<desc id="chart-desc">{escape(desc)}</desc>',
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        label = f"{top * fraction:,.10g}"
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="#d0d0d0" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#333">{label}</text>'
        )
    label_every = max(1, len(days) // 8)
    for n, day in enumerate(days):
        x0 = LEFT + n * slot + slot * 0.1
        for k, (name, colour) in enumerate(SERIES):
            count = getattr(day, name)
            h = plot_h * count / top
            parts.append(
                f'<rect data-day="{day.day.isoformat()}" data-series="{name}" '
                f'data-count="{count}" x="{x0 + k * bar:.1f}" y="{TOP + plot_h - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{day.day.isoformat()}: {count:,} {name}</title></rect>"
            )
        if n % label_every == 0:
            parts.append(
                f'<text x="{LEFT + (n + 0.5) * slot:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle" fill="#333">{day.day.strftime("%d %b")}</text>'
            )
    for k, (name, colour) in enumerate(SERIES):
        x = LEFT + k * 130
        parts.append(
            f'<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="16" fill="#333">{name}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it is escaped above
