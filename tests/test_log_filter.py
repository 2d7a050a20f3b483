"""Repeated client-library log lines collapse into one per interval, with a count."""

from __future__ import annotations

import logging

import pytest

from streams.log_filter import RepeatFilter, install


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, name: str = "aiokafka", level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_line_repeated_thousands_of_times_passes_once_per_interval_with_its_count():
    clock = Clock()
    repeat = RepeatFilter(interval_seconds=10, clock=clock)
    passed = []
    for i in range(5000):  # 2,000 a second for 2.5 s, then again after the interval
        clock.now = i / 2000
        r = record("Unable connect to node with id %s: %s", i % 3, "refused")
        if repeat.filter(r):
            passed.append(r.getMessage())
    clock.now = 12.0
    last = record("Unable connect to node with id %s: %s", 1, "refused")
    assert repeat.filter(last)
    assert passed == ["Unable connect to node with id 0: refused"]
    assert last.getMessage() == ("Unable connect to node with id 1: refused "
                                 "[4,999 more like this in the last 12 s not logged]")


def test_other_kinds_of_line_are_not_held_back_by_a_repeated_one():
    repeat = RepeatFilter(interval_seconds=10, clock=Clock())
    assert repeat.filter(record("Unable to update metadata from %s", [1]))
    assert not repeat.filter(record("Unable to update metadata from %s", [1]))
    assert repeat.filter(record("Unable to update metadata from %s", [1], level=logging.WARNING))
    assert repeat.filter(record("Unable to update metadata from %s", [1], name="aiokafka.conn"))
    assert repeat.filter(record("Group Coordinator Request failed: %s", "x"))
    for group in ("a", "b"):  # info lines always pass
        assert repeat.filter(record("Discovered coordinator 1 for group %s", group, level=logging.INFO))


def test_interval_must_be_positive():
    with pytest.raises(ValueError, match="interval_seconds"):
        RepeatFilter(interval_seconds=0)


def test_install_reaches_the_loggers_the_client_library_logs_with(caplog):
    import aiokafka.client  # noqa: F401  (creates the loggers)

    repeat = install(interval_seconds=60)
    try:
        with caplog.at_level(logging.ERROR):
            for _ in range(100):
                logging.getLogger("aiokafka").error("Unable to update metadata from %s", [1])
                logging.getLogger("aiokafka.conn").error("connection reset")
        assert [r.name for r in caplog.records] == ["aiokafka", "aiokafka.conn"]
    finally:
        for name in list(logging.root.manager.loggerDict):
            logger = logging.getLogger(name)
            if isinstance(logger, logging.Logger) and repeat in logger.filters:
                logger.removeFilter(repeat)
