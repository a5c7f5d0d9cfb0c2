"""Property-based guard of the meeting inputs (`tracker meeting add|announce` and the desk's forms call the same core):
whatever is typed, the change is saved as a record the YAML could hold and the calendars can publish, or refused with
one line naming its option, and nothing written."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.calendars import ics
from tracker.core import store
from tracker.core.errors import InvalidInput
from tracker.core.timing import parse_when
from tracker.register import dataset, dumping, meeting_records

NOW = parse_when("2026-11-24T10:00", ZoneInfo("Asia/Taipei")).at
OPTIONS = ("OCCURRENCE", "--slug", "--title", "--start", "--end", "--tz", "--number", "--place", "--host")


class Rollback(Exception):
    """Thrown out of each example's transaction, so that the next one starts from the loaded data."""


dates = st.one_of(st.sampled_from(["2027-03-09", "2027-03", "2027-03-09T09:30", "2027-02-29", "2027-03-09T25:00",
                                   "", "0001-01-01", "9999-12-31", " 2027-03-10 "]), st.text(max_size=12))  # fmt: skip
fields = st.fixed_dictionaries({}, optional={
    "title": st.text(max_size=40), "start": dates, "end": dates,
    "tz": st.sampled_from(["Asia/Taipei", "UTC", "America/Lima", "Mars/Base", "", "asia/taipei"]),
    "number": st.one_of(st.integers(-3, 200_000).map(str), st.text(max_size=4)),
    "place": st.text(max_size=60), "host": st.text(max_size=20), "slug": st.text(max_size=12),
})  # fmt: skip
occurrences = st.one_of(
    st.sampled_from(["2027-03", "2027-09-01", "2027-04", "2027-03-15", "1999-03"]), st.text(max_size=8)
)


@pytest.fixture
def engine(loaded, db_url):
    eng = store.engine(db_url)
    yield eng
    eng.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(typed=fields, occurrence=occurrences, announcing=st.booleans())
def test_typed_meetings_are_saved_as_the_yaml_would_or_refused_in_one_line(engine, typed, occurrence, announcing):
    try:
        with store.transaction(engine, write=True) as session:
            try:
                if announcing:
                    row = meeting_records.announce(session, "apec-smewg", occurrence, NOW, typed)
                else:
                    row = meeting_records.add_meeting(session, NOW, typed)
            except InvalidInput as e:
                text = str(e)
                assert "\n" not in text and text.split(":")[0] in OPTIONS, text
            else:
                dataset.MeetingIn.model_validate(dumping.meeting_record(row))  # the dump of it loads back
                assert ics.meeting_event(row).to_ical()
                assert (row.recurrence_id is not None) == announcing
            raise Rollback
    except Rollback:
        pass
