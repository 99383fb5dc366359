"""The practice calendar: working days, date arithmetic and deadline adjustment.

DOMAIN.md section 2. Dates are Europe/London local dates; a working day is Monday to Friday and
not an England and Wales bank holiday (``holidays.country_holidays("GB", subdiv="ENG")``: without
``subdiv`` it omits Easter Monday and the Summer bank holiday).
"""

from __future__ import annotations

import calendar as _stdcal
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")

UNITS = ("hours", "days", "weeks", "months", "working_days", "terms")
_DURATION = re.compile(r"^\s*(\d+)\s+(hour|day|week|month|working[ _]day|term)s?\s*$")

# (rule) School terms end on 31 December, 31 March and 31 July unless a policy gives its own
# term dates (DOMAIN.md section 9): month and day of each term's last day.
TERM_ENDS: tuple[tuple[int, int], ...] = ((12, 31), (3, 31), (7, 31))
_HOURS = re.compile(r"^\s*([01]\d|2[0-3]):([0-5]\d)\s*-\s*([01]\d|2[0-3]):([0-5]\d)\s*$")

# The office hours of a working day (Europe/London): outside them the emergency duty team covers.
WORKING_HOURS = (time(9), time(17))


@cache
def _bank_holidays(year: int) -> frozenset[date]:
    # The package lists a weekend Christmas Day as well as its weekday substitute; only the
    # weekday is the bank holiday gov.uk publishes.
    calendar = holidays.country_holidays("GB", subdiv="ENG", years=year)
    return frozenset(d for d in calendar if d.weekday() < 5)


