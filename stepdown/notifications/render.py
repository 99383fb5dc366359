"""The words of every message. Only what the system itself wrote goes in: case references,
obligation titles and keys from the policy, roles, dates and links. Nothing a practitioner typed
(free text could name a child) and nothing about the child but the case reference."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from stepdown.domain.calendar import LONDON, is_working_day, next_working_day

COUNT_WORDS = {
    "escalation": "escalated to you", "overdue": "overdue", "breach": "deadline passed",
    "due_today": "due today", "reminder": "due next working day",
    "unassigned": "with nobody assigned",
}

SECTIONS = (
    ("escalation", "ESCALATED TO YOU: the 5-working-day follow-up was missed; you now own these"),
    ("overdue", "OVERDUE: please complete and record these now"),
    ("breach", "DEADLINE PASSED (hour-based)"),
    ("due_today", "DUE TODAY"),
    ("reminder", "DUE NEXT WORKING DAY"),
    ("unassigned", "NOBODY ASSIGNED: assign someone with `stepdown case assign REF ROLE EMAIL`"),
)


@dataclass(frozen=True)
class Item:
    """One obligation in a message."""

    ref: str
    key: str
    title: str
    owner_role: str
    due_on: date | None
    due_at: datetime | None
    link: str
    rung: str
    previous_owner: str | None = None
    unassigned: bool = False
    source: str = ""  # the policy's source of the obligation's timescale (never typed text)
    flagged_on: date | None = None  # the day its owner was flagged overdue (an escalation)
    escalate_after: int = 5  # the policy's working days from the flag to the escalation

    @property
    def section(self) -> str:
        """Where it goes in a digest: an escalation is the manager's now, assigned or not."""
        return "unassigned" if self.unassigned and self.rung != "escalation" else self.rung

    def due_text(self) -> str:
        if self.due_at is not None:
            local = self.due_at.astimezone(LONDON)
            return f"{day_text(local.date())} {local:%H:%M %Z}"
        assert self.due_on is not None
        return day_text(self.due_on)

    def lateness(self, today: date) -> str:
        due = self.due_at.astimezone(LONDON).date() if self.due_at else self.due_on
        if due is None:
            return ""
        if due > today:
            return "due next working day" if next_working_day(today + date.resolution) >= due \
                else f"due in {(due - today).days} days"
        if due == today:
            return "due today"
        late = sum(1 for n in range(1, (today - due).days + 1)
                   if is_working_day(due + n * date.resolution))
        return f"{late} working day{'s' if late != 1 else ''} overdue"

    def lines(self, today: date) -> list[str]:
        head = f"- {self.ref}  {self.title} [{self.key}]"
        detail = f"  due {self.due_text()}, {self.lateness(today)}; owner role {self.owner_role}"
        if self.previous_owner:
            detail += f", was owned by {self.previous_owner}"
        if self.unassigned:
            detail += f"; nobody holds {self.owner_role} on {self.ref}"
        return [head, detail, f"  {self.link}"]


def day_text(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def _record_hint(item: Item) -> str:
    return (f"  record it: stepdown input {item.ref} {item.key} "
            "--data '{\"done_on\": \"YYYY-MM-DD\"}'")


def digest(day: date, items: list[Item]) -> tuple[str, str]:
    """One email a day per person: what is escalated to them, overdue, due today, due soon."""
    counts = []
    for rung, _title in SECTIONS:
        n = sum(1 for i in items if i.section == rung)
        if n:
            counts.append(f"{n} {COUNT_WORDS[rung]}")
    subject = f"stepdown digest {day_text(day)}: {', '.join(counts)}"
    body = [f"Your stepdown digest for {day:%A} {day.day} {day:%B %Y}.",
            "Each item: the case, what is needed, when it is due, how late, and the link to the "
            "case in Prefect.", ""]
    for rung, title in SECTIONS:
        section = [i for i in items if i.section == rung]
        if not section:
            continue
        body.append(title)
        for item in sorted(section, key=lambda i: (i.due_on or date.max, i.ref, i.key)):
            body.extend(item.lines(day))
            if item.section != "unassigned":
                body.append(_record_hint(item))
        body.append("")
    body.append("Ask your team manager if something here is not yours. This message names cases "
                "by reference only.")
    return subject, "\n".join(body)


def escalation(day: date, item: Item, manager: str) -> tuple[str, str]:
    """The manager's alert. It is true by construction: an obligation escalates only once its
    owner was flagged overdue ``escalate_after`` working days before (ladder.due_now)."""
    subject = f"stepdown escalation: {item.ref} {item.title} is yours now"
    flagged = f" on {day_text(item.flagged_on)}" if item.flagged_on else ""
    days = f"{item.escalate_after} working day{'s' if item.escalate_after != 1 else ''}"
    body = [
        f"{item.ref}: {item.title} [{item.key}] was due {item.due_text()} and is "
        f"{item.lateness(day)}.",
        f"It was flagged as overdue to its owner{flagged} and not followed through within "
        f"{days}, so it is escalated to {manager}, who now owns it (the follow-up and "
        "escalation of Improving Placement Stability, Appendix 1).",
        *([f"The standard it is due by: {item.source}."] if item.source else []),
        f"Owner role: {item.owner_role}" + (f"; was owned by {item.previous_owner}."
                                            if item.previous_owner else "; nobody was assigned."),
        f"Case in Prefect: {item.link}",
        _record_hint(item).strip(),
    ]
    return subject, "\n".join(body)


def breach(item: Item, *, on_duty: bool = False) -> tuple[str, str]:
    subject = f"stepdown: {item.ref} {item.title} deadline passed"
    body = [
        f"{item.ref}: {item.title} [{item.key}] was due by {item.due_text()} and has not been "
        "recorded.",
        f"Owner role: {item.owner_role}. Please hold it now and record it.",
        *(["You are told as the emergency duty team: it is outside working hours. The owner "
           "and the chair are told too."] if on_duty else []),
        f"Case in Prefect: {item.link}",
        _record_hint(item).strip(),
    ]
    return subject, "\n".join(body)


@dataclass(frozen=True)
class Failed:
    """A message that could not be delivered, as a failure report lists it."""

    channel: str
    recipient: str
    items: tuple[str, ...]  # "SD-0042 preparation.planning_meeting", from the ledger
    error: str


def delivery_failures(failed: list[Failed]) -> tuple[str, str]:
    """One report per recipient per sweep of every message that failed finally: the case
    references and keys it was about, its channel, its recipient and why. Not the text."""
    n = len(failed)
    subject = f"stepdown could not deliver {n} message{'s' if n != 1 else ''}"
    body = [f"These {n} message{'s' if n != 1 else ''} failed after repeated attempts. Please "
            "check the address or channel and pass them on; each case's timeline is in Prefect.",
            ""]
    for f in failed:
        what = "an email" if f.channel == "email" else "a Teams post"
        body.append(f"- could not deliver {what} to {f.recipient} ({f.error})")
        body.extend(f"  {item}" for item in f.items or ("(no case: a report of the system)",))
    return subject, "\n".join(body)
