"""The practice calendar (DOMAIN.md section 2): working days, date arithmetic, deadline adjustment."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from stepdown.domain.calendar import (
    LONDON,
    Duration,
    add_months,
    add_working_days,
    deadline,
    earliest,
    in_working_hours,
    is_bank_holiday,
    is_working_day,
    parse_hours,
)

# Official England and Wales bank holidays, 2018-2027 (gov.uk), typed in by hand: an independent
# table, deliberately not derived from the ``holidays`` package the code under test uses.
_GOV_UK = {
    2018: ("01-01", "03-30", "04-02", "05-07", "05-28", "08-27", "12-25", "12-26"),
    2019: ("01-01", "04-19", "04-22", "05-06", "05-27", "08-26", "12-25", "12-26"),
    2020: ("01-01", "04-10", "04-13", "05-08", "05-25", "08-31", "12-25", "12-28"),
    2021: ("01-01", "04-02", "04-05", "05-03", "05-31", "08-30", "12-27", "12-28"),
    2022: ("01-03", "04-15", "04-18", "05-02", "06-02", "06-03", "08-29", "09-19", "12-26",
           "12-27"),
    2023: ("01-02", "04-07", "04-10", "05-01", "05-08", "05-29", "08-28", "12-25", "12-26"),
    2024: ("01-01", "03-29", "04-01", "05-06", "05-27", "08-26", "12-25", "12-26"),
    2025: ("01-01", "04-18", "04-21", "05-05", "05-26", "08-25", "12-25", "12-26"),
    2026: ("01-01", "04-03", "04-06", "05-04", "05-25", "08-31", "12-25", "12-28"),
    2027: ("01-01", "03-26", "03-29", "05-03", "05-31", "08-30", "12-27", "12-28"),
}
BANK_HOLIDAYS = frozenset(
    date(year, int(md[:2]), int(md[3:])) for year, days in _GOV_UK.items() for md in days
)


def _every_day(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


ALL_DAYS = list(_every_day(date(2018, 1, 1), date(2027, 12, 31)))


# ----------------------------------------------------------------------------- bank holidays

def test_table_is_well_formed():
    """The literal table itself: 83 days, none of them at a weekend (gov.uk lists the substitutes)."""
    assert len(BANK_HOLIDAYS) == 83
    assert all(d.weekday() < 5 for d in BANK_HOLIDAYS)


def test_is_bank_holiday_exactly_on_the_gov_uk_days_2018_to_2027():
    """is_bank_holiday is true on every gov.uk bank holiday and on no other day of 2018-2027."""
    missing = [d for d in ALL_DAYS if d in BANK_HOLIDAYS and not is_bank_holiday(d)]
    extra = [d for d in ALL_DAYS if d not in BANK_HOLIDAYS and is_bank_holiday(d)]
    assert missing == [], f"bank holidays not recognised: {missing}"
    assert extra == [], f"days wrongly reported as bank holidays: {extra}"


def test_is_working_day_exactly_on_weekdays_that_are_not_bank_holidays_2018_to_2027():
    """A working day is Monday to Friday and not a gov.uk bank holiday, for every day of 2018-2027."""
    wrong = [
        d for d in ALL_DAYS
        if is_working_day(d) != (d.weekday() < 5 and d not in BANK_HOLIDAYS)
    ]
    assert wrong == []


@pytest.mark.parametrize("day", [date(2022, 9, 19), date(2023, 5, 8), date(2022, 6, 3)])
def test_one_off_bank_holidays_are_not_working_days(day):
    """One-off days (the State Funeral, the Coronation, the Jubilee) are bank holidays."""
    assert day.weekday() < 5
    assert is_bank_holiday(day)
    assert not is_working_day(day)


@pytest.mark.parametrize("weekend_day, substitute", [
    (date(2021, 12, 25), date(2021, 12, 27)),  # Christmas on a Saturday
    (date(2021, 12, 26), date(2021, 12, 28)),  # Boxing Day on a Sunday
    (date(2020, 12, 26), date(2020, 12, 28)),  # Boxing Day on a Saturday
    (date(2026, 12, 26), date(2026, 12, 28)),
    (date(2022, 12, 25), date(2022, 12, 27)),  # Christmas on a Sunday
    (date(2022, 1, 1), date(2022, 1, 3)),      # New Year's Day on a Saturday
    (date(2023, 1, 1), date(2023, 1, 2)),      # New Year's Day on a Sunday
    (date(2027, 12, 25), date(2027, 12, 27)),
    (date(2027, 12, 26), date(2027, 12, 28)),
])
def test_weekend_christmas_and_new_year_are_not_working_days_and_substitutes_are_holidays(
    weekend_day, substitute
):
    """A Christmas/Boxing/New Year's Day at a weekend is not a working day; its weekday substitute
    is a bank holiday and not a working day either."""
    assert weekend_day.weekday() >= 5
    assert not is_working_day(weekend_day)
    assert substitute.weekday() < 5
    assert is_bank_holiday(substitute)
    assert not is_working_day(substitute)


# ----------------------------------------------------------------------------- working days

def test_add_working_days_domain_example_over_christmas_2026():
    """DOMAIN.md: Thu 2026-12-24 + 3 working days = Thu 2026-12-31 (25 and 28 Dec are holidays)."""
    assert add_working_days(date(2026, 12, 24), 3) == date(2026, 12, 31)


def test_add_working_days_friday_plus_one_is_monday():
    assert add_working_days(date(2026, 3, 13), 1) == date(2026, 3, 16)


def test_add_working_days_skips_the_easter_weekend():
    """Thu 2026-04-02 + 1 working day skips Good Friday, the weekend and Easter Monday."""
    assert add_working_days(date(2026, 4, 2), 1) == date(2026, 4, 7)


def test_add_working_days_ordinary_week():
    assert add_working_days(date(2026, 3, 9), 4) == date(2026, 3, 13)
    assert add_working_days(date(2026, 3, 9), 5) == date(2026, 3, 16)


@pytest.mark.parametrize("day", [date(2026, 3, 11), date(2026, 11, 28), date(2026, 12, 25)])
def test_add_zero_working_days_returns_the_day_itself(day):
    """n = 0 returns D unchanged, even when D is not a working day."""
    assert add_working_days(day, 0) == day


def test_add_negative_working_days_is_refused():
    with pytest.raises(ValueError):
        add_working_days(date(2026, 3, 11), -1)


def test_the_start_day_is_not_counted_even_when_it_is_not_a_working_day():
    """Sat 2026-11-28 + 1 working day = Mon 2026-11-30 (not the next working day after Monday)."""
    assert add_working_days(date(2026, 11, 28), 1) == date(2026, 11, 30)
    assert add_working_days(date(2026, 11, 28), 2) == date(2026, 12, 1)


# ----------------------------------------------------------------------------- months

@pytest.mark.parametrize("day, n, expected", [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),   # clamped to the end of February
    (date(2028, 1, 31), 1, date(2028, 2, 29)),   # leap year
    (date(2026, 8, 31), 1, date(2026, 9, 30)),   # 30-day month
    (date(2026, 11, 15), 3, date(2027, 2, 15)),  # across the year end
    (date(2026, 3, 15), 12, date(2027, 3, 15)),  # a whole year
    (date(2026, 12, 31), 12, date(2027, 12, 31)),
    (date(2028, 2, 29), 12, date(2029, 2, 28)),  # leap day + a year is clamped
    (date(2026, 10, 10), 2, date(2026, 12, 10)),  # lands in December (month index 11)
])
def test_add_months_is_calendar_months_clamped_to_the_month_end(day, n, expected):
    assert add_months(day, n) == expected


# ----------------------------------------------------------------------------- Duration

@pytest.mark.parametrize("text, amount, unit", [
    ("14 days", 14, "days"),
    ("1 day", 1, "days"),
    ("1 month", 1, "months"),
    ("6 months", 6, "months"),
    ("3 working days", 3, "working_days"),
    ("1 working day", 1, "working_days"),
    ("48 hours", 48, "hours"),
    ("1 hour", 1, "hours"),
    ("2 weeks", 2, "weeks"),
    ("1 week", 1, "weeks"),
    ("  7 days  ", 7, "days"),
])
def test_duration_parse(text, amount, unit):
    assert Duration.parse(text) == Duration(amount, unit)


@pytest.mark.parametrize("text", [
    "14 fortnights", "days", "fourteen days", "14", "", "-3 days", "3.5 days", "14 days later",
])
def test_duration_parse_refuses_bad_text_naming_it(text):
    with pytest.raises(ValueError) as info:
        Duration.parse(text)
    assert repr(text) in str(info.value)


def test_duration_is_hours_only_for_hours():
    assert Duration.parse("48 hours").is_hours
    assert not Duration.parse("2 days").is_hours


@pytest.mark.parametrize("text, start, expected", [
    ("14 days", date(2026, 12, 20), date(2027, 1, 3)),
    ("2 weeks", date(2026, 2, 20), date(2026, 3, 6)),
    ("1 month", date(2026, 1, 31), date(2026, 2, 28)),
    ("3 months", date(2026, 11, 15), date(2027, 2, 15)),
    ("3 working days", date(2026, 12, 24), date(2026, 12, 31)),
    ("1 working day", date(2026, 4, 2), date(2026, 4, 7)),
])
def test_duration_after_for_each_date_unit(text, start, expected):
    assert Duration.parse(text).after(start) == expected


def test_duration_after_refuses_hours():
    with pytest.raises(ValueError):
        Duration.parse("48 hours").after(date(2026, 3, 28))


def test_after_instant_across_the_march_clock_change():
    """DOMAIN.md: 2026-03-28 10:00 GMT + 48 hours = 2026-03-30 11:00 BST, exactly 48h elapsed."""
    start = datetime(2026, 3, 28, 10, 0, tzinfo=LONDON)
    assert start.utcoffset() == timedelta(0)
    result = Duration.parse("48 hours").after_instant(start)
    assert result.utcoffset() == timedelta(hours=1)
    assert (result.year, result.month, result.day, result.hour, result.minute) == (2026, 3, 30, 11, 0)
    # Compare in UTC: aware datetimes sharing one tzinfo subtract as wall-clock times.
    elapsed = result.astimezone(UTC) - start.astimezone(UTC)
    assert elapsed == timedelta(hours=48)


def test_after_instant_across_the_october_clock_change():
    """2026-10-24 09:00 BST + 48 hours = 2026-10-26 08:00 GMT."""
    start = datetime(2026, 10, 24, 9, 0, tzinfo=LONDON)
    assert start.utcoffset() == timedelta(hours=1)
    result = Duration.parse("48 hours").after_instant(start)
    assert result.utcoffset() == timedelta(0)
    assert (result.year, result.month, result.day, result.hour, result.minute) == (2026, 10, 26, 8, 0)
    elapsed = result.astimezone(UTC) - start.astimezone(UTC)
    assert elapsed == timedelta(hours=48)


def test_after_instant_accepts_any_offset_and_answers_in_london_time():
    start = datetime(2026, 3, 28, 10, 0, tzinfo=UTC)
    result = Duration.parse("48 hours").after_instant(start)
    assert result.astimezone(UTC) == datetime(2026, 3, 30, 10, 0, tzinfo=UTC)
    assert result.utcoffset() == timedelta(hours=1)


def test_after_instant_refuses_a_naive_datetime():
    with pytest.raises(ValueError):
        Duration.parse("48 hours").after_instant(datetime(2026, 3, 28, 10, 0))


def test_after_instant_refuses_a_day_based_duration():
    with pytest.raises(ValueError):
        Duration.parse("2 days").after_instant(datetime(2026, 3, 28, 10, 0, tzinfo=LONDON))


# ----------------------------------------------------------------------------- adjustment

@pytest.mark.parametrize("day, expected", [
    (date(2026, 12, 26), date(2026, 12, 24)),  # Saturday Boxing Day -> Thu 24th
    (date(2026, 12, 28), date(2026, 12, 24)),  # Monday substitute -> Thu 24th
    (date(2026, 12, 27), date(2026, 12, 24)),  # Sunday
    (date(2026, 4, 6), date(2026, 4, 2)),      # Easter Monday -> Maundy Thursday
    (date(2026, 3, 14), date(2026, 3, 13)),    # ordinary Saturday -> Friday
    (date(2026, 3, 15), date(2026, 3, 13)),    # ordinary Sunday -> Friday
])
def test_deadline_on_a_non_working_day_moves_back_to_the_previous_working_day(day, expected):
    assert deadline(day) == expected
    assert is_working_day(deadline(day))


@pytest.mark.parametrize("day, expected", [
    (date(2026, 12, 25), date(2026, 12, 29)),  # Christmas, Boxing Sat, Sun, substitute Mon
    (date(2026, 4, 3), date(2026, 4, 7)),      # Good Friday -> Tuesday after Easter
    (date(2026, 3, 14), date(2026, 3, 16)),    # Saturday -> Monday
])
def test_earliest_on_a_non_working_day_moves_forward_to_the_next_working_day(day, expected):
    assert earliest(day) == expected


@pytest.mark.parametrize("day", [date(2026, 12, 24), date(2026, 12, 29), date(2026, 3, 11)])
def test_deadline_and_earliest_leave_working_days_unchanged(day):
    assert is_working_day(day)
    assert deadline(day) == day
    assert earliest(day) == day


# A deadline never falls before the event it follows (DOMAIN.md section 2, rule).
@pytest.mark.parametrize("day, anchor, expected", [
    # A Saturday move + 1 day = Sunday: back would be Friday, before the move: the Monday.
    (date(2026, 6, 28), date(2026, 6, 27), date(2026, 6, 29)),
    # A move on Sat 26 Dec 2026 + 1 day = Sun 27: back would be Thu 24 (25 is Christmas), before
    # the move; forward skips the substitute Boxing Day (Mon 28): Tue 29.
    (date(2026, 12, 27), date(2026, 12, 26), date(2026, 12, 29)),
    # A move on Good Friday 2027 (26 Mar) + 1 day = Sat 27: forward past Easter Monday: Tue 30.
    (date(2027, 3, 27), date(2027, 3, 26), date(2027, 3, 30)),
])
def test_a_deadline_that_would_move_back_before_its_anchor_moves_forward(day, anchor, expected):
    assert deadline(day) < anchor  # the plain rule would put it before the event
    assert deadline(day, not_before=anchor) == expected


@pytest.mark.parametrize("day, anchor, expected", [
    # Sunday 2026-06-28, anchored on the Wednesday before: Friday 26 is after it, so back.
    (date(2026, 6, 28), date(2026, 6, 24), date(2026, 6, 26)),
    # Back onto the anchor day itself is not before it.
    (date(2026, 6, 28), date(2026, 6, 26), date(2026, 6, 26)),
    # A working day is never moved, whatever the anchor.
    (date(2026, 6, 29), date(2026, 6, 27), date(2026, 6, 29)),
])
def test_a_deadline_whose_previous_working_day_is_not_before_its_anchor_still_moves_back(
        day, anchor, expected):
    assert deadline(day, not_before=anchor) == expected


# ----------------------------------------------------------------------------- working hours
@pytest.mark.parametrize("moment, inside", [
    (datetime(2027, 3, 19, 9, 0, tzinfo=LONDON), True),     # Friday, the start is inside
    (datetime(2027, 3, 19, 16, 59, tzinfo=LONDON), True),
    (datetime(2027, 3, 19, 17, 0, tzinfo=LONDON), False),   # the end is outside
    (datetime(2027, 3, 19, 8, 59, tzinfo=LONDON), False),
    (datetime(2027, 3, 20, 11, 0, tzinfo=LONDON), False),   # Saturday
    (datetime(2027, 3, 26, 11, 0, tzinfo=LONDON), False),   # Good Friday
    # 08:30 UTC in summer is 09:30 in London: inside.
    (datetime(2027, 6, 1, 8, 30, tzinfo=UTC), True),
])
def test_working_hours_are_office_hours_of_working_days_in_london(moment, inside):
    assert in_working_hours(moment) is inside


def test_working_hours_parse_and_refuse_bad_text_naming_the_rule():
    assert parse_hours("08:30-18:00") == (time(8, 30), time(18, 0))
    for text in ("9-5", "09:00", "17:00-09:00", "09:00-24:00"):
        with pytest.raises(ValueError, match="working hours"):
            parse_hours(text)
    with pytest.raises(ValueError):
        in_working_hours(datetime(2027, 3, 19, 10, 0))  # naive
