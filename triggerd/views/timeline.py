"""The overview's timeline: one row per schedule, a mark per run coloured by its outcome, as SVG
rendered on the server (no script: it is shown as it is, and works in any browser).

Each mark says what it is on hover (an SVG ``<title>``: run, status, when, and why it was
skipped or failed); the runs that were skipped (a slot missed while the daemon was down, a
disabled schedule, an overlap) are also listed in text under the timeline, with their reasons,
for whoever cannot hover. Every text is escaped: a reason may quote a file name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape

from triggerd.store.queries import Mark

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
ROW = 18  # pixels per schedule
LABEL = 180  # pixels for the names
WIDTH = 960  # pixels of time
TICKS = {"24h": timedelta(hours=3), "7d": timedelta(days=1)}


@dataclass(frozen=True)
class Timeline:
    svg: Markup
    skipped: list[tuple[str, Mark]]  # (schedule, run) skipped in the window, oldest first
    marks: int


def timeline(
    names: Sequence[str],
    marks: Mapping[str, list[Mark]],
    *,
    until: datetime,
    window: str = "24h",
) -> Timeline:
    """The timeline of ``names`` (in this order) over the ``window`` before ``until``."""
    span = WINDOWS[window]
    since = until - span
    height = ROW * max(1, len(names)) + 20
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{LABEL + WIDTH}" height="{height}" '
        f'viewBox="0 0 {LABEL + WIDTH} {height}">',
        f"<title>Runs of the last {escape(window)}, until {until:%Y-%m-%d %H:%M}Z</title>",
    ]
    parts += _ticks(since, span, TICKS[window], len(names))
    skipped: list[tuple[str, Mark]] = []
    count = 0
    for row, name in enumerate(names):
        y = row * ROW + 20
        parts.append(f'<text class="name" x="4" y="{y + 13}">{escape(_cut(name))}</text>')
        for mark in marks.get(name, ()):
            x = LABEL + (mark.at - since) / span * WIDTH
            what = f"#{mark.id} {mark.status} at {mark.at:%Y-%m-%d %H:%M:%S}Z"
            if mark.why:
                what += f": {mark.why}"
            parts.append(
                f'<a href="/runs/{mark.id}"><rect class="mark {escape(mark.status)}" '
                f'x="{x - 2:.1f}" y="{y + 3}" width="4" height="{ROW - 6}">'
                f"<title>{escape(what)}</title></rect></a>"
            )
            count += 1
            if mark.status == "skipped":
                skipped.append((name, mark))
    parts.append("</svg>")
    skipped.sort(key=lambda item: item[1].at)
    return Timeline(Markup("".join(parts)), skipped, count)  # noqa: S704 - every text escaped


def _ticks(since: datetime, span: timedelta, step: timedelta, rows: int) -> list[str]:
    """The hour (or day) lines and their labels."""
    first = since.replace(minute=0, second=0, microsecond=0)
    if step >= timedelta(days=1):
        first = first.replace(hour=0)
    ticks, moment = [], first + step
    bottom = rows * ROW + 20
    while moment < since + span:
        x = LABEL + (moment - since) / span * WIDTH
        label = f"{moment:%H:%M}" if step < timedelta(days=1) else f"{moment:%a %d}"
        ticks.append(f'<line class="tick" x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="{bottom}"/>')
        ticks.append(f'<text class="tick" x="{x + 2:.1f}" y="11">{label}</text>')
        moment += step
    return ticks


def _cut(name: str, width: int = 26) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
