"""The feed cache: incremental rebuilds give the bytes of a full build, and only rebuild what changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tracker.calendars import ics
from tracker.calendars.feeds import Feed, FeedCache
from tracker.core import store
from tracker.register import items


def test_incremental_rebuild_equals_a_full_build(loaded, env):
    engine = store.engine(env["TRACKER_DB"])
    now = datetime(2008, 9, 1, tzinfo=UTC)
    cache = FeedCache(engine, timedelta(hours=1), lambda: now)
    spec = ics.CalendarSpec("all", "everything", meetings=True, todos=True, deadlines=True)
    first = cache.build(spec, alarms=True)
    assert cache.build(spec, alarms=True) is first  # nothing changed: the same object, no work
    built = []
    original = ics.part
    ics.part = lambda component: (built.append(str(component["UID"])), original(component))[1]
    try:
        with store.transaction(engine) as session:
            items.done(session, "forum-host-2009", now, by="test")
        second = cache.build(spec, alarms=True)
    finally:
        ics.part = original
    assert built == ["item-forum-host-2009@tracker", "deadline-item-forum-host-2009@tracker"]
    with store.transaction(engine) as session:
        full = ics.build(session, spec, timedelta(hours=1), alarms=True)
    assert second.body == full and second.etag != first.etag
    assert second.last_modified > first.last_modified


def test_not_modified_rules():
    feed = Feed(b"x", '"abc"', datetime(2008, 9, 1, 12, 0, 0, tzinfo=UTC))
    assert feed.not_modified('"abc"', None) and feed.not_modified('W/"abc", "d"', None) and feed.not_modified("*", None)
    assert not feed.not_modified('"abd"', "Mon, 01 Sep 2008 12:00:00 GMT")  # If-None-Match decides
    assert feed.not_modified(None, "Mon, 01 Sep 2008 12:00:00 GMT")
    assert feed.not_modified(None, "Tue, 02 Sep 2008 00:00:00 GMT")
    assert not feed.not_modified(None, "Mon, 01 Sep 2008 11:59:59 GMT")
    assert not feed.not_modified(None, "yesterday") and not feed.not_modified(None, "2008-09-02")
    assert not feed.not_modified(None, None)
