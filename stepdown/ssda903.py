"""The local authority's SSDA903 data (the DfE's looked-after children return, DOMAIN.md section
11): read an episodes CSV or the XML return, check it, and find the placement endings in it.

Pure: no database, no Prefect. What it keeps of an episode is the child's ID, its dates and its
codes. Postcodes, URNs and every other field are read past and never kept. An error repeats no
value from the file but the child's ID and the episode's start, which name the row and are kept
anyway, and those only when they pass their own rules in a row whose fields are where the
header says (a misaligned row could carry a postcode into any column).

The code lists are the Department for Education's, as the sector's reference validator has them:
quality-lac-data-validator 1.0.3 (PyPI; github.com/SocialFinanceDigitalLabs/
quality-lac-data-beta-validator), ``validator903/validators.py``. Each list names its rule there.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

# validate_1009 "Reason for placement change is not a valid code" (REASON_PLACE_CHANGE).
REASONS: tuple[str, ...] = ("CARPL", "CLOSE", "ALLEG", "STAND", "APPRR", "CREQB", "CREQO",
                            "CHILD", "LAREQ", "PLACE", "CUSTOD", "OTHER")
# validate_146 "Placement type code is not a valid code" (PLACE; PL in the XML return).
PLACEMENTS: tuple[str, ...] = ("A3", "A4", "A5", "A6", "H5", "K1", "K2", "P1", "P2", "P3", "R1",
                               "R2", "R3", "R5", "S1", "T0", "T1", "T2", "T3", "T4", "U1", "U2",
                               "U3", "U4", "U5", "U6", "Z1")
# validate_149 "Reason episode ceased code is not valid" (REC).
CEASED: tuple[str, ...] = ("E11", "E12", "E2", "E3", "E4A", "E4B", "E13", "E41", "E45", "E46",
                           "E47", "E48", "E5", "E6", "E7", "E8", "E9", "E14", "E15", "E16", "E17",
                           "X1")
# Foster placements (DOMAIN.md section 11; the validator's rules 1001 and 8169 say the same:
# "a placement code of U1 to U6" is with foster carers).
FOSTER: frozenset[str] = frozenset({"U1", "U2", "U3", "U4", "U5", "U6"})
# DOMAIN.md section 11 (rule): the reasons that make a placement ending unplanned, by default.
# The policy's [settings] ssda903_unplanned_reasons replaces the list.
UNPLANNED: tuple[str, ...] = ("CREQB", "CREQO", "CHILD", "ALLEG", "STAND", "APPRR", "CLOSE",
                              "LAREQ")

# The columns of the episodes CSV (DOMAIN.md section 11); those read are marked in READ.
COLUMNS = ("CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
           "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN")
REQUIRED = ("CHILD", "DECOM", "PLACE", "DEC", "REASON_PLACE_CHANGE")
# A child's ID becomes part of a process reference, UE-<CHILD>-<YYYYMMDD> (64 characters at most).
_CHILD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,51}$")
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
DATE_RULE = "must be a date DD/MM/YYYY (or YYYY-MM-DD)"
# A file whose refused rows are more than one and more than this share of its rows is refused
# whole: the fault is the file's (dates written month first, a column shifted, the wrong
# extract), and the rows that pass it may be misread too (5/11/2027 month first is 11 May).
# A typo is a row or a few. Below it, the good rows are imported and the refused ones named.
MAX_REFUSED_SHARE = 0.05


class NotSSDA903(ValueError):
    """The file is neither an episodes CSV nor an XML return: one line says why."""


@dataclass(frozen=True)
class RowError:
    """A refused row: where (``line 12 (child C1, episode from 2027-01-02)``, or ``child C1
    episode 3 (from 2027-01-02)`` in the XML return), the field and the rule it breaks. Never
    the field's value."""

    where: str
    field: str
    rule: str
    row: int = 0  # the row's number among the file's episodes (1 is the first): one per row


    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.rule}"

    def as_dict(self) -> dict[str, str]:
        return {"where": self.where, "field": self.field, "rule": self.rule}


