"""Renders the report as one HTML page: inline CSS, inline SVG bars, system fonts, no scripts,
nothing fetched when it is opened. Labels and figures are HTML text beside the bars, so they
wrap at any width instead of running out of their chart; each table carries its own CSV as a
data: URL.

Colours keep one meaning on the whole page (`COLOURS`): a dark shade runs to the median, a
light one on to the 90th percentile, the lightest to the 99th."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from klageapi.report.data import GROUPINGS, Comparison, ReportData, months
from klageapi.report.texts import COUNTIES, NONE, Words, words

__all__ = ["COLOURS", "STAGE_ORDER", "TARGET_DAYS", "TARGET_SHARE", "render"]

TARGET_DAYS = 90
TARGET_SHARE = 0.9  # the appeal body's target: 90 % decided within 90 days of its receipt
STAGE_ORDER = (
    "nav",
    "transfer",
    "waiting_at_statsforvalter",
    "waiting_for_documentation",
    "statsforvalter_work",
)
COLOURS: dict[str, tuple[str, ...]] = {
    # median, p90, p99
    "whole_wait": ("#1f5fa8", "#a9c8ec", "#dce9f8"),
    "official": ("#e66101", "#fdb863", "#fee0b6"),
    # median, p90; the oldest is a tick in the dark shade
    "open": ("#5e3c99", "#b2abd2"),
    "nav": ("#4d9221",),
    "transfer": ("#969696",),
    "waiting_at_statsforvalter": ("#c51b7d",),
    "waiting_for_documentation": ("#8c6d31",),
    "statsforvalter_work": ("#17becf",),
}
_VIEW_BOX = 1000.0
_BAR_HEIGHT = 14
_NORWEGIAN_ORDER = str.maketrans("æøå", "{|}")

_STYLE = """
:root{color-scheme:light;--ink:#1d1d1d;--muted:#555;--line:#d6d6d6}
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",
"Liberation Sans",Arial,sans-serif;color:var(--ink);background:#fff;line-height:1.45}
main{max-width:68rem;margin:0 auto;padding:1rem}
h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.3rem;margin:2rem 0 .5rem;
border-bottom:2px solid var(--line)}h3{font-size:1.05rem;margin:0 0 .25rem}
p{margin:.4rem 0}.muted,.about{color:var(--muted);font-size:.9rem}
nav.languages a{margin-right:.75rem}nav.languages a[aria-current]{font-weight:bold;
text-decoration:none;color:var(--ink)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(12rem,1fr));gap:.75rem}
.card{border:1px solid var(--line);border-radius:6px;padding:.75rem;overflow-wrap:anywhere}
.card .big{font-size:1.6rem;font-weight:600;margin:.2rem 0 0}
.card .big .none{font-size:1.1rem}
.card .big .n{font-size:.95rem;font-weight:normal;color:var(--muted)}
.chart{border:1px solid var(--line);border-radius:6px;padding:.75rem;margin:1rem 0;
overflow-wrap:anywhere;min-width:0}
.chart figcaption{margin-bottom:.5rem}.chart figcaption strong{display:block}
.legend{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;padding:0;margin:.25rem 0
.75rem;font-size:.85rem}
.legend li{display:flex;align-items:center;gap:.35rem}
.swatch{flex:none;width:.9rem;height:.9rem;border-radius:2px;display:inline-block}
.target{flex:none;width:0;height:.9rem;border-left:2px solid #000;display:inline-block}
.row{display:grid;grid-template-columns:minmax(7rem,15rem) minmax(0,1fr);gap:.2rem .75rem;
padding:.4rem 0;border-top:1px solid #eee}
.row:first-child{border-top:0}
.label{font-weight:600;font-size:.92rem}
.bar{margin:.1rem 0 .3rem}
.bar svg{display:block;width:100%;height:14px}
.value{font-size:.85rem}
.empty{font-style:italic}
.table-wrap{overflow-x:auto;margin:.5rem 0}
table{border-collapse:collapse;font-size:.85rem}
td,th{border:1px solid var(--line);padding:.25rem .5rem;text-align:right;vertical-align:top}
td:first-child,th:first-child{text-align:left}
th{background:#f4f4f4}
a.download{display:inline-block;margin:.25rem 0 1rem}
@media (max-width:40rem){main{padding:.6rem}.row{grid-template-columns:minmax(0,1fr)}
h1{font-size:1.35rem}}
"""


@dataclass(frozen=True)
class _Group:
    key: str
    name: str
    figures: dict[str, Any]


def render(
    data: ReportData,
    *,
    language: str = "nb",
    switch: dict[str, str] | None = None,
) -> str:
    """The page in nb, nn or en. `switch`, when given, is the query of the page as served
    (`from`, `to`): links to the other languages are added."""
    w = words(language)
    first = data.views[GROUPINGS[0]]
    as_of = first["as_of"][:10]
    header = [
        f"<h1>{escape(w['title'])}</h1>",
        "<p>"
        + escape(
            w["period"].format(
                start=w.date(data.start),
                end=w.date(data.end),
                as_of=_as_of(w, as_of),
            )
        )
        + "</p>",
        f'<p class="muted">{escape(w["scope"])} {escape(w["how_to_read"])}</p>',
    ]
    if switch is not None:
        header.append(_languages(w, switch))
    body = [
        "<header>" + "".join(header) + "</header>",
        _summary(w, first["total"]),
    ]
    for grouping in GROUPINGS:
        body.append(_view(w, data, grouping))
    body.append(_trend(w, data))
    body.append(_queues(w, first.get("queue_health", []), data))
    if data.comparison is not None:
        body.append(_comparison(w, data.comparison, data))
    body.append(
        f"<footer><h2>{escape(w['sources'])}</h2><p>{escape(w['sources_text'])}</p></footer>"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(w['title'])}</title><style>{_STYLE}</style></head><body><main>"
        + "\n".join(body)
        + "</main></body></html>\n"
    )


def _as_of(w: Words, day: str) -> str:
    return w.date(dt.date.fromisoformat(day))


def _languages(w: Words, query: dict[str, str]) -> str:
    links = []
    for code, name in (("nb", "Bokmål"), ("nn", "Nynorsk"), ("en", "English")):
        current = ' aria-current="page"' if code == w.language else ""
        href = "?" + urlencode({**query, "lang": code})
        links.append(
            f'<a href="{escape(href)}" hreflang="{code}" lang="{code}"{current}>{name}</a>'
        )
    return f'<nav class="languages" aria-label="{escape(w["languages"])}">{"".join(links)}</nav>'


# --- key figures -------------------------------------------------------------------------------


def _card(title: str, big: str, lines: Iterable[str], about: str) -> str:
    rows = "".join(f"<p>{line}</p>" for line in lines)
    return (
        f'<div class="card" data-box><h3>{escape(title)}</h3><p class="big">{big}</p>{rows}'
        f'<p class="about">{escape(about)}</p></div>'
    )


def _none(text: str) -> str:
    return f'<span class="none">{escape(text)}</span>'


def _wait_card(w: Words, title: str, about: str, wait: dict[str, Any]) -> str:
    if not wait["count"]:
        return _card(title, _none(w["no_decisions_short"]), [], about)
    big = escape(w.days(wait["median_days"]))
    lines = [
        f'<span class="n">{escape(w["median"])} ({escape(w.n(wait["count"]))})</span>',
        escape(f"{w['p90']}\u00a0{w.days(wait['p90_days'])}\u00a0({w.n(wait['count'])})"),
        escape(f"{w['p99']}\u00a0{w.days(wait['p99_days'])}\u00a0({w.n(wait['count'])})"),
    ]
    return _card(title, big, lines, about)


def _summary(w: Words, total: dict[str, Any]) -> str:
    decided = total["decided"]
    open_ = total["open"]
    cards = []
    if not decided["appeals"]:
        cards.append(f'<p class="empty" data-empty>{escape(w["no_decisions"])}</p>')
    cards.append('<div class="cards">')
    cards.append(_wait_card(w, w["whole_wait"], w["whole_wait_about"], decided["whole_wait"]))
    cards.append(_wait_card(w, w["official"], w["official_about"], decided["official_measure"]))
    official_n = decided["official_measure"]["count"]
    cards.append(
        _card(
            w["within_90"],
            escape(w.share(decided["within_90_days_share"]))
            + f' <span class="n">({escape(w.n(official_n))})</span>'
            if official_n
            else _none(w["no_decisions_short"]),
            [],
            w["within_90_about"],
        )
    )
    age = open_["age"]
    if open_["appeals"]:
        open_lines = [
            escape(f"{w['median']}\u00a0{w.days(age['median_days'])}\u00a0({w.n(age['count'])})"),
            escape(f"{w['p90']}\u00a0{w.days(age['p90_days'])}\u00a0({w.n(age['count'])})"),
            escape(f"{w['oldest']}\u00a0{w.days(age['oldest_days'])}"),
        ]
        big = escape(w.count(open_["appeals"]))
    else:
        open_lines, big = [], _none(w["no_open_short"])
    cards.append(_card(w["open_now"], big, open_lines, w["open_about"]))
    at = open_["at_statsforvalter"]
    cards.append(
        _card(
            w["past_90"],
            escape(w.share(open_["past_90_days_share"]))
            + f' <span class="n">({escape(w.n(at))})</span>'
            if at
            else _none(w["none_at_statsforvalter"]),
            [],
            w["past_90_about"],
        )
    )
    cards.append("</div>")
    return f'<section id="summary"><h2>{escape(w["summary"])}</h2>{"".join(cards)}</section>'


# --- charts ------------------------------------------------------------------------------------


def _swatch(colour: str) -> str:
    return f'<span class="swatch" style="background:{colour}" aria-hidden="true"></span>'


def _legend(items: Sequence[tuple[str, str]], *, line: str | None = None) -> str:
    entries = [f"<li>{_swatch(colour)}{escape(label)}</li>" for label, colour in items]
    if line is not None:
        entries.append(f'<li><span class="target" aria-hidden="true"></span>{escape(line)}</li>')
    return f'<ul class="legend">{"".join(entries)}</ul>'


def _bar(
    segments: Sequence[tuple[float, float, str, str]],
    *,
    scale: float,
    label: str,
    line_at: float | None = None,
    ticks: Sequence[tuple[float, str]] = (),
) -> str:
    """One bar: (from, to, colour, tooltip) segments in the chart's unit, a dashed reference
    line and solid ticks, drawn on a 0-1000 box stretched to the row's width."""
    parts = []
    for start, end, colour, tip in segments:
        x = start / scale * _VIEW_BOX
        width = max(end - start, 0) / scale * _VIEW_BOX
        parts.append(
            f'<rect x="{x:.1f}" y="1" width="{width:.1f}" height="{_BAR_HEIGHT - 2}"'
            f' fill="{colour}"><title>{escape(tip)}</title></rect>'
        )
    for at, colour in ticks:
        x = at / scale * _VIEW_BOX
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{_BAR_HEIGHT}" stroke="{colour}"'
            ' stroke-width="3" vector-effect="non-scaling-stroke"/>'
        )
    if line_at is not None:
        x = line_at / scale * _VIEW_BOX
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{_BAR_HEIGHT}" stroke="#000"'
            ' stroke-width="2" vector-effect="non-scaling-stroke"/>'
        )
    return (
        f'<svg viewBox="0 0 {_VIEW_BOX:.0f} {_BAR_HEIGHT}" preserveAspectRatio="none"'
        f' role="img" aria-label="{escape(label)}">{"".join(parts)}</svg>'
    )


def _chart(title: str, about: str, legend: str, rows: Sequence[str], empty: str) -> str:
    inside = "".join(rows) if rows else f'<p class="empty" data-empty>{escape(empty)}</p>'
    return (
        f'<figure class="chart" data-box><figcaption><strong>{escape(title)}</strong>'
        f'<span class="about">{escape(about)}</span></figcaption>{legend}'
        f'<div class="rows">{inside}</div></figure>'
    )


def _drawn(svg: str, *texts: str) -> str:
    """A bar with its figures written under it."""
    values = "".join(f'<div class="value">{escape(text)}</div>' for text in texts)
    return f'<div class="bar">{svg}{values}</div>'


def _row(label: str, bars: Sequence[str]) -> str:
    return (
        f'<div class="row"><div class="label">{escape(label)}</div><div>{"".join(bars)}</div></div>'
    )


def _scale(values: Iterable[float | None], floor: float) -> float:
    return max([floor, *(v for v in values if v is not None)]) * 1.05


def _wait_bar(w: Words, name: str, colours: str, wait: dict[str, Any], scale: float) -> str:
    dark, light = COLOURS[colours][:2]
    median, p90, n = wait["median_days"], wait["p90_days"], wait["count"]
    if not n:
        return (
            f'<div class="bar"><div class="value">{escape(name)}: '
            f"{escape(w['no_decisions_short'])}</div></div>"
        )
    text = f"{name}: {w['median']}\u00a0{w.days(median)} · {w['p90']}\u00a0{w.days(p90)} · {w.n(n)}"
    svg = _bar(
        [
            (0, median, dark, f"{w['median']}\u00a0{w.days(median)}"),
            (median, p90, light, f"{w['p90']}\u00a0{w.days(p90)}"),
        ],
        scale=scale,
        label=text,
        line_at=TARGET_DAYS,
    )
    return _drawn(svg, text)


def _waits_chart(
    w: Words,
    rows: Sequence[tuple[str, dict[str, Any]]],
    extra: Callable[[dict[str, Any]], str] | None = None,
) -> str:
    """Per row, the whole wait and the official measure: median, then on to the p90."""
    decided = [figures for _, figures in rows if figures["appeals"]]
    scale = _scale(
        (
            figures[wait]["p90_days"]
            for figures in decided
            for wait in ("whole_wait", "official_measure")
        ),
        TARGET_DAYS,
    )
    drawn = []
    if decided:
        for label, figures in rows:
            bars = [
                _wait_bar(w, w["whole_wait"], "whole_wait", figures["whole_wait"], scale),
                _wait_bar(w, w["official"], "official", figures["official_measure"], scale),
            ]
            if extra is not None and figures["appeals"]:
                bars.append(f'<div class="value">{escape(extra(figures))}</div>')
            drawn.append(_row(label, bars))
    legend = _legend(
        [
            (f"{w['whole_wait']}, {w['median']}", COLOURS["whole_wait"][0]),
            (f"{w['whole_wait']}, {w['p90']}", COLOURS["whole_wait"][1]),
            (f"{w['official']}, {w['median']}", COLOURS["official"][0]),
            (f"{w['official']}, {w['p90']}", COLOURS["official"][1]),
        ],
        line=w["line_90_days"],
    )
    return _chart(w["chart_waits"], w["chart_waits_about"], legend, drawn, w["no_decisions"])


def _stages_chart(w: Words, groups: Sequence[_Group]) -> str:
    """Per group, a bar as long as the mean whole wait, divided by each stage's real share."""
    decided = [g for g in groups if g.figures["decided"]["stage_shares"] is not None]
    scale = _scale((g.figures["decided"]["whole_wait"]["mean_days"] for g in decided), TARGET_DAYS)
    rows = []
    for group in decided:
        figures = group.figures["decided"]
        shares = figures["stage_shares"]
        mean = figures["whole_wait"]["mean_days"]
        segments, x = [], 0.0
        for stage in STAGE_ORDER:
            length = shares[stage] * mean
            tip = f"{w.stages[stage]}: {w.share(shares[stage])} ({w.days(length)})"
            segments.append((x, x + length, COLOURS[stage][0], tip))
            x += length
        largest = max(STAGE_ORDER, key=lambda s: shares[s])
        text = (
            f"{w['mean']}\u00a0{w.days(mean)} · {w.n(figures['whole_wait']['count'])} · "
            f"{w['largest']}: {w.stages[largest]} {w.share(shares[largest])}"
        )
        svg = _bar(segments, scale=scale, label=text, line_at=TARGET_DAYS)
        rows.append(_row(group.name, [_drawn(svg, text)]))
    legend = _legend(
        [(w.stages[stage], COLOURS[stage][0]) for stage in STAGE_ORDER], line=w["line_90_days"]
    )
    return _chart(w["chart_stages"], w["chart_stages_about"], legend, rows, w["no_decisions"])


def _open_chart(w: Words, groups: Sequence[_Group]) -> str:
    """Per group, the open appeals' age: median, on to the p90, a tick at the oldest."""
    waiting = [g for g in groups if g.figures["open"]["appeals"]]
    scale = _scale((g.figures["open"]["age"]["oldest_days"] for g in waiting), TARGET_DAYS)
    dark, light = COLOURS["open"]
    rows = []
    for group in waiting:
        open_ = group.figures["open"]
        age = open_["age"]
        text = (
            f"{w['open_count'].format(count=w.count(open_['appeals']))} · {w['median']}"
            f"\u00a0{w.days(age['median_days'])} · {w['p90']}\u00a0{w.days(age['p90_days'])} ·"
            f" {w['oldest']}\u00a0{w.days(age['oldest_days'])}"
        )
        at = open_["at_statsforvalter"]
        second = (
            w["at_statsforvalter"].format(
                count=w.count(at), share=w.share(open_["past_90_days_share"])
            )
            if at
            else w["none_at_statsforvalter"]
        )
        svg = _bar(
            [
                (0, age["median_days"], dark, f"{w['median']}\u00a0{w.days(age['median_days'])}"),
                (
                    age["median_days"],
                    age["p90_days"],
                    light,
                    f"{w['p90']}\u00a0{w.days(age['p90_days'])}",
                ),
            ],
            scale=scale,
            label=f"{text}. {second}",
            line_at=TARGET_DAYS,
            ticks=[(age["oldest_days"], dark)],
        )
        rows.append(
            _row(
                group.name,
                [_drawn(svg, text, second)],
            )
        )
    legend = _legend(
        [
            (f"{w['open_now']}, {w['median']}", dark),
            (f"{w['open_now']}, {w['p90']}", light),
        ],
        line=w["line_90_days"],
    )
    return _chart(w["chart_open"], w["chart_open_about"], legend, rows, w["no_open"])


# --- tables ------------------------------------------------------------------------------------


def _table(
    w: Words, name: str, headers: Sequence[str], rows: Sequence[Sequence[tuple[str, object]]]
) -> str:
    """An HTML table of (shown, raw) cells and a link to the raw cells as CSV."""
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    lines = "".join(
        "<tr>" + "".join(f"<td>{escape(shown)}</td>" for shown, _ in row) + "</tr>" for row in rows
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if raw is None else raw for _, raw in row])
    # A byte order mark, so that spreadsheets read Æ, Ø and Å as UTF-8.
    href = "data:text/csv;charset=utf-8," + quote("\ufeff" + out.getvalue())
    return (
        f'<div class="table-wrap"><table data-table="{escape(name)}"><thead><tr>{head}</tr>'
        f"</thead><tbody>{lines}</tbody></table></div>"
        f'<a class="download" download="{escape(name)}.csv" href="{href}">'
        f"{escape(w['download'])}</a>"
    )


