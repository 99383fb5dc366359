"""The practice policy: timescales as data, loaded from a TOML file.

The default policy ships in ``stepdown/policies/default.toml``, beside presets for the source
authorities' own standards; ``STEPDOWN_POLICY`` names a preset or a local authority's own file. A
file may extend another (``[policy] extends = "default"``) and override its rules by key. Every
rule names its source document and section.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from stepdown.domain.calendar import TERM_ENDS, Duration, parse_term_ends
from stepdown.domain.declarations import (
    Catalogue,
    Condition,
    DeclarationError,
    load_catalogue,
    settings_named,
)
from stepdown.domain.vocabulary import ROLES

KINDS = ("once", "chain", "series", "extension", "actions", "each")

# The timescales named checks and the ladder use, when a policy file does not set them.
DEFAULT_SETTINGS: dict[str, Any] = {
    "escalate_after": "5 working days",  # 001 Appendix 1: checked again within 5 working days
    "waiver_window": "84 days",  # 001 section 6: a stability meeting within 12 weeks
    "sdq_discussion_from": 14,  # 000 Stage 1: a score of 14 and above needs the discussion
    # 004: a placement move "can only be agreed through HARP or via the relevant Head of
    # Service", a Step Down move too (form introduction.move_authorisation); false leaves it to
    # PACT's decision to proceed (000 Step 1), as the lancashire-step-down preset does.
    "step_down_move_authorisation": True,
}

_ANCHOR = re.compile(
    r"^(?:stage(?::(?P<stage>[a-z_]+))?"
    r"|(?P<ref>done|due|last_due):(?P<keys>[a-z0-9_.#|]+)"
    r"|form:(?P<form>[a-z0-9_]+\.[a-z0-9_]+)\.(?P<field>[a-z0-9_]+)(?:\[(?P<cf>[a-z_]+)=(?P<cv>[A-Za-z0-9_.]+)\])?)$"
)


class PolicyError(ValueError):
    """A policy file that cannot be used, with the rule and the reason."""


_CHILD = re.compile(r"^(?P<kind>[a-z][a-z0-9_]*):"
                    r"(?P<anchor>stage:[a-z_]+|form:[a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_]+"
                    r"|done:[a-z0-9_]+\.[a-z0-9_]+)$")


@dataclass(frozen=True)
class ChildEvent:
    """A dated event in the child's other processes of ``kind``: a stage's start
    (``placement:stage:placement``), a form's date field
    (``placement:form:placement.move.moved_on``) or an obligation done (``cla:done:cla.review``:
    any occurrence, ``#k``, of it)."""

    kind: str
    anchor: Anchor
    text: str

    @classmethod
    def parse(cls, text: str) -> ChildEvent:
        match = _CHILD.match(text.strip())
        if not match:
            raise PolicyError(f"child event {text!r} is not '<kind>:stage:<name>', "
                              "'<kind>:form:<form>.<field>' or '<kind>:done:<key>'")
        return cls(match.group("kind"), Anchor.parse(match.group("anchor"), stage=""), text)


@dataclass(frozen=True)
class Anchor:
    """A named date in a process's record: a stage start, a done date, a due date, a form field."""

    kind: str  # stage | done | due | last_due | form
    name: str  # stage name, obligation key(s) joined by '|', or form name
    field: str | None = None
    where: tuple[str, str] | None = None

    @classmethod
    def parse(cls, text: str, *, stage: str) -> Anchor:
        match = _ANCHOR.match(text.strip())
        if not match:
            raise PolicyError(f"anchor {text!r} is not one of stage, stage:<name>, done:<key>, "
                              "due:<key>, last_due:<key>, form:<form>.<field>[<f>=<v>]")
        if match.group("ref"):
            return cls(match.group("ref"), match.group("keys"))
        if match.group("form"):
            where = (match.group("cf"), match.group("cv")) if match.group("cf") else None
            return cls("form", match.group("form"), match.group("field"), where)
        return cls("stage", match.group("stage") or stage)

    def __str__(self) -> str:
        if self.kind == "stage":
            return f"stage:{self.name}"
        if self.kind != "form":
            return f"{self.kind}:{self.name}"
        where = f"[{self.where[0]}={self.where[1]}]" if self.where else ""
        return f"form:{self.name}.{self.field}{where}"


@dataclass(frozen=True)
class DateExpr:
    """``<anchor> [+ <duration>]``, or ``<anchor> - <duration>``: a deadline set before another
    one counts back from it (DOMAIN.md section 2: D - N working days)."""

    anchor: Anchor
    offset: Duration | None = None
    before: bool = False

    @classmethod
    def parse(cls, text: str, *, stage: str) -> DateExpr:
        match = re.match(r"^(?P<anchor>[^+-]+?)\s*(?:(?P<sign>[+-])\s*(?P<offset>.+))?$",
                         text.strip())
        if not match:
            raise PolicyError(f"{text!r} is not '<anchor> [+|- <duration>]'")
        offset = Duration.parse(match.group("offset")) if match.group("offset") else None
        return cls(Anchor.parse(match.group("anchor"), stage=stage), offset,
                   before=match.group("sign") == "-")

    def __str__(self) -> str:
        if self.offset is None:
            return str(self.anchor)
        return f"{self.anchor} {'-' if self.before else '+'} {self.offset}"


@dataclass(frozen=True)
class Rule:
    key: str
    process: str
    stage: str
    owner: str
    title: str
    source: str
    kind: str = "once"
    due: DateExpr | None = None
    earliest: DateExpr | None = None
    opens: DateExpr | None = None
    completion: str | None = None
    ends_with_stage: bool = False  # cancelled if still open when its stage ends before its due
    owner_from: Anchor | None = None  # a recorded role (the meeting's chair) owns it
    or_earlier: DateExpr | None = None  # due on this recorded date instead, if it is earlier
    # chain
    first: DateExpr | None = None
    every: Duration | None = None
    # series
    start: DateExpr | None = None
    first_offset: Duration | None = None
    count: int | None = None
    until: Anchor | None = None
    number_first: bool = True
    completion_last: str | None = None
    earliest_last: str | None = None  # "previous_due": the last is not held before the one before
    extend_field: str | None = None
    extend_value: str | None = None
    extend_count: int | None = None
    # extension
    after: str | None = None
    field: str | None = None
    value: str | None = None
    weeks_field: str | None = None
    # actions: one obligation per item of a list recorded at a completion
    list_field: str | None = None
    # any kind: the rule applies only when this holds (``opening.<field>``, done:, form:)
    when: Condition | None = None
    # chain: the intervals after the first occurrences, before ``every`` applies (a review 3
    # months after the first, then every 6 months)
    intervals: tuple[Duration, ...] = ()
    # chain: the next occurrence is pulled forward to ``pulled_to`` after an event of the
    # child's other processes (a move of placement) after it opened, when it was due later
    pulled_by: tuple[ChildEvent, ...] = ()
    pulled_to: Duration | None = None
    pulled_what: str = "placement change"  # what the event is, in the timeline's note
    # chain: paused while one of the child's other processes is in a stage (``<kind>:stage:
    # <stage>``: a placement after its move has visits of its own). An occurrence open when a
    # pause begins is cancelled; when the pause ends the timetable starts again, ``first``'s
    # offset after that day.
    paused_by: tuple[ChildEvent, ...] = ()
    # once, chain: the same event recorded in the child's other process is this obligation
    # done (one looked-after review, asked for by Step Down and by the cla process): an event
    # of ``done_by`` on or after the obligation opened, while it is open, completes it
    done_by: tuple[ChildEvent, ...] = ()
    # chain: a slower interval once ``then_after`` has passed since the first anchor, when the
    # previous occurrence's completion says ``then_when`` (a long-term match: 6-monthly visits)
    then_every: Duration | None = None
    then_after: Duration | None = None
    then_when: Condition | None = None
    # each: one obligation per occurrence of rule ``of`` (its anchors' ``#k`` is the occurrence)
    of: str | None = None
    # each: the role recorded in this field of the occurrence's completion owns it (a chair)
    owner_field: str | None = None
    # chain: each occurrence is due on the date in this field of the completion it is counted
    # from (the first anchor's ``done:`` completion, then the previous occurrence's), if earlier
    or_earlier_field: str | None = None
    # chain: an occurrence completed with fields for which this holds is the last (the chain
    # has ended on its done_on)
    last_when: Condition | None = None
    # chain: recurs only while the chain ``ends_with`` runs: once that one has ended, an
    # occurrence due after its end is cancelled and none follows
    ends_with: str | None = None
    # series: no later occurrence once one is completed with fields for which this holds (SCAYT+
    # support ended); a series with neither count nor until plans its next occurrence once the
    # one before is done, while its stage runs
    ends_when: Condition | None = None

    @property
    def is_checklist(self) -> bool:
        return self.kind == "once" and self.due is None

    @property
    def recurring(self) -> bool:
        return self.kind in ("chain", "series", "extension", "each")


@dataclass(frozen=True)
class Policy:
    name: str
    rules: tuple[Rule, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    # Where the policy and the process declarations disagree (an obligation with no rule).
    problems: tuple[str, ...] = ()
    # The policies it extends, nearest first (``[policy] extends``).
    extends: tuple[str, ...] = ()

    def rules_for(self, process: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.process == process)

    def rule_for_key(self, key: str) -> Rule | None:
        """The rule an obligation key (``preparation.review#3``) comes from."""
        base = key.split("#", 1)[0]
        return next((r for r in self.rules if r.key == base), None)

    def duration(self, name: str, default: str) -> Duration:
        return Duration.parse(str(self.settings.get(name, default)))

    @property
    def escalate_after(self) -> int:
        """Working days from an obligation's overdue flag to its escalation (checked at load)."""
        return self.duration("escalate_after", str(DEFAULT_SETTINGS["escalate_after"])).amount


_ALLOWED = {
    "once": {"due", "earliest", "opens", "completion", "ends_with_stage", "owner_from",
             "or_earlier", "done_by"},
    "chain": {"first", "every", "intervals", "pulled_by", "pulled_to", "pulled_what", "then_every",
              "then_after", "then_when", "completion", "number_first", "or_earlier_field",
              "last_when", "ends_with", "done_by", "paused_by"},
    "each": {"of", "due", "opens", "completion", "owner_field"},
    "series": {"start", "first", "every", "count", "until", "number_first", "completion_last",
               "earliest_last", "extend_field", "extend_value", "extend_count", "completion",
               "ends_when"},
    "extension": {"after", "field", "value", "weeks_field", "completion"},
    "actions": {"after", "list_field"},
}
_COMMON = {"key", "kind", "process", "stage", "owner", "title", "source", "when"}


def _condition(raw: dict[str, Any], name: str, catalogue: Catalogue,
               fields: set[str] | None = None) -> Condition | None:
    """A rule's condition: over the process's opening form (``opening.<field>``), done: and
    form:, or (``fields``) over a completion's fields; the names are checked here."""
    if name not in raw:
        return None
    try:
        condition = Condition.parse(str(raw[name]))
    except DeclarationError as exc:
        raise PolicyError(str(exc)) from None
    process = catalogue.processes[raw["process"]]
    opening = catalogue.forms[process.opening]
    known = ({f"opening.{f.name}" for f in opening.fields} if fields is None else fields)
    for clause in condition.clauses:
        # policy.<setting>: checked against the settings once the policy is read
        if clause.ref is None and clause.name not in known and not clause.name.startswith(
                "policy."):
            raise PolicyError(f"{name} {condition.text!r} names {clause.name!r}: it may name "
                              f"{', '.join(sorted(known)) or 'no field'}")
    return condition


def _rule(raw: dict[str, Any], index: int, catalogue: Catalogue,
          terms: tuple[tuple[int, int], ...] = TERM_ENDS) -> Rule:
    where = f"rule {raw.get('key', '?')}" if raw.get("key") else f"rule {index + 1}"
    for name in ("key", "process", "stage", "owner", "title", "source"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise PolicyError(f"{where}: '{name}' is required")
    kind = raw.get("kind", "once")
    if kind not in KINDS:
        raise PolicyError(f"{where}: kind must be one of {', '.join(KINDS)}")
    unknown = set(raw) - _COMMON - _ALLOWED[kind]
    if unknown:
        raise PolicyError(f"{where}: {', '.join(sorted(unknown))} not allowed for kind {kind}")
    if raw["process"] not in catalogue.processes:
        raise PolicyError(f"{where}: process must be a declared kind, one of "
                          f"{', '.join(catalogue.kinds)}")
    stages = catalogue.processes[raw["process"]].stage_names
    if raw["stage"] not in stages:
        raise PolicyError(f"{where}: stage {raw['stage']!r} is not a stage of {raw['process']} "
                          f"({', '.join(stages)})")
    for completion in (raw.get("completion"), raw.get("completion_last")):
        if completion and catalogue.forms.get(completion) is None:
            raise PolicyError(f"{where}: completion {completion!r} is not a declared "
                              "completion form")
    if raw["owner"] not in ROLES:
        raise PolicyError(f"{where}: owner {raw['owner']!r} is not a role of DOMAIN.md")
    stage = raw["stage"]
    try:
        def expr(name: str) -> DateExpr | None:
            return DateExpr.parse(raw[name], stage=stage) if name in raw else None

        def dur(name: str) -> Duration | None:
            return _duration(raw[name], terms) if name in raw else None

        done_by = tuple(ChildEvent.parse(str(t)) for t in raw.get("done_by", ()))
        for event in done_by:
            if event.kind not in catalogue.processes:
                raise PolicyError(f"{where}: done_by {event.text!r}: {event.kind!r} is not a "
                                  "declared kind")
        common = dict(key=raw["key"], process=raw["process"], stage=stage, owner=raw["owner"],
                      title=raw["title"], source=raw["source"], kind=kind,
                      when=_condition(raw, "when", catalogue), done_by=done_by)
        if kind == "once":
            return Rule(**common, due=expr("due"), earliest=expr("earliest"), opens=expr("opens"),
                        completion=raw.get("completion"),
                        ends_with_stage=bool(raw.get("ends_with_stage", False)),
                        owner_from=(Anchor.parse(raw["owner_from"], stage=stage)
                                    if "owner_from" in raw else None),
                        or_earlier=expr("or_earlier"))
        if kind == "actions":
            if "after" not in raw or "list_field" not in raw:
                raise PolicyError(f"{where}: actions need 'after' and 'list_field'")
            return Rule(**common, after=raw["after"], list_field=raw["list_field"])
        if kind == "chain":
            if "first" not in raw or "every" not in raw:
                raise PolicyError(f"{where}: a chain needs 'first' and 'every'")
            if ("pulled_by" in raw) != ("pulled_to" in raw):
                raise PolicyError(f"{where}: pulled_by and pulled_to go together")
            then = [n for n in ("then_every", "then_after", "then_when") if n in raw]
            if then and len(then) != 3:
                raise PolicyError(f"{where}: then_every, then_after and then_when go together")
            completion_fields = None
            for name in ("then_when", "last_when", "or_earlier_field"):
                if name not in raw:
                    continue
                decl = catalogue.forms.get(str(raw.get("completion")))
                if decl is None:
                    raise PolicyError(f"{where}: {name} needs the completion whose fields "
                                      "it reads")
                completion_fields = {f.name for f in decl.fields}
            if "or_earlier_field" in raw:
                decl = catalogue.forms[str(raw["completion"])]
                dates = {f.name for f in decl.fields if f.type == "date"}
                if raw["or_earlier_field"] not in dates:
                    raise PolicyError(f"{where}: or_earlier_field {raw['or_earlier_field']!r} "
                                      f"is not a date field of {decl.key} "
                                      f"({', '.join(sorted(dates)) or 'none'})")
            pulled = tuple(ChildEvent.parse(str(t)) for t in raw.get("pulled_by", ()))
            paused = tuple(ChildEvent.parse(str(t)) for t in raw.get("paused_by", ()))
            for name, events in (("pulled_by", pulled), ("paused_by", paused)):
                for event in events:
                    if event.kind not in catalogue.processes:
                        raise PolicyError(f"{name} {event.text!r}: {event.kind!r} is not a "
                                          "declared kind")
            for event in paused:
                if event.anchor.kind != "stage":
                    raise PolicyError(f"paused_by {event.text!r}: a pause is a stage of the "
                                      "child's other process, '<kind>:stage:<stage>'")
            return Rule(**common, first=expr("first"), every=dur("every"),
                        intervals=tuple(_duration(t, terms) for t in raw.get("intervals", ())),
                        pulled_by=pulled, pulled_to=dur("pulled_to"),
                        pulled_what=str(raw.get("pulled_what", "placement change")),
                        paused_by=paused,
                        then_every=dur("then_every"), then_after=dur("then_after"),
                        then_when=_condition(raw, "then_when", catalogue, completion_fields),
                        completion=raw.get("completion"),
                        number_first=bool(raw.get("number_first", True)),
                        or_earlier_field=raw.get("or_earlier_field"),
                        last_when=_condition(raw, "last_when", catalogue, completion_fields),
                        ends_with=raw.get("ends_with"))
        if kind == "each":
            if "of" not in raw or ("due" not in raw and "opens" not in raw):
                raise PolicyError(f"{where}: an each rule needs 'of', and 'due' or (a checklist "
                                  "item) 'opens'")
            return Rule(**common, of=str(raw["of"]), due=expr("due"), opens=expr("opens"),
                        completion=raw.get("completion"), owner_field=raw.get("owner_field"))
        if kind == "series":
            if "start" not in raw or "every" not in raw:
                raise PolicyError(f"{where}: a series needs 'start' and 'every'")
            if "count" in raw and "until" in raw:
                raise PolicyError(f"{where}: a series needs exactly one of 'count' and 'until'")
            if "count" not in raw and "until" not in raw and "ends_when" not in raw:
                raise PolicyError(f"{where}: a series needs exactly one of 'count' and 'until' "
                                  "(or 'ends_when': it recurs until a completion ends it)")
            if raw.get("earliest_last", "previous_due") != "previous_due":
                raise PolicyError(f"{where}: earliest_last must be 'previous_due'")
            ends_fields = None
            if "ends_when" in raw:
                decl = catalogue.forms.get(str(raw.get("completion")))
                if decl is None:
                    raise PolicyError(f"{where}: ends_when needs the completion whose fields "
                                      "it reads")
                ends_fields = {f.name for f in decl.fields}
            return Rule(
                **common, start=expr("start"), every=dur("every"), first_offset=dur("first"),
                count=raw.get("count"),
                until=Anchor.parse(raw["until"], stage=stage) if "until" in raw else None,
                number_first=bool(raw.get("number_first", True)),
                completion_last=raw.get("completion_last"), earliest_last=raw.get("earliest_last"),
                extend_field=raw.get("extend_field"),
                extend_value=raw.get("extend_value"), extend_count=raw.get("extend_count"),
                completion=raw.get("completion"),
                ends_when=_condition(raw, "ends_when", catalogue, ends_fields),
            )
        for name in ("after", "field", "value", "weeks_field"):
            if name not in raw:
                raise PolicyError(f"{where}: an extension needs '{name}'")
        return Rule(**common, after=raw["after"], field=raw["field"], value=raw["value"],
                    weeks_field=raw["weeks_field"], completion=raw.get("completion"))
    except PolicyError as exc:
        if str(exc).startswith(where):
            raise
        raise PolicyError(f"{where}: {exc}") from exc
    except ValueError as exc:
        raise PolicyError(f"{where}: {exc}") from exc


def _duration(text: Any, terms: tuple[tuple[int, int], ...]) -> Duration:
    duration = Duration.parse(str(text))
    return Duration(duration.amount, duration.unit, terms) if duration.unit == "terms" else duration


def parse_policy(text: str, *, path: str = "<string>",
                 catalogue: Catalogue | None = None) -> Policy:
    """A policy file's rules, checked against the declarations (the shipped ones, unless
    ``catalogue`` is given). With ``catalogue``, the rules its declarations carry follow, for
    the keys the file does not have: a policy file overrides a declared rule by its key."""
    whole = catalogue is not None  # the policy in use: it and the declarations must agree
    declared = catalogue.rules if catalogue is not None else []
    catalogue = catalogue or load_catalogue()
    data, files, extends = _policy_data(text, path, ())
    settings = {**DEFAULT_SETTINGS, **data.get("settings", {})}
    # Settings read outside the rules: term dates, and the SSDA903 import's unplanned reasons
    # (stepdown.ssda903 checks its value).
    known = {*DEFAULT_SETTINGS, "term_ends", "ssda903_unplanned_reasons",
             *settings_named(catalogue)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise PolicyError(f"{path}: [settings] {unknown[0]!r} is not a setting: the settings are "
                          f"{', '.join(sorted(known))}")
    try:
        terms = parse_term_ends(settings["term_ends"]) if "term_ends" in settings else TERM_ENDS
        escalate = Duration.parse(str(settings["escalate_after"]))
    except ValueError as exc:
        raise PolicyError(f"{path}: [settings] {exc}") from None
    if escalate.unit != "working_days" or escalate.amount < 1:
        raise PolicyError(f"{path}: [settings] escalate_after: must be a number of working days "
                          f"(at least 1), as '5 working days'")
    raws = list(data.get("rule", []))
    own = {raw.get("key") for raw in raws}
    raws += [raw for raw in declared if raw.get("key") not in own]
    # Each rule's file, to name in an error: this one, one it extends, or the declaration that
    # carries the rule.
    origins = [*files, *(catalogue.processes[raw["process"]].path for raw in raws[len(files):])]
    parsed = []
    for i, raw in enumerate(raws):
        try:
            parsed.append(_rule(raw, i, catalogue, terms))
        except PolicyError as exc:
            raise PolicyError(f"{origins[i]}: {exc}") from None
    rules = tuple(parsed)
    keys = [r.key for r in rules]
    # A key may have variants, each with its own condition (a planned and an emergency move).
    duplicates = sorted({k for k in keys if keys.count(k) > 1
                         and any(r.when is None for r in rules if r.key == k)})
    if duplicates:
        raise PolicyError(f"{path}: rule keys appear twice: {', '.join(duplicates)} (variants "
                          "of one key each need their own 'when')")
    for i, rule in enumerate(rules):
        before = {r.key: r for r in rules[:i] if r.process == rule.process}
        if rule.of is not None and rule.of not in before:
            raise PolicyError(f"{origins[i]}: rule {rule.key}: of {rule.of!r} is not a rule of "
                              f"{rule.process} before it")
        if rule.ends_with is not None and (rule.ends_with not in before
                                           or before[rule.ends_with].last_when is None):
            raise PolicyError(f"{origins[i]}: rule {rule.key}: ends_with {rule.ends_with!r} is "
                              f"not a chain of {rule.process} before it with a last_when")
        if rule.owner_field is not None and rule.of in before:
            decl = catalogue.forms.get(before[rule.of].completion or "")
            known = {f.name for f in (decl.fields if decl else ()) if f.type == "role" or (
                f.type == "choice" and set(f.choices) <= set(ROLES))}
            if rule.owner_field not in known:
                raise PolicyError(f"{origins[i]}: rule {rule.key}: owner_field "
                                  f"{rule.owner_field!r} is not a role field of "
                                  f"{rule.of}'s completion ({', '.join(sorted(known)) or 'none'})")
        after = before.get(rule.after or "")
        if rule.kind == "actions" and rule.after and after is None and any(
                r.key == rule.after and r.recurring for r in rules):
            raise PolicyError(f"{origins[i]}: rule {rule.key}: after {rule.after!r}, a "
                              "recurring rule, must come before it")
    _check_names(rules, catalogue, origins)
    for rule, origin in zip(rules, origins, strict=True):
        for condition in (rule.when, rule.then_when, rule.ends_when):
            if condition is None:
                continue
            for clause in condition.clauses:
                name = clause.name.removeprefix("policy.")
                if clause.ref is None and clause.name != name and name not in settings:
                    raise PolicyError(f"{origin}: rule {rule.key}: {condition.text!r} names "
                                      f"policy.{name}, not a setting ({', '.join(sorted(known))})")
    problems = _check_declarations(catalogue, rules, settings, path) if whole else ()
    meta = data.get("policy", {})
    return Policy(name=meta.get("name", Path(path).stem), rules=rules,
                  settings=settings, path=path, problems=problems, extends=extends)


_FILE_TABLES = {"policy", "settings", "rule"}
_POLICY_KEYS = {"name", "timezone", "extends"}


def _policy_data(text: str, path: str, seen: tuple[str, ...]
                 ) -> tuple[dict[str, Any], list[str], tuple[str, ...]]:
    """A policy file's tables, with the policy it extends under them: its settings, and its
    rules but those the file overrides by key (all the variants of a key; an override takes
    the place of the first). Also each rule's file, and the names of the policies extended,
    nearest first."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - _FILE_TABLES)
    if unknown:
        raise PolicyError(f"{path}: {unknown[0]!r} is not a table of a policy file: it has "
                          "[policy], [settings] and [[rule]]s")
    meta = data.get("policy", {})
    unknown = sorted(set(meta) - _POLICY_KEYS)
    if unknown:
        raise PolicyError(f"{path}: [policy] {unknown[0]!r} is not allowed: [policy] has "
                          f"{', '.join(sorted(_POLICY_KEYS))}")
    if "extends" not in meta:
        return data, [path] * len(data.get("rule", [])), ()
    if not isinstance(meta["extends"], str) or not meta["extends"].strip():
        raise PolicyError(f"{path}: [policy] extends must name a preset or a policy file")
    try:
        base_text, base_path = policy_text(meta["extends"], base=Path(path).parent)
    except PolicyError as exc:
        raise PolicyError(f"{path}: [policy] extends: {exc}") from None
    chain = (*seen, path)
    if base_path in chain:
        raise PolicyError(f"{path}: [policy] extends {meta['extends']!r}, which extends it: "
                          f"{' -> '.join((*chain, base_path))}")
    under, under_files, extended = _policy_data(base_text, base_path, chain)
    own: dict[Any, list[dict[str, Any]]] = {}
    for raw in data.get("rule", []):
        own.setdefault(raw.get("key"), []).append(raw)
    rules: list[dict[str, Any]] = []
    files: list[str] = []
    for raw, file in zip(under.get("rule", []), under_files, strict=True):
        key = raw.get("key")
        if key not in own:
            rules.append(raw)
            files.append(file)
        elif own[key]:
            rules += own[key]
            files += [path] * len(own[key])
            own[key] = []  # placed where the base's first variant was
    added = [raw for variants in own.values() for raw in variants]
    rules += added
    files += [path] * len(added)
    policy = {**under.get("policy", {}), **meta, "name": meta.get("name", Path(path).stem)}
    policy.pop("extends")
    merged = {"policy": policy, "rule": rules,
              "settings": {**under.get("settings", {}), **data.get("settings", {})}}
    return merged, files, (Path(base_path).stem, *extended)


def _check_names(rules: tuple[Rule, ...], catalogue: Catalogue, origins: list[str]) -> None:
    """The names a rule's anchors read exist: a stage of the process, an obligation (a rule of
    the process), a form of it (or an obligation's completion) and that form's field. A
    misspelt one would leave its obligation undated, silently."""
    from stepdown.domain.forms import Done, Form

    keys: dict[str, set[str]] = {}
    for rule in rules:
        keys.setdefault(rule.process, set()).add(rule.key)

    def fields(process: str, name: str) -> set[str] | None:
        form = catalogue.forms.get(name)
        if form is not None and form.process == process and form.kind != "completion":
            return {f.name for f in form.fields} | set(Form.model_fields)
        variants = [r for r in rules if r.process == process and r.key == name]
        if not variants:
            return None
        known = set(Done.model_fields)
        for variant in variants:
            for completion in (variant.completion, variant.completion_last):
                decl = catalogue.forms.get(completion or "")
                known |= {f.name for f in decl.fields} if decl is not None else set()
        return known

    def check(path: str, rule: Rule, what: str, anchor: Anchor | None, process: str) -> None:
        where = f"{path}: rule {rule.key}: {what} {str(anchor)!r}"
        if anchor is None:
            return
        if anchor.kind == "stage":
            stages = catalogue.processes[process].stage_names
            if anchor.name not in stages:
                raise PolicyError(f"{where} names stage {anchor.name!r}, not a stage of "
                                  f"{process} ({', '.join(stages)})")
        elif anchor.kind != "form":
            for name in anchor.name.split("|"):
                if name.split("#", 1)[0] not in keys.get(process, set()):
                    raise PolicyError(f"{where} names {name!r}, not an obligation (a rule) of "
                                      f"{process}")
        else:
            known = fields(process, anchor.name)
            if known is None:
                raise PolicyError(f"{where} names {anchor.name!r}, neither a form of {process} "
                                  "nor one of its obligations")
            for field_name in (anchor.field, anchor.where[0] if anchor.where else None):
                if field_name is not None and field_name not in known:
                    raise PolicyError(f"{where} names {field_name!r}, not a field of "
                                      f"{anchor.name} ({', '.join(sorted(known))})")

    for rule, path in zip(rules, origins, strict=True):
        for what in ("due", "earliest", "opens", "or_earlier", "first", "start"):
            expr = getattr(rule, what)
            check(path, rule, what, expr.anchor if expr is not None else None, rule.process)
        check(path, rule, "until", rule.until, rule.process)
        check(path, rule, "owner_from", rule.owner_from, rule.process)
        for event in rule.pulled_by:
            check(path, rule, "pulled_by", event.anchor, event.kind)
        for event in rule.paused_by:
            check(path, rule, "paused_by", event.anchor, event.kind)
        for event in rule.done_by:  # a policy without that rule of the other kind never sees it
            if event.anchor.name.split("#", 1)[0] in keys.get(event.kind, set()):
                check(path, rule, "done_by", event.anchor, event.kind)
        after = rule.after or rule.key  # the completion a list, an extension or a series reads
        for what in ("list_field", "field", "weeks_field", "extend_field"):
            name = getattr(rule, what)
            known = fields(rule.process, after) or set()
            if name is not None and name not in known:
                raise PolicyError(f"{path}: rule {rule.key}: {what} {name!r} is not a field of "
                                  f"{after}'s completion ({', '.join(sorted(known))})")


def _check_declarations(catalogue: Catalogue, rules: tuple[Rule, ...],
                        settings: dict[str, Any], path: str) -> tuple[str, ...]:
    """The declarations and the policy agree. A setting a declaration names must be set (else
    a form would fail when submitted). An obligation a declaration names that the policy has no
    rule for is a problem, not an error: its completion simply records nothing (a policy may
    leave a process out); `stepdown kinds` shows the problems."""
    from stepdown.domain.declarations import obligations_named

    keys = {rule.key for rule in rules}
    problems = tuple(f"{where}: names obligation {key!r}, which {path} has no rule for"
                     for key, where in obligations_named(catalogue).items()
                     if key.split("#", 1)[0] not in keys)
    missing = sorted(settings_named(catalogue) - set(settings))
    if missing:
        raise PolicyError(f"{path}: [settings] has no {', '.join(missing)}, which the process "
                          "declarations name (policy.<setting>)")
    return problems


_PRESET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def presets() -> tuple[str, ...]:
    """The policies shipped in ``stepdown/policies``, by name: ``default`` and the presets for
    the source authorities' own standards."""
    folder = resources.files("stepdown.policies")
    return tuple(sorted(f.name.removesuffix(".toml") for f in folder.iterdir()
                        if f.name.endswith(".toml")))


def default_policy_text() -> str:
    return resources.files("stepdown.policies").joinpath("default.toml").read_text("utf-8")


def policy_text(value: str, *, base: Path | None = None) -> tuple[str, str]:
    """The text of the policy ``value`` names, and its name for messages: a shipped preset by
    its name (``somerset``), else a file (relative to ``base``, when given)."""
    if value in presets():
        return (resources.files("stepdown.policies").joinpath(f"{value}.toml")
                .read_text("utf-8"), f"{value}.toml")
    file = Path(value) if base is None else base / value
    if file.is_file():
        return file.read_text("utf-8"), str(file)
    if _PRESET_NAME.match(value):  # a name, not a path
        raise PolicyError(f"unknown preset {value!r}: the shipped presets are "
                          f"{', '.join(presets())} (or give the path of a policy file)")
    raise PolicyError(f"no policy file at {file}")


@lru_cache(maxsize=8)
def load_policy(path: str | None = None, processes: str | None = None) -> Policy:
    """The policy ``path`` names (a shipped preset or a file), or the default one, over the
    shipped declarations and a local authority's own (``processes``)."""
    catalogue = load_catalogue(processes)
    try:
        text, name = policy_text(path or "default")
    except PolicyError as exc:
        raise PolicyError(f"STEPDOWN_POLICY: {exc}") from None
    return parse_policy(text, path=name, catalogue=catalogue)
