"""The obligation engine: every obligation a process has, computed from the policy and its record.

Pure: no database, no Prefect, no clock. Given what has been recorded (stage starts and ends,
accepted forms, completed obligations), :func:`plan` returns every obligation with its key, owner,
earliest and due dates, in policy order. Recurring obligations appear as the recorded dates make
them due: a chain's next occurrence once the previous one is done; a series once its start is known.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from stepdown.domain import calendar as cal
from stepdown.domain.calendar import Duration
from stepdown.domain.declarations import Condition
from stepdown.domain.policy import Anchor, DateExpr, Policy, Rule

_MAX_OCCURRENCES = 500  # a guard against a policy that never ends a chain


@dataclass(frozen=True)
class Completion:
    done_on: date
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Facts:
    """What has been recorded for one process."""

    process: str
    stage_starts: dict[str, date] = field(default_factory=dict)
    stage_ends: dict[str, date] = field(default_factory=dict)
    forms: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    done: dict[str, Completion] = field(default_factory=dict)
    opening: dict[str, Any] = field(default_factory=dict)  # the opening form's values
    # Dated events of the child's other processes a rule is pulled by (``pulled_by``), by the
    # event's text: (the day, the other process's reference).
    child: dict[str, list[tuple[date, str]]] = field(default_factory=dict)
    # The stages of the child's other processes a chain is paused by (``paused_by``), by the
    # event's text: (the day the stage began, the day it ended or None, the process's reference).
    child_spans: dict[str, list[tuple[date, date | None, str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Planned:
    key: str
    rule: Rule
    opened_on: date
    due_on: date | None = None
    due_at: datetime | None = None
    earliest_on: date | None = None
    cancelled: bool = False
    completion: str | None = None
    owner_role: str | None = None  # set when a record names the owner (a chair, an action's)
    title_text: str | None = None
    note: str | None = None  # why the due date is not the rule's own (pulled forward by a move)
    cancelled_because: str | None = None  # why the plan cancels it (a pause), for the audit trail
    # Done by the same event recorded in the child's other process (``done_by``): the day and
    # that process's reference.
    done_elsewhere: tuple[date, str] | None = None

    @property
    def stage(self) -> str:
        return self.rule.stage

    @property
    def owner(self) -> str:
        return self.owner_role or self.rule.owner

    @property
    def title(self) -> str:
        title = self.title_text or self.rule.title
        return f"{title} ({self.note})" if self.note else title


def as_when(value: Any) -> date | datetime | None:
    """A recorded value as a date or an instant (ISO strings are parsed)."""
    if value is None or isinstance(value, (date, datetime)):
        return value
    if isinstance(value, str):
        if "T" in value:
            return datetime.fromisoformat(value)
        return date.fromisoformat(value)
    raise TypeError(f"not a date: {value!r}")


class _Planner:
    def __init__(self, policy: Policy, facts: Facts) -> None:
        self.policy = policy
        # Its own copy of what is done: an occurrence done by the child's other process
        # (``done_by``) is done for the rules after it too (a care plan after the review).
        self.facts = replace(facts, done=dict(facts.done))
        self.out: dict[str, Planned] = {}
        self.ended: dict[str, date] = {}  # a chain's key -> the day its last occurrence was done

    # -- anchors ---------------------------------------------------------------------------------
    def anchor(self, anchor: Anchor) -> date | datetime | None:
        facts = self.facts
        if anchor.kind == "stage":
            return facts.stage_starts.get(anchor.name)
        if anchor.kind == "done":
            done = facts.done.get(anchor.name)
            return done.done_on if done else None
        if anchor.kind == "due":
            planned = self.out.get(anchor.name)
            return planned.due_at or planned.due_on if planned else None
        if anchor.kind == "last_due":
            names = anchor.name.split("|")
            dues = [p.due_on for p in self.out.values()
                    if p.due_on and any(p.key == n or p.key.startswith(n + "#") for n in names)]
            return max(dues) if dues else None
        return as_when(self.recorded(anchor))

    def recorded(self, anchor: Anchor) -> Any:
        """The raw value of a form field anchor (the first matching submission)."""
        for data in self.facts.forms.get(anchor.name, []):
            if anchor.where is None or str(data.get(anchor.where[0])) == anchor.where[1]:
                return data.get(anchor.field or "")
        return None

    def value(self, expr: DateExpr | None) -> date | datetime | None:
        if expr is None:
            return None
        base = self.anchor(expr.anchor)
        if base is None or expr.offset is None:
            return base
        if expr.before:
            return shift_back(base, expr.offset)
        return shift(base, expr.offset)

    def based(self, expr: DateExpr | None) -> date | datetime | None:
        """The anchor an offset is added to: the event a deadline follows (None without one)."""
        if expr is None or expr.offset is None or expr.before:
            return None  # a deadline set before another is before its anchor by design
        return self.anchor(expr.anchor)

    def elsewhere(self, rule: Rule, opened: date | datetime,
                  used: Collection[tuple[date, str]] = ()) -> tuple[date, str] | None:
        """The first event of ``done_by`` in the child's other processes on or after the
        obligation opened (and not ``used`` by an earlier occurrence): the same event, recorded
        there (one looked-after review)."""
        events = sorted((day, ref) for event in rule.done_by
                        for day, ref in self.facts.child.get(event.text, ())
                        if day >= _day(opened) and (day, ref) not in used)
        return events[0] if events else None

    # -- emitting --------------------------------------------------------------------------------
    def emit(self, rule: Rule, key: str, opened: date | datetime, due: date | datetime | None,
             earliest: date | datetime | None = None, completion: str | None = None,
             owner: str | None = None, title: str | None = None,
             anchor: date | datetime | None = None, note: str | None = None,
             cancelled_because: str | None = None, until: date | None = None) -> Planned:
        due_on, due_at = split_due(due, not_before=anchor)
        earliest_on = cal.earliest(_day(earliest)) if earliest is not None else None
        end = self.facts.stage_ends.get(rule.stage)
        ends = rule.recurring or rule.ends_with_stage
        cancelled = bool(cancelled_because) or bool(ends and end and due_on and due_on > end)
        cancelled = cancelled or bool(until and due_on and due_on > until)
        planned = Planned(key=key, rule=rule, opened_on=_day(opened), due_on=due_on, due_at=due_at,
                          earliest_on=earliest_on, cancelled=cancelled,
                          completion=completion if completion is not None else rule.completion,
                          owner_role=owner, title_text=title, note=note,
                          cancelled_because=cancelled_because)
        self.out[key] = planned
        return planned

    # -- rule kinds ------------------------------------------------------------------------------
    def once(self, rule: Rule) -> None:
        opened = self.value(rule.opens)
        if rule.opens is not None and opened is None:
            return
        due = self.value(rule.due)
        if rule.due is not None and due is None:
            return
        earliest = self.value(rule.earliest)
        if rule.earliest is not None and earliest is None:
            return
        if opened is None:
            anchor = self.anchor(rule.due.anchor) if rule.due else None
            opened = anchor if anchor is not None else self.facts.stage_starts.get(rule.stage)
        if opened is None:
            return
        base = self.based(rule.due)
        sooner = self.value(rule.or_earlier)
        if due is not None and sooner is not None and _day(sooner) < _day(due):
            due, base = sooner, self.based(rule.or_earlier)
        owner = self.recorded(rule.owner_from) if rule.owner_from else None
        planned = self.emit(rule, rule.key, opened, due, earliest,
                            owner=str(owner) if owner else None, anchor=base)
        if rule.done_by and rule.key not in self.facts.done:
            elsewhere = self.elsewhere(rule, opened)
            if elsewhere is not None:
                self.out[rule.key] = replace(planned, done_elsewhere=elsewhere)
                self.facts.done[rule.key] = Completion(elsewhere[0],
                                                       {"recorded_in": elsewhere[1]})

    def actions(self, rule: Rule) -> None:
        """One obligation per action agreed at a completion: its own title, owner and due date.
        After a recurring obligation, each occurrence's actions: ``<key>#<occurrence>.<k>``."""
        assert rule.after and rule.list_field
        after = self.policy.rule_for_key(rule.after)
        if after is not None and after.recurring:
            completed = [(key, self.facts.done.get(key)) for key, planned in self.out.items()
                         if planned.rule.key == rule.after]
            numbered = [(f"{occurrence_number(key)}.", done) for key, done in completed]
        else:
            numbered = [("", self.facts.done.get(rule.after))]
        for prefix, done in numbered:
            if done is None:
                continue
            for k, item in enumerate(done.data.get(rule.list_field) or [], start=1):
                self.emit(rule, f"{rule.key}#{prefix}{k}", done.done_on, as_when(item["due"]),
                          owner=str(item["owner"]), title=str(item["title"]),
                          anchor=done.done_on)

    def chain(self, rule: Rule) -> None:
        assert rule.first is not None and rule.every is not None
        start = self.anchor(rule.first.anchor)
        opened = start
        due, base = self.value(rule.first), self.based(rule.first)
        used: set[tuple[date, str]] = set()
        # The completion an occurrence is counted from: the first anchor's, then the previous
        # occurrence's (the date a meeting set for the next one).
        source = (self.facts.done.get(rule.first.anchor.name)
                  if rule.first.anchor.kind == "done" else None)
        until = self.ended.get(rule.ends_with) if rule.ends_with else None
        k = n = 1  # k numbers the occurrences; n counts them since the timetable (re)started
        while due is not None and opened is not None and k <= _MAX_OCCURRENCES:
            key = rule.key if k == 1 and not rule.number_first else f"{rule.key}#{k}"
            done = self.facts.done.get(key)
            elsewhere = (self.elsewhere(rule, opened, used) if rule.done_by and done is None
                         else None)
            if elsewhere is not None:  # recorded in the child's other process: done here too
                done = Completion(elsewhere[0], {"recorded_in": elsewhere[1]})
                self.facts.done[key] = done
                used.add(elsewhere)  # one event is one occurrence
            pause = self.paused(rule, opened) if done is None else None
            if pause is not None:
                # Not needed while the child's other process is in its stage (a placement has
                # visits of its own): cancelled, and the timetable starts again when it ends.
                began, ended, ref, stage = pause
                why = f"paused from {began}: {ref} is in its {stage} stage"
                self.emit(rule, key, opened, due, anchor=base, note=why, cancelled_because=why)
                if ended is None:
                    return
                start = opened = base = ended
                due = shift(ended, rule.first.offset) if rule.first.offset else ended
                k, n, source = k + 1, 1, None
                continue
            if rule.or_earlier_field and source is not None:
                sooner = as_when(source.data.get(rule.or_earlier_field))
                if sooner is not None and _day(sooner) < _day(due):
                    due, base = sooner, source.done_on
            due, base, note = self.pulled(rule, opened, due, base, done)
            planned = self.emit(rule, key, opened, due, anchor=base, note=note, until=until)
            if elsewhere is not None:
                self.out[key] = planned = replace(planned, done_elsewhere=elsewhere)
            if planned.cancelled or done is None:
                return
            if rule.last_when is not None and self.holds(rule.last_when, done.data):
                self.ended[rule.key] = done.done_on  # the last one: the chain has ended
                return
            source = done
            every = rule.intervals[n - 1] if n <= len(rule.intervals) else rule.every
            if (rule.then_every is not None and rule.then_after is not None and start is not None
                    and done.done_on >= shift(start, rule.then_after)
                    and self.holds(rule.then_when, done.data)):
                every = rule.then_every  # e.g. a long-term match: the slower interval
            opened, due, base = done.done_on, shift(done.done_on, every), done.done_on
            k, n = k + 1, n + 1

    def paused(self, rule: Rule, opened: date | datetime
               ) -> tuple[date, date | None, str, str] | None:
        """The first pause of the chain (``paused_by``) that covers an occurrence opened on
        ``opened`` and not done: the child's other process in the stage on that day or after.
        Spans that meet or overlap are one pause: a move that ends the last placement starts
        the next. Returns (began, ended or None, the process, its stage)."""
        spans = sorted(((began, ended, ref, event.anchor.name) for event in rule.paused_by
                        for began, ended, ref in self.facts.child_spans.get(event.text, ())),
                       key=lambda span: (span[0], span[2]))
        day = _day(opened)
        found: tuple[date, date | None, str, str] | None = None
        for began, ended, ref, stage in spans:
            if found is None:
                if ended is None or ended > day:  # in the stage on that day, or later
                    found = (began, ended, ref, stage)
                continue
            last = found[1]
            if last is None or began > last:
                break  # the pause found ended before this span began: a pause of its own
            if ended is None or ended > last:
                found = (found[0], ended, found[2], found[3])  # one pause, longer
        return found

    def pulled(self, rule: Rule, opened: date | datetime, due: date | datetime,
               base: date | datetime | None, done: Completion | None
               ) -> tuple[date | datetime, date | datetime | None, str | None]:
        """An occurrence pulled forward by the child's event after it opened (and before it
        was done): due ``pulled_to`` after the earliest such event, when that is sooner."""
        if not rule.pulled_by or rule.pulled_to is None:
            return due, base, None
        events = sorted((day, ref, event.text) for event in rule.pulled_by
                        for day, ref in self.facts.child.get(event.text, ())
                        if day >= _day(opened) and (done is None or day <= done.done_on))
        if not events:
            return due, base, None
        day, ref, _text = events[0]
        sooner = shift(day, rule.pulled_to)
        if _day(sooner) >= _day(due):
            return due, base, None
        return sooner, day, (f"brought forward: within {rule.pulled_to} of the "
                             f"{rule.pulled_what} on {day}, {ref}")

    def holds(self, condition: Condition | None, values: dict[str, Any]) -> bool:
        if condition is None:
            return True
        opening = {f"opening.{k}": v for k, v in self.facts.opening.items()}
        return condition.holds({**opening, **values}, done=set(self.facts.done),
                               forms=set(self.facts.forms), settings=self.policy.settings)

    def each(self, rule: Rule) -> None:
        """One obligation per occurrence of rule ``of`` (``#k`` in its anchors is that one)."""
        assert rule.of is not None and (rule.due is not None or rule.opens is not None)
        for key, occurrence in list(self.out.items()):
            if occurrence.rule.key != rule.of:
                continue
            number = key.rpartition("#")[2] if "#" in key else ""

            def at(expr: DateExpr | None, number: str = number) -> DateExpr | None:
                if expr is None:
                    return None
                name = expr.anchor.name.replace("#k", f"#{number}" if number else "")
                return DateExpr(Anchor(expr.anchor.kind, name, expr.anchor.field,
                                       expr.anchor.where), expr.offset, expr.before)

            due_expr = at(rule.due)
            due = self.value(due_expr)
            if rule.due is not None and due is None:
                continue
            opened = (self.value(at(rule.opens)) if rule.opens is not None
                      else occurrence.opened_on)
            if opened is None:
                continue
            # Set from the occurrence's due date, it moves with it, and says why.
            note = (occurrence.note if rule.due is not None and rule.due.anchor.kind == "due"
                    else None)
            owner = None
            if rule.owner_field is not None:
                completed = self.facts.done.get(key)
                recorded = completed.data.get(rule.owner_field) if completed else None
                owner = str(recorded) if recorded else None
            self.emit(rule, f"{rule.key}#{number}" if number else rule.key, opened, due,
                      anchor=self.based(due_expr), note=note, owner=owner)

    def series(self, rule: Rule) -> None:
        assert rule.start is not None and rule.every is not None
        base = self.value(rule.start)
        if base is None:
            return
        bound = self.anchor(rule.until) if rule.until is not None else None
        if rule.until is not None and bound is None:
            return
        total = rule.count or _MAX_OCCURRENCES
        # Neither count nor until: one at a time, the next once the one before is done.
        open_ended = rule.count is None and rule.until is None
        first = rule.first_offset or rule.every
        k = 1
        previous_due: date | datetime = base
        while k <= total:
            key = rule.key if (k == 1 and not rule.number_first) else f"{rule.key}#{k}"
            due = shift(base, _nth(first, rule.every, k))
            if bound is not None and _day(cal.deadline(_day(due), _day(base))) > _day(bound):
                return
            last = rule.count is not None and k == total
            opened = self.anchor(rule.start.anchor) or base
            earliest = previous_due if last and rule.earliest_last == "previous_due" else None
            planned = self.emit(rule, key, opened, due, earliest,
                                completion=rule.completion_last if last else rule.completion,
                                anchor=base)
            previous_due = planned.due_at or planned.due_on or due
            done = self.facts.done.get(key)
            if (last and done and rule.extend_field and rule.extend_count
                    and str(done.data.get(rule.extend_field)) == rule.extend_value):
                total += rule.extend_count
            if rule.ends_when is not None and done and self.holds(rule.ends_when, done.data):
                return  # completed with the series' end (SCAYT+ support ended)
            if open_ended and (done is None or planned.cancelled):
                return
            k += 1

    def extension(self, rule: Rule) -> None:
        assert rule.after and rule.field and rule.weeks_field
        previous, k = rule.after, 1
        while k <= _MAX_OCCURRENCES:
            done = self.facts.done.get(previous)
            planned_previous = self.out.get(previous)
            if done is None or planned_previous is None or planned_previous.due_on is None:
                return
            if str(done.data.get(rule.field)) != rule.value:
                return
            weeks = int(done.data.get(rule.weeks_field) or 0)
            due = shift(planned_previous.due_on, Duration(weeks, "weeks"))
            previous = f"{rule.key}#{k}"
            self.emit(rule, previous, done.done_on, due, anchor=planned_previous.due_on)
            k += 1

    def run(self) -> list[Planned]:
        for rule in self.policy.rules_for(self.facts.process):
            if rule.when is None or self.holds(rule.when, {}):
                getattr(self, rule.kind)(rule)
        return list(self.out.values())