@dataclass(frozen=True, slots=True)
class Episode:
    """What is kept of an episode: the child's ID, its dates and its placement codes."""

    child: str
    started_on: date
    ended_on: date | None
    place: str
    reason: str | None  # REASON_PLACE_CHANGE

    @property
    def ending(self) -> bool:
        """A placement ending with a reason (DOMAIN.md section 11): a reason on an episode that
        has not ended is ignored."""
        return self.ended_on is not None and self.reason is not None

    @property
    def foster(self) -> bool:
        return self.place in FOSTER


@dataclass
class Return:
    """A file as read: its format, the episodes that passed, and the rows refused (a row may
    break more than one rule: ``errors`` has a line for each, ``refused`` counts the row once)."""

    format: str  # csv | xml
    episodes: list[Episode] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0  # episodes read, refused ones included
    refused: int = 0  # rows refused

    def refused_whole(self, *, strict: bool = False) -> str | None:
        """Why the whole file is refused, or None when its good rows are imported and its
        refused rows named (:data:`MAX_REFUSED_SHARE`)."""
        if not self.refused:
            return None
        if strict:
            return "strict: any refused row refuses the file"
        if not self.episodes:
            return "no row passed"
        if self.refused > 1 and self.refused > self.rows * MAX_REFUSED_SHARE:
            return (f"{self.refused} of its {self.rows} rows refused, more than "
                    f"{MAX_REFUSED_SHARE:.0%}: a fault of the whole file, not a typo")
        return None


def parse_date(text: str) -> date | None:
    """``DD/MM/YYYY`` (the return's format; one-digit days and months too) or ``YYYY-MM-DD``.
    None if it is neither, or names no real day (31/02/2027)."""
    match = _DMY.match(text) or _ISO.match(text)
    if match is None:
        return None
    a, b, c = (int(part) for part in match.groups())
    day, month, year = (a, b, c) if match.re is _DMY else (c, b, a)
    try:
        return date(year, month, day)
    except ValueError:
        return None


def unplanned_reasons(settings: dict[str, Any]) -> frozenset[str]:
    """The policy's list of unplanned reasons (``[settings] ssda903_unplanned_reasons``), or the
    default; a code the return does not have is a mistake in the policy file."""
    from stepdown.domain.policy import PolicyError

    given = settings.get("ssda903_unplanned_reasons", UNPLANNED)
    if not isinstance(given, list | tuple) or not all(isinstance(c, str) for c in given):
        raise PolicyError("[settings] ssda903_unplanned_reasons: must be a list of SSDA903 "
                          "reason codes")
    unknown = sorted(set(given) - set(REASONS))
    if unknown:
        raise PolicyError(f"[settings] ssda903_unplanned_reasons: not SSDA903 reasons: "
                          f"{', '.join(unknown)} (the reasons are {', '.join(REASONS)})")
    return frozenset(given)


