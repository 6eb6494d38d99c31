"""Renders the processing-time statistics as one HTML page with inline SVG charts: nothing is
fetched when it is opened. Input is the statistics endpoint's answer, grouped by office."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

__all__ = ["STAGE_COLOURS", "TARGET_SHARE", "render"]

TARGET_SHARE = 0.9  # the appeal body's target: 90 % decided within 90 days of receipt
STAGE_COLOURS = {
    "nav_preparation": ("NAV preparation", "#3465a4"),
    "transfer": ("Transfer", "#75507b"),
    "waiting_at_statsforvalter": ("Waiting at the Statsforvalter", "#cc0000"),
    "waiting_for_documentation": ("Waiting for documentation", "#f57900"),
    "statsforvalter_work": ("Statsforvalter work", "#4e9a06"),
}
_OUTCOME_COLOURS = ("#4e9a06", "#3465a4", "#f57900", "#888a85", "#75507b")
_ROW = 26
_LABEL = 240
_WIDTH = 900


def _svg(height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}"'
        f' role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 12) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"'
        f' font-family="sans-serif">{escape(text)}</text>'
    )


def _rect(x: float, y: float, width: float, height: float, colour: str, tip: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0):.1f}" height="{height:.1f}"'
        f' fill="{colour}"><title>{escape(tip)}</title></rect>'
    )


def _days(value: float | None) -> float:
    return 0.0 if value is None else float(value)


def _stage_chart(groups: list[dict[str, Any]], names: dict[str, str]) -> str:
    """Per office, the median days of each stage, stacked."""
    totals = [
        sum(_days(g["decided"]["stages"][s]["median_days"]) for s in STAGE_COLOURS) for g in groups
    ]
    scale = (_WIDTH - _LABEL - 60) / max([*totals, 1.0])
    body = []
    for row, group in enumerate(groups):
        y = 10 + row * _ROW
        body.append(_text(_LABEL - 8, y + 15, names.get(group["key"], group["key"]), anchor="end"))
        x = float(_LABEL)
        for stage, (label, colour) in STAGE_COLOURS.items():
            median = _days(group["decided"]["stages"][stage]["median_days"])
            body.append(_rect(x, y, median * scale, 20, colour, f"{label}: {median:.1f} days"))
            x += median * scale
        body.append(_text(x + 6, y + 15, f"{totals[row]:.0f} d"))
    legend_y = 20 + len(groups) * _ROW
    x = float(_LABEL)
    for label, colour in STAGE_COLOURS.values():
        body.append(_rect(x, legend_y, 12, 12, colour, label))
        body.append(_text(x + 16, legend_y + 11, label, size=11))
        x += 16 + 7 * len(label)
    return _svg(legend_y + 24, body, "Median days in each stage, per office")


def _share_chart(groups: list[dict[str, Any]], names: dict[str, str]) -> str:
    """Per office, the share decided within 90 days of receipt, against the 90 % line."""
    span = _WIDTH - _LABEL - 60
    body = []
    for row, group in enumerate(groups):
        y = 10 + row * _ROW
        share = group["decided"]["within_90_days_share"]
        body.append(_text(_LABEL - 8, y + 15, names.get(group["key"], group["key"]), anchor="end"))
        if share is None:
            body.append(_text(_LABEL, y + 15, "no decisions"))
            continue
        colour = "#4e9a06" if share >= TARGET_SHARE else "#cc0000"
        body.append(_rect(_LABEL, y, share * span, 20, colour, f"{share:.1%} within 90 days"))
        body.append(_text(_LABEL + share * span + 6, y + 15, f"{share:.0%}"))
    height = 20 + len(groups) * _ROW
    target_x = _LABEL + TARGET_SHARE * span
    body.append(
        f'<line x1="{target_x:.1f}" y1="0" x2="{target_x:.1f}" y2="{height - 10}"'
        ' stroke="#000" stroke-dasharray="4 3"><title>the 90 % target</title></line>'
    )
    body.append(_text(target_x, height, "90 % target", anchor="middle", size=11))
    return _svg(height + 6, body, "Share decided within 90 days of receipt, per office")


def _mix_chart(groups: list[dict[str, Any]], names: dict[str, str], mix: str) -> str:
    """Per office, a 100 % bar of the outcomes (or of digital and paper appeals)."""
    span = _WIDTH - _LABEL - 60
    body = []
    labels: list[str] = []
    for row, group in enumerate(groups):
        y = 10 + row * _ROW
        body.append(_text(_LABEL - 8, y + 15, names.get(group["key"], group["key"]), anchor="end"))
        if mix == "outcomes":
            parts = dict(group["decided"]["outcomes"])
        else:
            share = group["received"]["digital_share"] or 0.0
            parts = {"digital": share, "paper": 1 - share if group["received"]["appeals"] else 0}
        total = sum(parts.values()) or 1
        x = float(_LABEL)
        for name, value in parts.items():
            if name not in labels:
                labels.append(name)
            colour = _OUTCOME_COLOURS[labels.index(name) % len(_OUTCOME_COLOURS)]
            width = value / total * span
            body.append(_rect(x, y, width, 20, colour, f"{name}: {value / total:.0%}"))
            x += width
    legend_y = 20 + len(groups) * _ROW
    x = float(_LABEL)
    for index, name in enumerate(labels):
        colour = _OUTCOME_COLOURS[index % len(_OUTCOME_COLOURS)]
        body.append(_rect(x, legend_y, 12, 12, colour, name))
        body.append(_text(x + 16, legend_y + 11, name.replace("_", " "), size=11))
        x += 26 + 7 * len(name)
    title = "Outcomes, per office" if mix == "outcomes" else "Digital and paper appeals, per office"
    return _svg(legend_y + 24, body, title)


def _misses(groups: list[dict[str, Any]], names: dict[str, str]) -> list[str]:
    """Offices below the target, with the stage where their cases wait longest."""
    rows = []
    for group in groups:
        share = group["decided"]["within_90_days_share"]
        if share is None or share >= TARGET_SHARE:
            continue
        stages = group["decided"]["stages"]
        longest = max(STAGE_COLOURS, key=lambda s: _days(stages[s]["median_days"]))
        rows.append(
            f"<tr><td>{escape(names.get(group['key'], group['key']))}</td>"
            f"<td>{share:.0%}</td><td>{escape(STAGE_COLOURS[longest][0])}</td>"
            f"<td>{_days(stages[longest]['median_days']):.1f}</td></tr>"
        )
    return rows


def render(statistics: dict[str, Any], *, names: dict[str, str], generated_at: dt.datetime) -> str:
    """The report for one answer of the statistics endpoint grouped by Statsforvalter office;
    `names` gives the offices' names by id."""
    groups = [g for g in statistics["groups"] if g["key"] is not None]
    total = statistics["total"]
    period = statistics["period"]
    misses = _misses(groups, names)
    share = total["decided"]["within_90_days_share"]
    summary = (
        f"{total['decided']['appeals']} appeals decided, "
        + (f"{share:.0%} within 90 days of receipt" if share is not None else "none decided")
        + f"; {total['received']['appeals']} received."
    )
    miss_table = (
        "<table><tr><th>Office</th><th>Within 90 days</th><th>Longest stage</th>"
        "<th>Median days</th></tr>" + "".join(misses) + "</table>"
        if misses
        else "<p>Every office meets the target.</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>klageapi: processing times {escape(period["from"])} to {escape(period["to"])}</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
figure{{margin:1.5em 0}}</style></head><body>
<h1>Where the waiting happens</h1>
<p>Appeals decided from {escape(period["from"])} to {escape(period["to"])}
(generated {escape(generated_at.strftime("%Y-%m-%d %H:%M UTC"))}). {escape(summary)}</p>
<h2>Time in each stage</h2>
<figure>{_stage_chart(groups, names)}</figure>
<h2>Decided within 90 days of the Statsforvalter's receipt</h2>
<figure>{_share_chart(groups, names)}</figure>
<h2>Offices below the 90 % target</h2>
{miss_table}
<h2>Outcomes</h2>
<figure>{_mix_chart(groups, names, "outcomes")}</figure>
<h2>Channels</h2>
<figure>{_mix_chart(groups, names, "channels")}</figure>
</body></html>
"""