def occurrence_number(key: str) -> int:
    """The occurrence an obligation key is: ``#k`` is k; a key without a suffix (the first of a
    chain with ``number_first = false``, or a one-off) is 1."""
    number = key.rpartition("#")[2] if "#" in key else "1"
    return int(number.split(".", 1)[0]) if number.split(".", 1)[0].isdigit() else 1


def _nth(first: Duration, every: Duration, k: int) -> Duration | tuple[Duration, Duration]:
    """The offset of the k-th occurrence: first + (k-1) * every, in one unit when they share one."""
    if first.unit == every.unit:
        return Duration(first.amount + every.amount * (k - 1), first.unit)
    return (first, every * (k - 1))


def shift(base: date | datetime, offset: Duration | tuple[Duration, ...]) -> date | datetime:
    """``base`` moved by a duration (or several in turn).

    Hours keep the instant; the other units give dates."""
    if isinstance(offset, tuple):
        for part in offset:
            base = shift(base, part)
        return base
    if offset.is_hours:
        if not isinstance(base, datetime):
            raise ValueError(f"{offset} needs an instant, not the date {base}")
        return offset.after_instant(base)
    return offset.after(_day(base))


def shift_back(base: date | datetime, offset: Duration) -> date | datetime:
    """``base`` less a duration: hours keep the instant; the other units give dates."""
    if offset.is_hours:
        if not isinstance(base, datetime):
            raise ValueError(f"{offset} needs an instant, not the date {base}")
        return offset.before_instant(base)
    return offset.before(_day(base))


def _day(value: date | datetime) -> date:
    return cal.local_date(value) if isinstance(value, datetime) else value


def split_due(due: date | datetime | None, not_before: date | datetime | None = None
              ) -> tuple[date | None, datetime | None]:
    """A due date is moved back to a working day, or forward when back would be before
    ``not_before``, the event it follows (rules); an hour-based instant is not moved."""
    if due is None:
        return None, None
    if isinstance(due, datetime):
        return cal.local_date(due), due
    return cal.deadline(due, _day(not_before) if not_before is not None else None), None


def plan(policy: Policy, facts: Facts) -> list[Planned]:
    """Every obligation of the process, in policy order."""
    return _Planner(policy, facts).run()