# ---------------------------------------------------------------------------------- checking
def check(where: str, values: dict[str, str], *, today: date, errors: list[RowError],
          child_named: bool = False, row: int = 0) -> Episode | None:
    """One episode's fields (text, blank when absent) checked; its errors appended, the row
    named by ``where`` and, so that the data team can find it in the case system, by the
    child's ID (unless ``where`` names the child already) and the episode's start. Both only
    when they pass their own rule: a value that fails one is never repeated. Only the fields
    named here are looked at."""
    found: list[tuple[str, str]] = []

    def bad(name: str, rule: str) -> None:
        found.append((name, rule))

    child = values.get("CHILD", "").strip()
    if not child:
        bad("CHILD", "is required")
    elif not _CHILD.match(child):
        bad("CHILD", "must be 1-52 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit")

    def day(name: str, required: bool) -> date | None:
        text = values.get(name, "").strip()
        if not text:
            if required:
                bad(name, "is required")
            return None
        when = parse_date(text)
        if when is None:
            bad(name, "is not a real date" if _DMY.match(text) or _ISO.match(text)
                else DATE_RULE)
        elif when > today:
            bad(name, f"is after today ({today})")
            return None
        return when

    started, ended = day("DECOM", True), day("DEC", False)
    if started is not None and ended is not None and ended < started:
        bad("DEC", "is before DECOM: the episode ends before it starts")

    def code(name: str, codes: tuple[str, ...], what: str) -> str | None:
        text = values.get(name, "").strip().upper()
        if not text:
            return None
        if text not in codes:
            bad(name, f"is not an SSDA903 {what} code")
            return None
        return text

    place = code("PLACE", PLACEMENTS, "placement type")
    reason = code("REASON_PLACE_CHANGE", REASONS, "reason for placement change")
    code("REC", CEASED, "reason episode ceased")
    if (place is None and not values.get("PLACE", "").strip() and ended is not None
            and reason is not None):
        bad("PLACE", "is required for a placement that ended with a reason for the change")
    if found:
        label = where + _naming(child if _CHILD.match(child) else None, started,
                                child_named=child_named)
        errors.extend(RowError(label, name, rule, row) for name, rule in found)
        return None
    assert started is not None  # DECOM is required: a row without it has an error found
    return Episode(child=child, started_on=started, ended_on=ended, place=place or "",
                   reason=reason)


def _naming(child: str | None, started: date | None, *, child_named: bool) -> str:
    """`` (child C1, episode from 2027-01-02)``, or `` (from 2027-01-02)`` after a ``where``
    that names the child: what a refused row is found by in the case system."""
    parts = [] if child_named or child is None else [f"child {child}"]
    if started is not None:
        parts.append(f"{'from' if child_named else 'episode from'} {started}")
    return f" ({', '.join(parts)})" if parts else ""


