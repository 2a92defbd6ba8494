"""Server-rendered bar charts for the consent statistics page: the geometry of an inline SVG
(stacked bars of ledger events per month), computed here so the template only draws it."""
from __future__ import annotations

from .models import Action
from .selectors import STATS_ACTIONS, ConsentStats, PairStats

# One colour per action (colour-blind-friendly Okabe-Ito palette), same order as the legend.
ACTION_COLOURS = {
    Action.GRANTED: "#009E73",
    Action.PENDING: "#F0E442",
    Action.REFUSED: "#E69F00",
    Action.WITHDRAWN: "#D55E00",
    Action.EXPIRED: "#999999",
    Action.LAPSED: "#CC79A7",
    Action.OBJECTED: "#0072B2",
    Action.OBJECTION_LIFTED: "#56B4E9",
}
CHART_HEIGHT = 140  # drawing area, in SVG units
BAR_WIDTH = 22
BAR_GAP = 8
MARGIN_LEFT = 36
MARGIN_BOTTOM = 22
MARGIN_TOP = 8


def legend() -> list[dict]:
    return [{"action": action, "label": Action(action).label, "colour": ACTION_COLOURS[action]}
            for action in STATS_ACTIONS]


def chart(row: PairStats, months: list) -> dict:
    """The bars of one purpose x channel: per month, a stack of one rectangle per action."""
    totals = [sum(row.monthly.get(month, {}).values()) for month in months]
    peak = max(totals, default=0) or 1
    scale = CHART_HEIGHT / peak
    baseline = MARGIN_TOP + CHART_HEIGHT
    bars = []
    for index, month in enumerate(months):
        counts = row.monthly.get(month, {})
        x = MARGIN_LEFT + BAR_GAP + index * (BAR_WIDTH + BAR_GAP)
        y = baseline
        segments = []
        for action in STATS_ACTIONS:
            count = counts.get(action, 0)
            if not count:
                continue
            height = count * scale
            y -= height
            segments.append({"action": action, "label": Action(action).label, "count": count,
                             "colour": ACTION_COLOURS[action], "y": round(y, 2), "height": round(height, 2)})
        bars.append({"month": month, "x": x, "label_x": x + BAR_WIDTH / 2, "total": totals[index],
                     "segments": segments})
    return {
        "width": MARGIN_LEFT + BAR_GAP + len(months) * (BAR_WIDTH + BAR_GAP),
        "height": baseline + MARGIN_BOTTOM,
        "bar_width": BAR_WIDTH,
        "baseline": baseline,
        "top": MARGIN_TOP,
        "axis_x": MARGIN_LEFT,
        "label_y": baseline + 15,
        "peak": peak if any(totals) else 0,
        "bars": bars,
        "has_events": any(totals),
    }


def stats_context(stats: ConsentStats) -> dict:
    """What templates/admin/consent/stats.html draws."""
    return {
        "months": stats.months,
        "statuses": [{"status": status, "label": Action(status).label} for status in STATS_ACTIONS],
        "legend": legend(),
        "rows": [{"stats": row, "counts": row.current_row(), "total": row.total, "chart": chart(row, stats.months)}
                 for row in stats.rows],
    }