def _days_cell(w: Words, value: float | None) -> tuple[str, object]:
    return (NONE if value is None else w.number(value), value)


def _share_cell(w: Words, value: float | None) -> tuple[str, object]:
    return (w.share(value), value)


def _count_cell(w: Words, value: int) -> tuple[str, object]:
    return (w.count(value), value)


def _figure_headers(w: Words, *, backlog: bool = True) -> list[str]:
    whole, official = w["whole_wait"], w["official"]
    unit = w["days"]
    return [
        f"{w['decided']} ({w['n']})",
        f"{whole}, {w['median']} ({unit})",
        f"{whole}, {w['p90']} ({unit})",
        f"{whole}, {w['p99']} ({unit})",
        f"{whole}, {w['mean']} ({unit})",
        f"{official} ({w['n']})",
        f"{official}, {w['median']} ({unit})",
        f"{official}, {w['p90']} ({unit})",
        f"{official}, {w['p99']} ({unit})",
        w["within_90"],
        *(f"{stage} (%)" for stage in (w.stages[s] for s in STAGE_ORDER)),
        f"{w['received']} ({w['n']})",
        *(
            [
                f"{w['open_now']} ({w['n']})",
                f"{w['open_now']}, {w['median']} ({unit})",
                f"{w['open_now']}, {w['p90']} ({unit})",
                f"{w['open_now']}, {w['oldest']} ({unit})",
                f"{w['past_90']} ({w['n']})",
                w["past_90"],
            ]
            if backlog
            else []
        ),
    ]


