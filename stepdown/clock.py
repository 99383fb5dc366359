"""The one place that reads the time.

Everything else asks this module. Tests (and a rehearsal of a past day) set
``STEPDOWN_TODAY=YYYY-MM-DD`` or call :func:`set_clock`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from stepdown.config import get_settings
from stepdown.domain.calendar import LONDON as LONDON  # re-exported: callers use clock.LONDON

_override: Callable[[], datetime] | None = None


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (``None`` restores the real one)."""
    global _override
    _override = fn


def now() -> datetime:
    """The current instant, in Europe/London."""
    if _override is not None:
        return _override().astimezone(LONDON)
    fixed = get_settings().today
    if fixed:
        return datetime.combine(date.fromisoformat(fixed), datetime.min.time(), LONDON).replace(
            hour=12
        )
    return datetime.now(UTC).astimezone(LONDON)


def today() -> date:
    """Today's Europe/London date."""
    return now().date()
