"""The PNG attached to a Slack alert: posts per minute against the expected band, alert marked.

Drawn with matplotlib's object API on an Agg canvas (no ``pyplot``), so it needs no display and
keeps no global figure state between threads.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def render_chart(series: Sequence[Sequence[float]], *, title: str = "", alert_time: float | None = None,
                 width_inches: float = 8.0, height_inches: float = 3.2, dpi: int = 100) -> bytes:
    """PNG bytes of ``series``: ``(t, observed, expected, lower, upper)`` per point, ``t`` in epoch seconds.

    The band between ``lower`` and ``upper`` is what the volume detector considers normal; the
    dashed line marks ``alert_time`` (usually when the incident opened). Raises ``ValueError`` on
    an empty series.
    """
    points = [p for p in series if len(p) >= 5]
    if not points:
        raise ValueError("series is empty: nothing to draw")
    times = [datetime.fromtimestamp(p[0], tz=UTC) for p in points]
    observed, expected, lower, upper = ([float(p[i]) for p in points] for i in range(1, 5))

    figure = Figure(figsize=(width_inches, height_inches), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.fill_between(times, lower, upper, color="tab:blue", alpha=0.15, linewidth=0, label="expected range")
    axes.plot(times, expected, color="tab:blue", linewidth=1, linestyle=":", label="expected")
    axes.plot(times, observed, color="tab:red", linewidth=1.8, label="posts/min")
    if alert_time is not None:
        axes.axvline(datetime.fromtimestamp(alert_time, tz=UTC), color="black", linestyle="--",
                     linewidth=1, label="alert")
    axes.set_ylabel("posts per minute")
    axes.set_ylim(bottom=0)
    axes.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=UTC))
    axes.set_xlabel("UTC")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize="small", frameon=False)
    if title:
        axes.set_title(title[:120], fontsize="medium")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