def _figure_cells(w: Words, figures: dict[str, Any]) -> list[tuple[str, object]]:
    """The cells under `_figure_headers`: without the backlog's when `figures` has none."""
    decided = figures["decided"]
    whole, official = decided["whole_wait"], decided["official_measure"]
    shares = decided["stage_shares"] or {}
    cells = [
        _count_cell(w, decided["appeals"]),
        _days_cell(w, whole["median_days"]),
        _days_cell(w, whole["p90_days"]),
        _days_cell(w, whole["p99_days"]),
        _days_cell(w, whole["mean_days"]),
        _count_cell(w, official["count"]),
        _days_cell(w, official["median_days"]),
        _days_cell(w, official["p90_days"]),
        _days_cell(w, official["p99_days"]),
        _share_cell(w, decided["within_90_days_share"]),
        *(_share_cell(w, shares.get(stage)) for stage in STAGE_ORDER),
        _count_cell(w, figures["received"]["appeals"]),
    ]
    if "open" not in figures:
        return cells
    open_ = figures["open"]
    return [
        *cells,
        _count_cell(w, open_["appeals"]),
        _days_cell(w, open_["age"]["median_days"]),
        _days_cell(w, open_["age"]["p90_days"]),
        _days_cell(w, open_["age"]["oldest_days"]),
        _count_cell(w, open_["at_statsforvalter"]),
        _share_cell(w, open_["past_90_days_share"]),
    ]