# ---------------------------------------------------------------------------------- reading
def read(data: bytes, *, today: date) -> Return:
    """An episodes CSV or the XML return, told apart by content (not by the file's name)."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return _read_xml(data, today=today)
    return _read_csv(data, today=today)


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:  # an extract saved by a spreadsheet on Windows
        return data.decode("cp1252", errors="replace")


def _add(out: Return, episode: Episode | None) -> None:
    if episode is None:
        out.refused += 1
    else:
        out.episodes.append(episode)


def _read_csv(data: bytes, *, today: date) -> Return:
    text = _text(data)
    if "\x00" in text[:4096]:
        raise NotSSDA903("file: neither an SSDA903 episodes CSV nor an EXPSSDA903 XML return "
                         "(it is binary)")
    first = text[:4096].split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)  # comma, or what a spreadsheet chose instead
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().upper() for name in next(reader)]
    except (StopIteration, csv.Error):
        header = []
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise NotSSDA903("file: neither an SSDA903 episodes CSV (its header has no "
                         f"{', '.join(missing)}) nor an EXPSSDA903 XML return")
    index = {name: header.index(name) for name in (*REQUIRED, "REC") if name in header}
    out = Return("csv")
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            out.rows += 1
            where = f"line {reader.line_num}"
            if len(row) != len(header):  # its fields are not where the header says: none named
                out.refused += 1
                out.errors.append(RowError(where, "row", f"has {len(row)} fields; the header "
                                                         f"has {len(header)}", out.rows))
                continue
            values = {name: row[i] for name, i in index.items()}
            _add(out, check(where, values, today=today, errors=out.errors, row=out.rows))
    except csv.Error:
        raise NotSSDA903(f"file: not a readable CSV from line {reader.line_num} (unbalanced "
                         "quotes?)") from None
    return out


_XML_FIELDS = {"DECOM": "DECOM", "DEC": "DEC", "PL": "PLACE", "PLACE": "PLACE", "REC": "REC",
               "REASON_PLACE_CHANGE": "REASON_PLACE_CHANGE"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]  # without a namespace


def _read_xml(data: bytes, *, today: date) -> Return:
    if b"<!DOCTYPE" in data[:65536].upper():  # no entity tricks: the return has no DTD
        raise NotSSDA903("file: an XML file with a DOCTYPE is not an EXPSSDA903 return")
    out = Return("xml")
    try:
        for number, child in enumerate(_children(data), 1):
            _xml_child(number, child, today=today, out=out)
    except ET.ParseError as exc:
        line, column = exc.position
        raise NotSSDA903(f"file: not well-formed XML (line {line}, column {column}), so "
                         "neither an SSDA903 episodes CSV nor an EXPSSDA903 XML return") from None
    return out


def _children(data: bytes) -> Iterator[ET.Element]:
    """Each CHILD element of an EXPSSDA903 return, cleared once handed over."""
    root: ET.Element | None = None
    depth = 0
    for event, element in ET.iterparse(io.BytesIO(data), events=("start", "end")):
        if event == "start":
            depth += 1
            if root is None:
                root = element
                if _local(element.tag) != "EXPSSDA903":
                    raise NotSSDA903("file: XML, but not an EXPSSDA903 return (its root is not "
                                     "EXPSSDA903), nor an SSDA903 episodes CSV")
            continue
        depth -= 1
        if _local(element.tag) == "CHILD" and depth >= 1:
            yield element
            element.clear()
            if root is not None and depth == 1:
                root.clear()  # children already read leave nothing behind


def _leaves(element: ET.Element) -> dict[str, str]:
    return {_local(node.tag): (node.text or "") for node in element.iter() if len(node) == 0}


def _xml_child(number: int, child: ET.Element, *, today: date, out: Return) -> None:
    header = next((n for n in child if _local(n.tag) == "HEADER"), None)
    ident = ""
    for holder in (header, child):
        if holder is not None and not ident:
            ident = next((str(n.text or "").strip() for n in holder.iter()
                          if _local(n.tag) == "CHILDID"), "")
    # The child is named by its ID when it is one: never echo anything else.
    name = f"child {ident}" if _CHILD.match(ident) else f"child #{number} (CHILDID invalid)"
    for k, episode in enumerate((n for n in child if _local(n.tag) == "EPISODE"), 1):
        out.rows += 1
        leaves = _leaves(episode)
        values = {"CHILD": ident}
        for tag, name_in_csv in _XML_FIELDS.items():
            if tag in leaves:
                values[name_in_csv] = leaves[tag]
        _add(out, check(f"{name} episode {k}", values, today=today, errors=out.errors,
                        child_named=True, row=out.rows))


# ---------------------------------------------------------------------------------- endings
@dataclass(frozen=True, slots=True)
class Ending:
    """An unplanned placement ending: one per child and day, whatever episodes repeat it."""

    child: str
    ended_on: date
    started_on: date
    place: str
    reason: str

    @property
    def foster(self) -> bool:
        return self.place in FOSTER

    @property
    def key(self) -> tuple[str, date]:
        return (self.child, self.ended_on)


def unplanned_endings(episodes: Iterable[Episode], unplanned: frozenset[str]) -> list[Ending]:
    """The unplanned endings among the episodes, one per child and day (the first episode in the
    file that ends that day stands: a later extract repeats earlier episodes, and episodes of a
    child may overlap), ordered by day then child."""
    seen: dict[tuple[str, date], Ending] = {}
    for episode in episodes:
        if not episode.ending or episode.reason not in unplanned:
            continue
        assert episode.ended_on is not None and episode.reason is not None
        key = (episode.child, episode.ended_on)
        if key not in seen:
            seen[key] = Ending(episode.child, episode.ended_on, episode.started_on,
                               episode.place, episode.reason)
    return sorted(seen.values(), key=lambda e: (e.ended_on, e.child))
