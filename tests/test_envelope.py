"""Stored timestamps: fixed-width RFC 3339 in UTC, so that text order is time order."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from hypothesis import given
from hypothesis import strategies as st

from events.envelope import format_timestamp, parse_timestamp

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def test_any_zone_is_written_as_utc_with_microseconds() -> None:
    signing = dt.datetime(2022, 12, 5, 15, 30, tzinfo=TOKYO)
    assert format_timestamp(signing) == "2022-12-05T06:30:00.000000Z"
    assert format_timestamp(dt.datetime(2022, 12, 5, 6, 30, 0, 7)) == "2022-12-05T06:30:00.000007Z"
    utc_by_name = dt.datetime(2022, 12, 5, 6, 30, tzinfo=zoneinfo.ZoneInfo("UTC"))
    assert format_timestamp(utc_by_name) == "2022-12-05T06:30:00.000000Z"
    assert format_timestamp(dt.datetime(999, 1, 2, tzinfo=dt.UTC)) == "0999-01-02T00:00:00.000000Z"


@given(
    st.datetimes(
        min_value=dt.datetime(2, 1, 1),  # a day from the ends: the zones must not leave the range
        max_value=dt.datetime(9998, 12, 31),
        timezones=st.sampled_from([dt.UTC, TOKYO, dt.timezone(dt.timedelta(hours=-5))]),
    )
)
def test_text_order_is_time_order_and_parses_back(moment: dt.datetime) -> None:
    text = format_timestamp(moment)
    assert len(text) == 27
    assert parse_timestamp(text) == moment
    assert format_timestamp(moment + dt.timedelta(microseconds=1)) > text
