"""Draw a backtest: per brand, the observed volume against the expected band, with the alerts marked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from streams.monitor import Evaluation

SEVERITY_COLOURS = {"watch": "#e0a800", "warning": "#e8590c", "critical": "#c92a2a"}


def plot_backtest(evaluations: Sequence[Evaluation], out_path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    brands = sorted({e.brand for e in evaluations})
    fig, axes = plt.subplots(len(brands), 1, figsize=(12, 2.8 * max(len(brands), 1)), sharex=True, squeeze=False)
    for ax, brand in zip(axes[:, 0], brands, strict=True):
        rows = [e for e in evaluations if e.brand == brand]
        times = [datetime.fromtimestamp(e.bucket_start, tz=UTC) for e in rows]
        ax.fill_between(times, [e.volume.lower for e in rows], [e.volume.upper for e in rows],
                        color="#74c0fc", alpha=0.35, step="post", label="expected band")
        ax.plot(times, [e.volume.expected for e in rows], color="#1c7ed6", lw=0.8, label="expected")
        ax.plot(times, [e.posts for e in rows], color="#212529", lw=0.7, label="observed posts / bucket")
        for e, t in zip(rows, times, strict=True):
            for event in e.events:
                if event["kind"] in ("open", "update"):
                    ax.axvline(t, color=SEVERITY_COLOURS.get(event["severity"], "grey"), lw=1.2, alpha=0.8)
                elif event["kind"] == "resolve":
                    ax.axvline(t, color="#2f9e44", lw=1.2, ls="--", alpha=0.8)
        ax.set_title(f"{brand}: volume against the expected band; incident events (orange/red), resolved (green)",
                     fontsize=9, loc="left")
        ax.set_ylabel("posts")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
