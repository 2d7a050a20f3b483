"""Event-time watermarks across partitions and ingest workers."""

from __future__ import annotations

import math

from streams.watermark import PartitionWatermark, SourceWatermark


def test_the_slowest_partition_with_records_waiting_holds_time_back():
    w = PartitionWatermark()
    w.observe(0, 1000.0, caught_up=False)
    w.observe(1, 5000.0, caught_up=False)
    assert w.value == 1000.0
    w.observe(0, 1200.0, caught_up=False)
    assert w.value == 1200.0


def test_a_caught_up_partition_does_not_hold_time_back():
    w = PartitionWatermark()
    w.observe(0, 1000.0, caught_up=True)
    w.observe(1, 5000.0, caught_up=False)
    assert w.value == 5000.0
    w.observe(1, 5100.0, caught_up=True)
    assert w.value == 5100.0  # everything read: the newest time seen


def test_partitions_not_read_yet_hold_time_at_the_start():
    w = PartitionWatermark()
    w.expect({0, 1})
    w.observe(0, 1000.0, caught_up=False)
    assert w.value == -math.inf
    w.observe(1, 900.0, caught_up=False)
    w.expect({0, 1})
    assert w.value == 900.0


def test_time_never_goes_back_within_a_partition_and_forget_drops_partitions():
    w = PartitionWatermark()
    w.observe(0, 1000.0, caught_up=False)
    w.observe(0, 10.0, caught_up=False)  # a late post
    assert w.value == 1000.0
    w.forget()
    assert w.value == -math.inf


def test_per_brand_side_takes_the_oldest_live_source():
    s = SourceWatermark(ttl_seconds=60)
    s.observe("a", 1000.0, now=0)
    s.observe("b", 3000.0, now=0)
    assert s.value(now=10) == 1000.0
    s.observe("a", 500.0, now=20)  # an older stamp from the same source never moves it back
    assert s.value(now=20) == 1000.0
    assert s.value(now=70) == 1000.0  # b is forgotten, a still holds time back
    s.observe("b", 3100.0, now=100)
    assert s.value(now=100) == 3100.0  # a is forgotten


def test_a_quiet_stream_keeps_the_watermark_of_the_worker_heard_from_last():
    """Stamps come only with posts: when nobody was heard within the ttl, the last one heard speaks for all.

    A worker restarted after a crash re-reads the dead worker's stamps first, then its own; once the
    stream is quiet the dead worker must not hold time back for ever, nor may time be lost altogether.
    """
    s = SourceWatermark(ttl_seconds=60)
    assert s.value(now=0) == -math.inf  # nothing heard yet: nothing closes
    s.observe("dead", 1000.0, now=0)
    s.observe("restarted", 9000.0, now=2)
    assert s.value(now=30) == 1000.0  # within its ttl the dead worker's stamp still holds time back
    assert s.value(now=61) == 9000.0
    assert s.value(now=3600) == 9000.0  # nobody heard within the ttl: the last one heard
