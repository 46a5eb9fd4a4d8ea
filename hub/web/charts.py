"""Server-rendered SVG charts for the console: no script, no external file, nothing fetched.

Each function takes plain numbers and labels and answers an inline ``<svg>`` as ``Markup``;
every label is escaped (partner names are untrusted), geometry uses presentation attributes
(``fill``, ``x``…) rather than ``style`` so the pages' CSP (no inline style) holds. Values are
integers (counts, minor units); scaling to pixels is the only arithmetic, and no figure shown
as text comes from it."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

ACCENT = "#1f5fbf"
SECOND = "#8fb8ff"
BAD = "#b3261e"
INK = "#3b4656"
LINE = "#dde2ea"


def _svg(width: int, height: int, title: str, body: str) -> Markup:
    t = escape(title)
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{t}"><title>{t}</title>{body}</svg>'
    )


def _scale(value: int, top: int, pixels: int) -> int:
    return 0 if top <= 0 else max(0, value * pixels // top)


def columns(points: Sequence[tuple[str, int]], *, title: str, width: int = 560, height: int = 200) -> Markup:
    """Vertical bars, one per (label, count): referrals per month."""
    n = max(len(points), 1)
    top = max([v for _, v in points] + [1])
    plot = height - 40
    step = (width - 20) // n
    parts = [f'<line x1="10" y1="{plot + 10}" x2="{width - 10}" y2="{plot + 10}" stroke="{LINE}"/>']
    for i, (label, value) in enumerate(points):
        h = _scale(value, top, plot - 14)
        x = 10 + i * step
        parts.append(
            f'<rect x="{x + 3}" y="{plot + 10 - h}" width="{max(step - 6, 1)}" height="{h}" fill="{ACCENT}">'
            f"<title>{escape(label)}: {value}</title></rect>"
            f'<text x="{x + step // 2}" y="{plot + 4 - h}" font-size="10" text-anchor="middle" fill="{INK}">{value}</text>'
            f'<text x="{x + step // 2}" y="{height - 8}" font-size="10" text-anchor="middle" fill="{INK}">'
            f"{escape(label)}</text>"
        )
    return _svg(width, height, title, "".join(parts))


def bars(rows: Sequence[tuple[str, int, int, str]], *, title: str, width: int = 560) -> Markup:
    """Horizontal bars of a part over a whole, one per (label, part, whole, shown text):
    conversion by partner (won over referrals)."""
    row_h = 22
    height = max(len(rows), 1) * row_h + 10
    label_w = 200
    bar_w = width - label_w - 90
    parts = []
    for i, (label, part, whole, text) in enumerate(rows):
        y = 5 + i * row_h
        w = _scale(part, whole, bar_w)
        name = escape(label if len(label) <= 30 else label[:29] + "…")
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" font-size="11" text-anchor="end" fill="{INK}">{name}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row_h - 8}" fill="{LINE}"/>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{row_h - 8}" fill="{ACCENT}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
            f'<text x="{label_w + bar_w + 6}" y="{y + 14}" font-size="11" fill="{INK}">{escape(text)}</text>'
        )
    return _svg(width, height, title, "".join(parts))


def pairs(
    groups: Sequence[tuple[str, int, int, str, str]],
    *,
    title: str,
    names: tuple[str, str],
    width: int = 560,
) -> Markup:
    """Two bars per group, each group on its own scale (one per currency: never compared across
    currencies): (group, first, second, first's text, second's text): owed vs paid."""
    row_h = 50
    height = max(len(groups), 1) * row_h + 28
    label_w = 60
    bar_w = width - label_w - 150
    parts = [
        f'<rect x="{label_w}" y="4" width="10" height="10" fill="{ACCENT}"/>'
        f'<text x="{label_w + 14}" y="13" font-size="11" fill="{INK}">{escape(names[0])}</text>'
        f'<rect x="{label_w + 90}" y="4" width="10" height="10" fill="{SECOND}"/>'
        f'<text x="{label_w + 104}" y="13" font-size="11" fill="{INK}">{escape(names[1])}</text>'
    ]
    for i, (group, first, second, first_text, second_text) in enumerate(groups):
        y = 24 + i * row_h
        top = max(first, second, 1)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 26}" font-size="12" text-anchor="end" fill="{INK}">{escape(group)}</text>'
        )
        for j, (value, text, colour) in enumerate(((first, first_text, ACCENT), (second, second_text, SECOND))):
            w = _scale(max(value, 0), top, bar_w)
            parts.append(
                f'<rect x="{label_w}" y="{y + j * 20}" width="{w}" height="16" fill="{colour}">'
                f"<title>{escape(names[j])} {escape(text)}</title></rect>"
                f'<text x="{label_w + w + 6}" y="{y + j * 20 + 12}" font-size="11" fill="{INK}">{escape(text)}</text>'
            )
    return _svg(width, height, title, "".join(parts))


def flow(days: Sequence[tuple[str, int, int]], *, title: str, width: int = 560, height: int = 120) -> Markup:
    """Per day (label, events, failed): the events as bars with their failures in red on top of
    the same bar: throughput and failures of one connector."""
    n = max(len(days), 1)
    top = max([e for _, e, _ in days] + [1])
    plot = height - 24
    step = (width - 20) // n
    parts = [f'<line x1="10" y1="{plot}" x2="{width - 10}" y2="{plot}" stroke="{LINE}"/>']
    for i, (label, events, failed) in enumerate(days):
        h = _scale(events, top, plot - 6)
        hf = _scale(failed, top, plot - 6)
        x = 10 + i * step
        parts.append(
            f'<rect x="{x + 2}" y="{plot - h}" width="{max(step - 4, 1)}" height="{h}" fill="{ACCENT}">'
            f"<title>{escape(label)}: {events} events, {failed} failed</title></rect>"
        )
        if hf:
            parts.append(f'<rect x="{x + 2}" y="{plot - hf}" width="{max(step - 4, 1)}" height="{hf}" fill="{BAD}"/>')
    if days:
        parts.append(f'<text x="10" y="{height - 6}" font-size="10" fill="{INK}">{escape(days[0][0])}</text>')
        parts.append(
            f'<text x="{width - 10}" y="{height - 6}" font-size="10" text-anchor="end" fill="{INK}">'
            f"{escape(days[-1][0])}</text>"
        )
    parts.append(f'<text x="{width - 10}" y="12" font-size="10" text-anchor="end" fill="{INK}">max {top}/day</text>')
    return _svg(width, height, title, "".join(parts))
