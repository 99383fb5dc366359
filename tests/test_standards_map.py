"""docs/standards.md, the map of every standard in sources 000-004, says what implements each
one: the keys it names are declared, every obligation of the default policy is in it, every row
has an implementation or a reason, every orchestrated row names a test that exists (and no other
row names one), and its counts per source are its rows'."""

from __future__ import annotations

import ast
import os
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from stepdown.deployments import SPECS
from stepdown.domain import checks
from stepdown.domain.declarations import load_catalogue
from stepdown.domain.policy import load_policy

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "docs" / "standards.md"
# The source documents sit beside the repository (shared/seeds); STEPDOWN_SEEDS names another
# folder. Without them the quotes are not checked.
SEEDS = Path(os.environ.get("STEPDOWN_SEEDS", ROOT.parent / "shared" / "seeds"))
SOURCES = ("000", "001", "002", "003", "004")
KINDS = ("orchestrated", "left to people", "not yet declared")


@dataclass(frozen=True)
class Row:
    source: str
    id: str
    section: str
    requirement: str
    implemented_by: str
    note: str
    test: str

    @property
    def kind(self) -> str:
        for kind in KINDS[1:]:
            if self.implemented_by.startswith(f"{kind}:"):
                return kind
        return "orchestrated"

    @property
    def reason(self) -> str:
        return self.implemented_by.partition(":")[2].strip()

    @property
    def keys(self) -> list[str]:
        if self.kind != "orchestrated":
            return []
        return [part.strip().strip("`") for part in self.implemented_by.split(",")]

    @property
    def tests(self) -> list[str]:
        """The tests the row names, ``tests/test_x.py::test_name``, without their backticks."""
        return [part.strip().strip("`") for part in self.test.split(",") if part.strip()]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _rows(text: str) -> list[Row]:
    rows: list[Row] = []
    source = None
    for line in text.splitlines():
        heading = re.match(r"^## (\d{3}) ", line)
        if heading:
            source = heading.group(1)
            continue
        if line.startswith("## "):
            source = None
        cells = _cells(line) if line.startswith("|") else []
        if source and cells and re.match(r"^\d{3}-\d{2}$", cells[0]):
            assert len(cells) == 6, f"{cells[0]}: a row has 6 cells (id, section, requirement, " \
                                    f"implemented by, note, test): {line}"
            rows.append(Row(source, *cells))
    return rows


def _counts(text: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    header: list[str] | None = None
    for line in text.split("## Counts", 1)[1].split("\n## ", 1)[0].splitlines():
        if not line.startswith("|") or line.startswith("| ---"):
            continue
        cells = _cells(line)
        if header is None:
            header = cells
            continue
        out[cells[0]] = {name: int(value) for name, value in zip(header[1:], cells[1:],
                                                                   strict=True)}
    return out


@pytest.fixture(scope="module")
def text() -> str:
    return MAP.read_text("utf-8")


@pytest.fixture(scope="module")
def rows(text: str) -> list[Row]:
    return _rows(text)


def _known() -> set[str]:
    """Every key a row may name: obligations (the default policy's rules, the declarations'
    included), forms, named checks and conditions, policy settings, scheduled deployments."""
    catalogue = load_catalogue()
    policy = load_policy()
    return ({rule.key for rule in policy.rules} | set(catalogue.forms) | set(checks.CHECKS)
            | set(checks.CONDITIONS) | {f"policy.{name}" for name in policy.settings}
            | set(SPECS))


def test_every_row_of_every_source_is_read_and_numbered_in_order(rows: list[Row]) -> None:
    assert {row.source for row in rows} == set(SOURCES)
    for source in SOURCES:
        ids = [row.id for row in rows if row.source == source]
        assert ids == [f"{source}-{n:02d}" for n in range(1, len(ids) + 1)], source


def test_every_row_quotes_its_section_and_has_an_implementation_or_a_reason(
    rows: list[Row],
) -> None:
    for row in rows:
        assert row.section, row.id
        assert row.requirement.startswith('"') and row.requirement.count('"') >= 2, row.id
        if row.kind == "orchestrated":
            assert row.keys, row.id
            for part in row.implemented_by.split(","):
                assert re.fullmatch(r"`[a-z0-9_.]+(#k)?`", part.strip()), (
                    f"{row.id}: {part.strip()!r} is not a backticked key; a row without keys "
                    "says 'left to people: <reason>' or 'not yet declared: <reason>'")
        else:
            assert len(row.reason) >= 10, f"{row.id}: {row.kind} needs its reason"
            assert "`" not in row.reason, f"{row.id}: keys go in the note, not the reason"


def test_every_key_the_map_names_is_declared(rows: list[Row]) -> None:
    known = _known()
    named = {key.split("#", 1)[0] for row in rows for key in row.keys}
    missing = named - known
    assert not missing, f"keys the map names that nothing declares: {sorted(missing)}"


TEST = re.compile(r"`(tests/test_[a-z0-9_]+\.py)::(test_[A-Za-z0-9_]+)`")


@cache
def _defined(path: str) -> frozenset[str]:
    """The names of the functions a test file defines (at any depth: classes included)."""
    tree = ast.parse((ROOT / path).read_text("utf-8"), filename=path)
    return frozenset(node.name for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef))