def is_bank_holiday(day: date) -> bool:
    return day in _bank_holidays(day.year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and not is_bank_holiday(day)


def parse_hours(text: str) -> tuple[time, time]:
    """``"09:00-17:00"``: the start and the end of the working hours of a working day."""
    match = _HOURS.match(text)
    if not match:
        raise ValueError(f"{text!r} is not working hours: write HH:MM-HH:MM, e.g. 09:00-17:00")
    start = time(int(match.group(1)), int(match.group(2)))
    end = time(int(match.group(3)), int(match.group(4)))
    if end <= start:
        raise ValueError(f"{text!r}: working hours must end after they start")
    return start, end


def in_working_hours(moment: datetime, hours: tuple[time, time] = WORKING_HOURS) -> bool:
    """Whether an instant is in the working hours (start included, end not) of a working day,
    in Europe/London time."""
    if moment.tzinfo is None:
        raise ValueError("an instant needs its UTC offset")
    local = moment.astimezone(LONDON)
    return is_working_day(local.date()) and hours[0] <= local.time() < hours[1]


def add_working_days(day: date, n: int) -> date:
    """The n-th working day after ``day`` (``day`` itself is not counted)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    current = day
    while n > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            n -= 1
    return current


def subtract_working_days(day: date, n: int) -> date:
    """The n-th working day before ``day`` (DOMAIN.md section 2: D - N working days)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    current = day
    while n > 0:
        current -= timedelta(days=1)
        if is_working_day(current):
            n -= 1
    return current


def next_working_day(day: date) -> date:
    """``day`` if it is a working day, else the next one."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def previous_working_day(day: date) -> date:
    """``day`` if it is a working day, else the previous one."""
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


def term_end(day: date, ends: tuple[tuple[int, int], ...] = TERM_ENDS) -> date:
    """The last day of the school term ``day`` falls in (the first term end on or after it)."""
    candidates = [date(day.year + extra, month, last) for extra in (0, 1)
                  for month, last in ends]
    return min(c for c in candidates if c >= day)


def add_terms(day: date, n: int, ends: tuple[tuple[int, int], ...] = TERM_ENDS) -> date:
    """The last day of the n-th term after the one ``day`` falls in (a PEP every term: by the
    end of the term after the previous one's)."""
    current = term_end(day, ends)
    for _ in range(n):
        current = term_end(current + timedelta(days=1), ends)
    return current


def parse_term_ends(values: object) -> tuple[tuple[int, int], ...]:
    """A policy's term dates, ``["12-31", "03-31", "07-31"]``: each term's last day (MM-DD)."""
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError("term_ends must be a list of MM-DD dates, e.g. [\"12-31\", \"03-31\"]")
    out = []
    for value in values:
        match = re.match(r"^(\d\d)-(\d\d)$", str(value))
        if not match:
            raise ValueError(f"term_ends: {value!r} is not MM-DD")
        month, last = int(match.group(1)), int(match.group(2))
        try:
            date(2024, month, last)  # a leap year: 02-29 is a valid term end
        except ValueError:
            raise ValueError(f"term_ends: {value!r} is not a day of the year") from None
        out.append((month, last))
    return tuple(sorted(set(out)))


def add_months(day: date, n: int) -> date:
    """Calendar months, clamped to the month's end (2026-01-31 + 1 month = 2026-02-28)."""
    month_index = day.month - 1 + n
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = _stdcal.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


@dataclass(frozen=True)
class Duration:
    """A timescale from a policy: ``14 days``, ``3 working days``, ``1 month``, ``48 hours``."""

    amount: int
    unit: str
    terms: tuple[tuple[int, int], ...] = TERM_ENDS  # the term ends a "terms" duration counts

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION.match(text)
        if not match:
            raise ValueError(
                f"{text!r} is not a duration: write "
                "'<n> hours|days|weeks|months|working days|terms'"
            )
        unit = match.group(2).replace(" ", "_") + "s"
        return cls(int(match.group(1)), unit)

    @property
    def is_hours(self) -> bool:
        return self.unit == "hours"

    def __mul__(self, k: int) -> Duration:
        return Duration(self.amount * k, self.unit, self.terms)

    def after(self, day: date) -> date:
        """``day`` plus this duration, as a date (not for hours)."""
        if self.unit == "days":
            return day + timedelta(days=self.amount)
        if self.unit == "weeks":
            return day + timedelta(weeks=self.amount)
        if self.unit == "months":
            return add_months(day, self.amount)
        if self.unit == "working_days":
            return add_working_days(day, self.amount)
        if self.unit == "terms":
            return add_terms(day, self.amount, self.terms)
        raise ValueError(f"{self} is elapsed time: use after_instant")

    def before(self, day: date) -> date:
        """``day`` less this duration, as a date: a deadline set before another (the care plan
        shared 5 working days before the review) counts back from it."""
        if self.unit == "days":
            return day - timedelta(days=self.amount)
        if self.unit == "weeks":
            return day - timedelta(weeks=self.amount)
        if self.unit == "months":
            return add_months(day, -self.amount)
        if self.unit == "working_days":
            return subtract_working_days(day, self.amount)
        if self.unit == "terms":
            raise ValueError(f"{self}: terms count forward only")
        raise ValueError(f"{self} is elapsed time: use before_instant")

    def before_instant(self, moment: datetime) -> datetime:
        """Elapsed hours before an instant."""
        if moment.tzinfo is None:
            raise ValueError("an instant needs its UTC offset")
        utc = moment.astimezone(ZoneInfo("UTC")) - timedelta(hours=self.amount)
        return utc.astimezone(LONDON)

    def after_instant(self, moment: datetime) -> datetime:
        """Elapsed hours: 2026-03-28 10:00 GMT + 48 hours = 2026-03-30 11:00 BST."""
        if moment.tzinfo is None:
            raise ValueError("an instant needs its UTC offset")
        if not self.is_hours:
            raise ValueError(f"{self} is not elapsed time")
        utc = moment.astimezone(ZoneInfo("UTC")) + timedelta(hours=self.amount)
        return utc.astimezone(LONDON)

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.replace('_', ' ')}"


def deadline(day: date, not_before: date | None = None) -> date:
    """(rule) A day-based deadline on a non-working day moves back to the previous working day.

    (rule) A deadline never falls before the event it follows: if ``not_before`` (its anchor,
    the date the offset was added to) is later than that working day, the deadline moves forward
    to the next working day instead (a Saturday move + 1 day is the Monday, not the Friday
    before the move)."""
    back = previous_working_day(day)
    if not_before is not None and back < not_before:
        return next_working_day(day)
    return back


def earliest(day: date) -> date:
    """(rule) An earliest date on a non-working day moves forward to the next working day."""
    return next_working_day(day)


def local_date(moment: datetime) -> date:
    """The Europe/London date of an instant."""
    return moment.astimezone(LONDON).date()
