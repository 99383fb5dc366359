"""The practice policy: timescales as data, loaded from a TOML file.

The default policy ships in ``stepdown/policies/default.toml``; a local authority points
``STEPDOWN_POLICY`` at its own copy. Every rule names its source document and section.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from stepdown.domain.calendar import Duration
from stepdown.domain.declarations import Catalogue, load_catalogue
from stepdown.domain.vocabulary import ROLES

KINDS = ("once", "chain", "series", "extension", "actions")

# The timescales named checks and the ladder use, when a policy file does not set them.
DEFAULT_SETTINGS: dict[str, Any] = {
    "escalate_after": "5 working days",  # 001 Appendix 1: checked again within 5 working days
    "waiver_window": "84 days",  # 001 section 6: a stability meeting within 12 weeks
    "sdq_discussion_from": 14,  # 000 Stage 1: a score of 14 and above needs the discussion
}

_ANCHOR = re.compile(
    r"^(?:stage(?::(?P<stage>[a-z_]+))?"
    r"|(?P<ref>done|due|last_due):(?P<keys>[a-z0-9_.#|]+)"
    r"|form:(?P<form>[a-z0-9_]+\.[a-z0-9_]+)\.(?P<field>[a-z0-9_]+)(?:\[(?P<cf>[a-z_]+)=(?P<cv>[A-Za-z0-9_.]+)\])?)$"
)


class PolicyError(ValueError):
    """A policy file that cannot be used, with the rule and the reason."""


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

    @property
    def is_checklist(self) -> bool:
        return self.kind == "once" and self.due is None

    @property
    def recurring(self) -> bool:
        return self.kind in ("chain", "series", "extension")


@dataclass(frozen=True)
class Policy:
    name: str
    rules: tuple[Rule, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    # Where the policy and the process declarations disagree (an obligation with no rule).
    problems: tuple[str, ...] = ()

    def rules_for(self, process: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.process == process)

    def rule_for_key(self, key: str) -> Rule | None:
        """The rule an obligation key (``preparation.review#3``) comes from."""
        base = key.split("#", 1)[0]
        return next((r for r in self.rules if r.key == base), None)

    def duration(self, name: str, default: str) -> Duration:
        return Duration.parse(str(self.settings.get(name, default)))


_ALLOWED = {
    "once": {"due", "earliest", "opens", "completion", "ends_with_stage", "owner_from",
             "or_earlier"},
    "chain": {"first", "every"},
    "series": {"start", "first", "every", "count", "until", "number_first", "completion_last",
               "earliest_last", "extend_field", "extend_value", "extend_count"},
    "extension": {"after", "field", "value", "weeks_field", "completion"},
    "actions": {"after", "list_field"},
}
_COMMON = {"key", "kind", "process", "stage", "owner", "title", "source"}


def _rule(raw: dict[str, Any], index: int, catalogue: Catalogue) -> Rule:
    where = f"rule {index + 1} ({raw.get('key', '?')})"
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
    completion = raw.get("completion") or raw.get("completion_last")
    if completion and catalogue.forms.get(completion) is None:
        raise PolicyError(f"{where}: completion {completion!r} is not a declared completion form")
    if raw["owner"] not in ROLES:
        raise PolicyError(f"{where}: owner {raw['owner']!r} is not a role of DOMAIN.md")
    stage = raw["stage"]
    try:
        def expr(name: str) -> DateExpr | None:
            return DateExpr.parse(raw[name], stage=stage) if name in raw else None

        def dur(name: str) -> Duration | None:
            return Duration.parse(raw[name]) if name in raw else None

        common = dict(key=raw["key"], process=raw["process"], stage=stage, owner=raw["owner"],
                      title=raw["title"], source=raw["source"], kind=kind)
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
            return Rule(**common, first=expr("first"), every=dur("every"))
        if kind == "series":
            if "start" not in raw or "every" not in raw:
                raise PolicyError(f"{where}: a series needs 'start' and 'every'")
            if ("count" in raw) == ("until" in raw):
                raise PolicyError(f"{where}: a series needs exactly one of 'count' and 'until'")
            if raw.get("earliest_last", "previous_due") != "previous_due":
                raise PolicyError(f"{where}: earliest_last must be 'previous_due'")
            return Rule(
                **common, start=expr("start"), every=dur("every"), first_offset=dur("first"),
                count=raw.get("count"),
                until=Anchor.parse(raw["until"], stage=stage) if "until" in raw else None,
                number_first=bool(raw.get("number_first", True)),
                completion_last=raw.get("completion_last"), earliest_last=raw.get("earliest_last"),
                extend_field=raw.get("extend_field"),
                extend_value=raw.get("extend_value"), extend_count=raw.get("extend_count"),
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


def parse_policy(text: str, *, path: str = "<string>",
                 catalogue: Catalogue | None = None) -> Policy:
    """A policy file's rules, checked against the declarations (the shipped ones, unless
    ``catalogue`` is given). With ``catalogue``, the rules its declarations carry follow, for
    the keys the file does not have: a policy file overrides a declared rule by its key."""
    whole = catalogue is not None  # the policy in use: it and the declarations must agree
    declared = catalogue.rules if catalogue is not None else []
    catalogue = catalogue or load_catalogue()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from exc
    raws = list(data.get("rule", []))
    own = {raw.get("key") for raw in raws}
    raws += [raw for raw in declared if raw.get("key") not in own]
    rules = tuple(_rule(raw, i, catalogue) for i, raw in enumerate(raws))
    keys = [r.key for r in rules]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise PolicyError(f"{path}: rule keys appear twice: {', '.join(duplicates)}")
    settings = {**DEFAULT_SETTINGS, **data.get("settings", {})}
    problems = _check_declarations(catalogue, rules, settings, path) if whole else ()
    meta = data.get("policy", {})
    return Policy(name=meta.get("name", Path(path).stem), rules=rules,
                  settings=settings, path=path, problems=problems)


def _check_declarations(catalogue: Catalogue, rules: tuple[Rule, ...],
                        settings: dict[str, Any], path: str) -> tuple[str, ...]:
    """The declarations and the policy agree. A setting a declaration names must be set (else
    a form would fail when submitted). An obligation a declaration names that the policy has no
    rule for is a problem, not an error: its completion simply records nothing (a policy may
    leave a process out); `stepdown kinds` shows the problems."""
    from stepdown.domain.declarations import obligations_named, settings_named

    keys = {rule.key for rule in rules}
    problems = tuple(f"{where}: names obligation {key!r}, which {path} has no rule for"
                     for key, where in obligations_named(catalogue).items()
                     if key.split("#", 1)[0] not in keys)
    missing = sorted(settings_named(catalogue) - set(settings))
    if missing:
        raise PolicyError(f"{path}: [settings] has no {', '.join(missing)}, which the process "
                          "declarations name (policy.<setting>)")
    return problems


def default_policy_text() -> str:
    return resources.files("stepdown.policies").joinpath("default.toml").read_text("utf-8")


@lru_cache(maxsize=8)
def load_policy(path: str | None = None, processes: str | None = None) -> Policy:
    """The policy at ``path``, or the default one shipped with the package, over the shipped
    declarations and a local authority's own (``processes``)."""
    catalogue = load_catalogue(processes)
    if path is None:
        return parse_policy(default_policy_text(), path="default.toml", catalogue=catalogue)
    file = Path(path)
    if not file.is_file():
        raise PolicyError(f"STEPDOWN_POLICY: no policy file at {path}")
    return parse_policy(file.read_text("utf-8"), path=str(file), catalogue=catalogue)