def _missing_tests(row: Row) -> list[str]:
    """The tests ``row`` names that are not a ``def`` of a file under tests/."""
    missing = []
    for part in row.test.split(","):
        named = TEST.fullmatch(part.strip())
        if named is None:
            missing.append(f"{part.strip()!r} is not `tests/test_x.py::test_name`")
        elif not (ROOT / named.group(1)).is_file():
            missing.append(f"{named.group(1)} is not a file")
        elif named.group(2) not in _defined(named.group(1)):
            missing.append(f"{named.group(1)} defines no {named.group(2)}")
    return missing


def test_every_orchestrated_row_names_a_test_and_no_other_row_does(rows: list[Row]) -> None:
    """An orchestrated row is tied to a test that checks its date or gate; a row left to people
    or not yet declared has nothing for a test to check."""
    for row in rows:
        if row.kind == "orchestrated":
            assert row.tests, f"{row.id}: an orchestrated row names the test that checks it"
        else:
            assert row.test == "", f"{row.id}: {row.kind} names no test"


def test_every_test_the_map_names_exists(rows: list[Row]) -> None:
    """Each named test is a function its file under tests/ defines (read with ast, not run)."""
    missing = {row.id: _missing_tests(row) for row in rows if row.test}
    assert {k: v for k, v in missing.items() if v} == {}


def test_every_obligation_of_the_default_policy_is_in_the_map(rows: list[Row]) -> None:
    named = {key.split("#", 1)[0] for row in rows for key in row.keys}
    policy = load_policy()
    rules = {rule.key for rule in policy.rules}
    assert rules - named == set(), f"obligations the map does not name: {sorted(rules - named)}"
    # Including the processes declared for this map and DOMAIN.md section 10's.
    for key in ("child_in_need.visit", "child_protection.core_group", "early_help.review",
                "placement.irs_informed", "cla.review_outcomes"):
        assert key in rules and key in named, key


def test_the_counts_at_the_top_are_the_rows(text: str, rows: list[Row]) -> None:
    counts = _counts(text)
    assert set(counts) == {*SOURCES, "all"}
    for source in (*SOURCES, "all"):
        mine = Counter(row.kind for row in rows if source in (row.source, "all"))
        expected = {kind: mine[kind] for kind in KINDS}
        expected["total"] = sum(mine.values())
        assert counts[source] == expected, source


def test_the_map_names_the_early_help_keys_as_domain_does(rows: list[Row]) -> None:
    """Source 003 and 002 section 4 are mapped to DOMAIN.md section 10's keys exactly."""
    named = {key for row in rows if row.source == "003" or (
        row.source == "002" and row.section.startswith("4.")) for key in row.keys}
    assert {"early_help.transfer_meeting", "early_help.plan_handover",
            "early_help.meeting_record", "early_help.closure_record",
            "early_help.closure_letter", "early_help.management_oversight",
            "early_help.review", "early_help.stepdown_meeting", "early_help_review",
            "early_help_closure"} <= named


def _plain(text: str) -> str:
    """Text as compared: bold marks, typographic quotes and dashes and spacing evened out."""
    for fancy, plain in (("**", ""), ("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'),
                         ("\u201d", '"'), ("\u2013", "-"), ("\u2014", "-")):
        text = text.replace(fancy, plain)
    return re.sub(r"\s+", " ", text).lower()


def test_every_quote_is_the_sources_own_words(rows: list[Row]) -> None:
    """Each quoted fragment (between ' ... ') is in its source, word for word."""
    files = {p.name[:3]: p for p in SEEDS.glob("00?_*.txt")} if SEEDS.is_dir() else {}
    if set(files) != set(SOURCES):
        pytest.skip(f"the source documents are not at {SEEDS} (set STEPDOWN_SEEDS)")
    sources = {name: _plain(path.read_text("utf-8")) for name, path in files.items()}
    wrong = [(row.id, fragment.strip()) for row in rows
             for quote in re.findall(r'"([^"]+)"', row.requirement)
             for fragment in quote.split("...")
             if _plain(fragment).strip(" '(") and _plain(fragment).strip(" '(")
             not in sources[row.source]]
    assert wrong == []


def test_a_misspelt_key_or_test_or_a_reasonless_row_is_caught() -> None:
    """The checks above can fail: a row naming an undeclared key, a row with no reason, a row
    naming a test that its file does not define, or a file that is not there."""
    text = ("## 000 x\n| id | section | requirement | implemented by | note | test |\n"
            "| --- |\n"
            '| 000-01 | Step 1 | "x" | `identification.suitabilty` | | '
            "`tests/test_engine.py::test_planning_meeting_is_due_14_days_after_preparation_starts`"
            " |\n"
            '| 000-02 | Step 1 | "y" | left to people: | | |\n'
            '| 000-03 | Step 2 | "z" | `preparation.review` | | '
            "`tests/test_engine.py::test_planning_meeting_is_due_in_14_days`, "
            "`tests/test_nowhere.py::test_x`, tests/test_engine.py::test_d |\n")
    bad = _rows(text)
    assert [row.kind for row in bad] == ["orchestrated", "left to people", "orchestrated"]
    assert bad[0].keys[0] not in _known()
    assert _missing_tests(bad[0]) == []
    assert bad[1].reason == "" and bad[1].tests == []
    assert _missing_tests(bad[2]) == [
        "tests/test_engine.py defines no test_planning_meeting_is_due_in_14_days",
        "tests/test_nowhere.py is not a file",
        "'tests/test_engine.py::test_d' is not `tests/test_x.py::test_name`"]