# --- sections ----------------------------------------------------------------------------------


def _sort_key(name: str) -> str:
    # Æ, Ø and Å come last in the Norwegian alphabet, in that order.
    return name.casefold().translate(_NORWEGIAN_ORDER)


def _groups(data: ReportData, grouping: str) -> list[_Group]:
    names = data.names.get(grouping, {})
    found = []
    for group in data.views[grouping]["groups"]:
        key = str(group["key"])
        if grouping == "county":
            name = COUNTIES.get(key, key)
        elif grouping == "nav_office":
            name = f"{names[key]} ({key})" if key in names else key
        else:
            name = names.get(key, key)
        found.append(_Group(key=key, name=name, figures=group))
    return sorted(found, key=lambda g: _sort_key(g.name))


def _view(w: Words, data: ReportData, grouping: str) -> str:
    groups = _groups(data, grouping)
    rows = [(g.name, g.figures["decided"]) for g in groups]
    table = _table(
        w,
        f"{grouping}-{data.start.isoformat()}-{data.end.isoformat()}",
        [w[f"group_{grouping}"], *_figure_headers(w)],
        [[(g.name, g.name), *_figure_cells(w, g.figures)] for g in groups],
    )
    return (
        f'<section id="view-{grouping}"><h2>{escape(w[f"view_{grouping}"])}</h2>'
        + _waits_chart(w, rows)
        + _stages_chart(w, groups)
        + _open_chart(w, groups)
        + f"<h3>{escape(w['table'])}: {escape(w[f'view_{grouping}'])}</h3>"
        + table
        + "</section>"
    )


