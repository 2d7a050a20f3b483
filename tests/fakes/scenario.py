"""Ready-made evaluations and incident events for alerting tests (no server involved)."""

from __future__ import annotations

from typing import Any

from alerts.incidents import Decision, IncidentTracker, Snapshot, TopPost

#: 2025-11-23 09:20:00 UTC, a round minute.
T0 = 1_763_889_600.0

HOSTILE_TEXT = "<!channel> <!here> <@U123> refund now <http://evil.example|your bank> & more"


def snapshot(posts_per_minute: float = 120.0, *, story_id: str | None = "story-1", expected: float = 15.0,
             text: str = "Lost my bag again, @SkywayAir", series_points: int = 30, t: float = T0) -> Snapshot:
    """A snapshot with three top posts and a short series ending at ``t``."""
    series = [(t - 60 * (series_points - i), expected * (1 + (i > series_points - 5) * 5), expected,
               expected * 0.5, expected * 1.5) for i in range(series_points)]
    return Snapshot(
        posts_per_minute=posts_per_minute,
        expected_per_minute=expected,
        reach=1_250_000,
        negative_share=0.64,
        top_terms=("lost bag", "refund", "delayed"),
        top_posts=(
            TopPost(text, "@angry_flyer", 812, "https://social.example/p/1"),
            TopPost("Third delay this week #skyway", "@commuter", 301, "https://social.example/p/2"),
            TopPost("Anyone else stuck at gate 12?", "@gate12", 95, None),
        ),
        story_id=story_id,
        series=series,
    )


def crisis_events(brand: str = "skyway", *, text: str = "Lost my bag again, @SkywayAir",
                  tracker: IncidentTracker | None = None) -> list[dict[str, Any]]:
    """open (warning) -> update (critical) -> update (growth) -> resolve, for one incident."""
    tracker = tracker or IncidentTracker(resolve_after_seconds=600, min_update_interval_seconds=300)
    plan = [("warning", 100.0)] * 3 + [("critical", 160.0)] + [("critical", 170.0)] * 4 + [("critical", 400.0)]
    plan += [("none", 12.0)] * 12
    state: dict[str, Any] | None = None
    events: list[dict[str, Any]] = []
    for minute, (severity, ppm) in enumerate(plan):
        t = T0 + 60 * minute
        decision = Decision(severity, f"volume {ppm / 15:.0f}x expected", {"volume_z": ppm / 15})
        state, new = tracker.observe(state, brand, t, decision, snapshot(ppm, text=text, t=t))
        events.extend(new)
    return events


class FakeClock:
    """A clock whose ``sleep`` only moves time forward, recording each wait."""

    def __init__(self, start: float = T0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
