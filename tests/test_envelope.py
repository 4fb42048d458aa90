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
        allow_imaginary=False,  # a local time skipped by a DST jump names no instant
    )
)
def test_text_order_is_time_order_and_parses_back(moment: dt.datetime) -> None:
    text = format_timestamp(moment)
    assert len(text) == 27
    # The same instant. Compared in UTC: Python's `==` between zones is False, by design
    # (PEP 495), for any local time that occurs twice, such as Tokyo's 1948-1951 DST ends.
    assert parse_timestamp(text) == moment.astimezone(dt.UTC)
    assert format_timestamp(moment + dt.timedelta(microseconds=1)) > text


def test_a_local_time_that_occurs_twice_is_written_as_the_instant_its_fold_names() -> None:
    # Japan's DST ended at 01:00 on 1949-09-11: 00:00-00:59 came twice, at +10 then at +09.
    first = dt.datetime(1949, 9, 11, 0, 30, tzinfo=TOKYO)
    second = first.replace(fold=1)
    assert format_timestamp(first) == "1949-09-10T14:30:00.000000Z"
    assert format_timestamp(second) == "1949-09-10T15:30:00.000000Z"
    assert parse_timestamp(format_timestamp(second)) == second.astimezone(dt.UTC)


def test_a_skipped_local_time_is_read_with_the_offset_before_the_jump() -> None:
    # Japan's DST began at 00:00 on 1949-04-03, straight to 01:00: 00:00-00:59 never happened.
    # As Python reads it (PEP 495, fold=0), it means the offset in force before the jump.
    skipped = dt.datetime(1949, 4, 3, 0, 0, tzinfo=TOKYO)
    assert format_timestamp(skipped) == "1949-04-02T15:00:00.000000Z"
