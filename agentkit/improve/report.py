"""The stats report: one self-contained HTML page with the figures of `Stats` as charts.

Everything is inline: CSS in a `<style>` element, charts as SVG drawn here, no script and
nothing fetched, so the file opens from disk, in a mail attachment or offline. Every text that
comes from the log (questions, document titles and URIs, channel names) was written by
strangers and is escaped; no link is made from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from agentkit.improve.stats import Stats

WIDTH = 540
ANSWERED = "#3b6ea8"
ABSTAINED = "#e0a030"
DOWN = "#c2453b"
MUTED = "#6b7280"
GRID = "#e5e7eb"

CSS = """
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: #1f2937;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { background: #1c2b39; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 20px; font-weight: 600; }
header p { margin: 2px 0 0; color: #c8d3de; font-size: 13px; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 32px 40px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; }
.card { background: #fff; border: 1px solid #e3e6ea; border-radius: 8px; padding: 12px 16px; }
.card .value { font-size: 26px; font-weight: 650; }
.card .what { color: #6b7280; font-size: 13px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; margin-top: 16px; }
section { background: #fff; border: 1px solid #e3e6ea; border-radius: 8px; padding: 14px 18px; }
section h2 { margin: 0 0 8px; font-size: 15px; font-weight: 600; }
section .note { color: #6b7280; font-size: 12px; margin: 0 0 6px; }
svg { display: block; width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #4b5563; }
.legend { font-size: 12px; color: #4b5563; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 4px 0 10px; }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 7px 8px; border-top: 1px solid #eceef1; }
th { color: #6b7280; font-weight: 600; font-size: 12px; border-top: none; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td ul { margin: 0; padding-left: 18px; }
td li { overflow-wrap: anywhere; }
.empty { color: #6b7280; font-style: italic; }
footer { color: #9ca3af; font-size: 12px; margin-top: 18px; }
"""


@dataclass(frozen=True)
class Bar:
    """One bar: its label, and its stacked parts as (value, colour, what the part is)."""

    label: str
    parts: tuple[tuple[int, str, str], ...]

    @property
    def total(self) -> int:
        return sum(value for value, _, _ in self.parts)


def render_report(stats: Stats, *, generated_at: datetime | None = None) -> str:
    """The whole page for `stats`, as text."""

    generated_at = generated_at or datetime.now(UTC)
    period = (
        f"{stats.since:%Y-%m-%d %H:%M} to {stats.until:%Y-%m-%d %H:%M} UTC"
        if stats.since
        else f"the whole log, up to {stats.until:%Y-%m-%d %H:%M} UTC"
    )
    body = [
        f"<header><h1>{_text(stats.agent)}: what people asked</h1><p>{_text(period)}</p></header>",
        "<main>",
        _cards(stats),
        '<div class="grid">',
        _section(
            "Questions per day",
            _legend([(ANSWERED, "answered"), (ABSTAINED, "abstained")])
            + column_chart(
                [
                    Bar(
                        f"{day.day:%b %d}",
                        (
                            (day.questions - day.abstained, ANSWERED, "answered"),
                            (day.abstained, ABSTAINED, "abstained"),
                        ),
                    )
                    for day in stats.per_day
                ],
                chart_id="per-day",
            ),
        ),
        _section(
            "Share abstained and rated down, per day",
            _legend([(ABSTAINED, "abstained"), (DOWN, "rated down")])
            + share_chart(
                [f"{day.day:%b %d}" for day in stats.per_day],
                [
                    [(day.abstained / day.questions) if day.questions else None for day in stats.per_day],
                    [(day.rated_down / day.questions) if day.questions else None for day in stats.per_day],
                ],
                [ABSTAINED, DOWN],
                chart_id="shares",
            ),
        ),
        _section(
            "Latency",
            f'<p class="note">p50 {_ms(stats.latency_p50_ms)}, p95 {_ms(stats.latency_p95_ms)}; '
            "questions by time to the full answer</p>"
            + column_chart(
                [
                    Bar(bucket.label, ((bucket.questions, ANSWERED, "questions"),))
                    for bucket in stats.latency_buckets
                ],
                chart_id="latency",
            ),
        ),
        _section(
            "Most-cited documents",
            '<p class="note">answers that cited each document (abstentions and curated answers left out)</p>'
            + bar_list(
                [
                    (document.title or document.uri, document.uri, document.answers)
                    for document in stats.top_documents
                ],
                chart_id="documents",
            ),
        ),
        _section(
            "Questions by channel",
            bar_list(
                [(channel, "", count) for channel, count in stats.channels.items()], chart_id="channels"
            ),
        ),
        "</div>",
        _gaps(stats),
        f"<footer>Made by agentkit stats on {generated_at:%Y-%m-%d %H:%M} UTC. "
        "This page fetches nothing and runs no script.</footer>",
        "</main>",
    ]
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No script, no outside fetch, even if something slipped through escaping.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{_text(stats.agent)}: agentkit stats</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def column_chart(bars: Sequence[Bar], *, chart_id: str, height: int = 200) -> str:
    """Vertical bars, stacked parts bottom up, with a y axis and spaced x labels."""

    if not bars or not any(bar.total for bar in bars):
        return _empty("No questions in this period.")
    left, right, top, bottom = 36, 24, 10, 34
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    peak = _nice_ceiling(max(bar.total for bar in bars))
    slot = plot_w / len(bars)
    bar_w = max(1.0, slot * 0.72)
    shapes = _y_axis(peak, left, top, plot_w, plot_h, percent=False)
    every = max(1, round(len(bars) / 12))
    for index, bar in enumerate(bars):
        x = left + index * slot + (slot - bar_w) / 2
        base = top + plot_h
        for value, colour, what in bar.parts:
            if value <= 0:
                continue
            h = plot_h * value / peak
            base -= h
            shapes.append(
                f'<rect class="bar" x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{_text(bar.label)}: {value} {_text(what)}</title></rect>'
            )
        if index % every == 0:
            shapes.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{_text(bar.label)}</text>'
            )
    return _svg(chart_id, height, shapes)


def share_chart(
    labels: Sequence[str], series: Sequence[Sequence[float | None]], colours: Sequence[str], *, chart_id: str
) -> str:
    """Lines of shares (0 to 1) per label; a None (no questions that day) breaks nothing, it is skipped."""

    height = 200
    if not labels or all(value is None for values in series for value in values):
        return _empty("No questions in this period.")
    left, right, top, bottom = 36, 24, 10, 34
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    step = plot_w / max(1, len(labels) - 1) if len(labels) > 1 else 0.0
    shapes = _y_axis(1.0, left, top, plot_w, plot_h, percent=True)
    every = max(1, round(len(labels) / 12))
    for index, label in enumerate(labels):
        if index % every == 0:
            x = left + (index * step if len(labels) > 1 else plot_w / 2)
            shapes.append(
                f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{_text(label)}</text>'
            )
    for values, colour in zip(series, colours, strict=True):
        points = [
            (
                left + (index * step if len(labels) > 1 else plot_w / 2),
                top + plot_h * (1 - value),
                value,
                index,
            )
            for index, value in enumerate(values)
            if value is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
            shapes.append(
                f'<polyline class="line" points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for x, y, value, index in points:
            shapes.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}">'
                f"<title>{_text(labels[index])}: {value:.0%}</title></circle>"
            )
    return _svg(chart_id, height, shapes)


def bar_list(rows: Sequence[tuple[str, str, int]], *, chart_id: str) -> str:
    """Horizontal bars, one per (label, detail shown on hover, count), largest first as given."""

    if not rows:
        return _empty("Nothing yet.")
    row_h, label_w, count_w = 24, 210, 36
    height = row_h * len(rows) + 6
    peak = max(count for _, _, count in rows) or 1
    bar_space = WIDTH - label_w - count_w
    shapes = []
    for index, (label, detail, count) in enumerate(rows):
        y = 3 + index * row_h
        w = max(2.0, bar_space * count / peak)
        shown = label if len(label) <= 34 else label[:33] + "…"
        hover = f"{label} ({detail})" if detail and detail != label else label
        shapes.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end"><title>{_text(hover)}</title>{_text(shown)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 9}" rx="2" '
            f'fill="{ANSWERED}"><title>{_text(hover)}: {count}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 16}">{count}</text>'
        )
    return _svg(chart_id, height, shapes)


def _cards(stats: Stats) -> str:
    cards = [
        (str(stats.questions), "questions"),
        (_share(stats.abstained_share), f"abstained ({stats.abstained})"),
        (_share(stats.rated_down_share), f"rated down ({stats.rated_down}; {stats.rated_up} up)"),
        (_ms(stats.latency_p50_ms), f"latency p50 (p95 {_ms(stats.latency_p95_ms)})"),
        (str(stats.curated_hits), "curated answers given"),
        (str(len(stats.gaps)), f"gaps ({stats.unanswered} unanswered)"),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="value">{_text(value)}</div><div class="what">{_text(what)}</div></div>'
            for value, what in cards
        )
        + "</div>"
    )


def _gaps(stats: Stats) -> str:
    if not stats.gaps:
        inner = _empty(
            "No unanswered questions in this period." if not stats.unanswered else "Gaps not computed."
        )
    else:
        rows = "".join(
            f'<tr><td class="n">{rank}</td><td>{_text(gap.label)}</td><td class="n">{gap.questions}</td>'
            "<td><ul>" + "".join(f"<li>{_text(example)}</li>" for example in gap.examples) + "</ul></td></tr>"
            for rank, gap in enumerate(stats.gaps, 1)
        )
        inner = (
            '<table id="gaps"><thead><tr><th>#</th><th>topic</th><th>questions</th><th>examples</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    return (
        '<section style="margin-top:16px"><h2>Gaps: what the knowledge base lacks</h2>'
        '<p class="note">questions the agent abstained on or that were rated down, grouped by meaning, '
        "largest first</p>" + inner + "</section>"
    )


def _y_axis(peak: float, left: int, top: int, plot_w: int, plot_h: int, *, percent: bool) -> list[str]:
    shapes = []
    for step in range(5):
        value = peak * step / 4
        y = top + plot_h * (1 - step / 4)
        label = f"{value:.0%}" if percent else f"{value:g}"
        shapes.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>'
        )
    return shapes


def _svg(chart_id: str, height: int, shapes: list[str]) -> str:
    return (
        f'<svg id="{chart_id}" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" xmlns="http://www.w3.org/2000/svg">' + "".join(shapes) + "</svg>"
    )


def _section(title: str, inner: str) -> str:
    return f"<section><h2>{_text(title)}</h2>{inner}</section>"


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(f'<i style="background:{colour}"></i>{_text(what)}' for colour, what in items)
        + "</div>"
    )


def _empty(message: str) -> str:
    return f'<p class="empty">{_text(message)}</p>'


def _nice_ceiling(value: int) -> int:
    """The axis top: a round number at or above `value`, divisible by 4 for the grid lines."""

    for candidate in (4, 8, 12, 20, 40):
        if value <= candidate:
            return candidate
    magnitude = 10 ** (len(str(value)) - 1)
    for factor in (1, 2, 4, 5, 8, 10):
        candidate = factor * magnitude
        if value <= candidate and candidate % 4 == 0:
            return candidate
    return value + (-value) % 4


def _share(share: float | None) -> str:
    return "–" if share is None else f"{share:.1%}"


def _ms(ms: int | None) -> str:
    if ms is None:
        return "–"
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _text(value: str) -> str:
    return escape(str(value), quote=True)