def _month_label(w: Words, first: dt.date, last: dt.date) -> str:
    following = (first.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    whole = first.day == 1 and last == following - dt.timedelta(days=1)
    return w.month(first) if whole else f"{w.month(first)} {w['part_month']}"


def _trend(w: Words, data: ReportData) -> str:
    spans = dict(months(data.start, data.end))
    labelled = [(_month_label(w, first, spans[first]), total) for first, total in data.months]
    chart = _waits_chart(
        w,
        [(label, total["decided"]) for label, total in labelled],
        extra=lambda decided: (
            f"{w['within_90']}: {w.share(decided['within_90_days_share'])}"
            f" ({w.n(decided['official_measure']['count'])})"
        ),
    )
    table = _table(
        w,
        f"month-{data.start.isoformat()}-{data.end.isoformat()}",
        [w["month"], *_figure_headers(w, backlog=False)],
        [
            [(label, first.isoformat()), *_figure_cells(w, total)]
            for (label, total), (first, _) in zip(labelled, data.months, strict=True)
        ],
    )
    return (
        f'<section id="trend"><h2>{escape(w["trend"])}</h2>'
        f'<p class="about">{escape(w["trend_about"])}</p>{chart}'
        f"<h3>{escape(w['table'])}: {escape(w['trend'])}</h3>{table}</section>"
    )


def _queues(w: Words, queues: list[dict[str, Any]], data: ReportData) -> str:
    names = data.names.get("statsforvalter_office", {})
    weeks = queues[0]["window_weeks"] if queues else 26
    heading = (
        f'<section id="queues"><h2>{escape(w["queues"])}</h2>'
        f'<p class="about">{escape(w["queues_about"].format(weeks=weeks))}</p>'
    )
    if not queues:
        return heading + f'<p class="empty">{escape(w["no_queues"])}</p></section>'
    rows = []
    for queue in sorted(
        queues,
        key=lambda q: _sort_key(names.get(q["statsforvalter_office"], q["statsforvalter_office"])),
    ):
        office = queue["statsforvalter_office"]
        name = names.get(office, office)
        rows.append(
            [
                (name, name),
                (w.number(queue["arrivals_per_week"], 2), queue["arrivals_per_week"]),
                (w.number(queue["decisions_per_week"], 2), queue["decisions_per_week"]),
                _count_cell(w, queue["queue_size"]),
                _optional(w, queue["load"], 2),
                _optional(w, queue["pressure"], 2),
                (w.number(queue["target_queue_size"], 0), queue["target_queue_size"]),
                (w.number(queue["relief_capacity"]), queue["relief_capacity"]),
            ]
        )
    table = _table(
        w,
        f"queues-{data.start.isoformat()}-{data.end.isoformat()}",
        [
            w["group_statsforvalter_office"],
            w["arrivals"],
            w["decisions"],
            w["queue"],
            w["load"],
            w["pressure"],
            w["target_queue"],
            w["relief"],
        ],
        rows,
    )
    return heading + table + "</section>"


def _optional(w: Words, value: float | None, decimals: int) -> tuple[str, object]:
    return (NONE if value is None else w.number(value, decimals), value)


def _comparison(w: Words, comparison: Comparison, data: ReportData) -> str:
    policies = comparison.policies
    scale = _scale((p.whole_wait_days.p99 for p in policies), TARGET_DAYS)
    dark, light, lightest = COLOURS["whole_wait"]
    wait_rows, share_rows = [], []
    for policy in policies:
        days = policy.whole_wait_days
        text = (
            f"{w['median']}\u00a0{w.days(days.p50)} · {w['p90']}\u00a0{w.days(days.p90)}"
            f" · {w['p99']}\u00a0{w.days(days.p99)} · {w['max']}\u00a0{w.days(days.max)}"
            f" · {w['mean']}\u00a0{w.days(days.mean)}"
        )
        svg = _bar(
            [
                (0, days.p50, dark, f"{w['median']}\u00a0{w.days(days.p50)}"),
                (days.p50, days.p90, light, f"{w['p90']}\u00a0{w.days(days.p90)}"),
                (days.p90, days.p99, lightest, f"{w['p99']}\u00a0{w.days(days.p99)}"),
            ],
            scale=scale,
            label=text,
            line_at=TARGET_DAYS,
        )
        name = w.policy(policy.policy)
        wait_rows.append(_row(name, [_drawn(svg, text)]))
        share_text = (
            f"{w['within_90']}: {w.share(policy.official_within_90_share)} ·"
            f" {w['open_past_90']}: {w.count(policy.open_past_90_at_year_end)}"
        )
        share_svg = _bar(
            [(0, policy.official_within_90_share, COLOURS["official"][0], share_text)],
            scale=1.0,
            label=share_text,
            line_at=TARGET_SHARE,
        )
        share_rows.append(
            _row(
                name,
                [_drawn(share_svg, share_text)],
            )
        )
    about = w["comparison_about"].format(appeals=w.count(comparison.appeals), seed=comparison.seed)
    waits = _chart(
        w["chart_comparison"],
        w["chart_comparison_about"],
        _legend(
            [
                (f"{w['whole_wait']}, {w['median']}", dark),
                (f"{w['whole_wait']}, {w['p90']}", light),
                (f"{w['whole_wait']}, {w['p99']}", lightest),
            ],
            line=w["line_90_days"],
        ),
        wait_rows,
        "",
    )
    shares = _chart(
        w["chart_comparison_official"],
        w["within_90_about"],
        _legend([(w["within_90"], COLOURS["official"][0])], line=w["target_line"]),
        share_rows,
        "",
    )
    unit = w["days"]
    table = _table(
        w,
        f"comparison-seed-{comparison.seed}",
        [
            w["policy"],
            w["within_90"],
            f"{w['whole_wait']}, {w['median']} ({unit})",
            f"{w['whole_wait']}, {w['p90']} ({unit})",
            f"{w['whole_wait']}, {w['p99']} ({unit})",
            f"{w['whole_wait']}, {w['max']} ({unit})",
            f"{w['whole_wait']}, {w['mean']} ({unit})",
            w["open_past_90"],
        ],
        [
            [
                (w.policy(p.policy), p.policy),
                _share_cell(w, p.official_within_90_share),
                _days_cell(w, p.whole_wait_days.p50),
                _days_cell(w, p.whole_wait_days.p90),
                _days_cell(w, p.whole_wait_days.p99),
                _days_cell(w, p.whole_wait_days.max),
                _days_cell(w, p.whole_wait_days.mean),
                _count_cell(w, p.open_past_90_at_year_end),
            ]
            for p in policies
        ],
    )
    return (
        f'<section id="comparison"><h2>{escape(w["comparison"])}</h2>'
        f"<p>{escape(about)}</p>{waits}{shares}"
        f"<h3>{escape(w['table'])}: {escape(w['comparison'])}</h3>{table}</section>"
    )
