"""``python -m tests.faults.sweeper DAY``: the sweep's outbox work for DAY, as the sweep flow's
tasks do it (stepdown/flows/sweep.py: ``fire_rungs`` writes, ``deliver_outbox`` delivers), in a
process that starts in a second rather than the ten the Prefect engine takes on a busy machine.
The short fault suite kills this; the long one kills `stepdown sweep` itself."""

from __future__ import annotations

import sys
from datetime import date

from stepdown.db import session_scope
from stepdown.notifications import sweep as outbox


def main(day: date) -> None:
    with session_scope() as session:
        written = outbox.write(session, as_of=day, cutoff=outbox.end_of_day(day))
    delivered = outbox.deliver()
    print(f"sweep {day}: {len(written.fired)} rungs fired; {delivered.sent} sent, "
          f"{delivered.retrying} to retry, {delivered.failed} failed{delivered.why()}")


if __name__ == "__main__":
    main(date.fromisoformat(sys.argv[1]))
