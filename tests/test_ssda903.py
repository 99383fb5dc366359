"""Reading and checking SSDA903 returns (stepdown.ssda903): pure, no database."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from stepdown.domain.policy import PolicyError
from stepdown.ssda903 import (
    CEASED,
    PLACEMENTS,
    REASONS,
    UNPLANNED,
    NotSSDA903,
    parse_date,
    read,
    unplanned_endings,
    unplanned_reasons,
)
from tests import ssda903_data as data

TODAY = date(2027, 12, 1)
HEADER = ("CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,"
          "PL_POST,URN")


def _csv(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def test_the_code_lists_are_the_reference_validators() -> None:
    """quality-lac-data-validator 1.0.3: validate_1009 (12 reasons), validate_146 (27 placement
    types), validate_149 (22 reasons an episode ceased); the unplanned default is DOMAIN.md's."""
    assert len(REASONS) == 12 and len(PLACEMENTS) == 27 and len(CEASED) == 22
    assert set(UNPLANNED) <= set(REASONS)
    assert set(UNPLANNED).isdisjoint({"CARPL", "PLACE", "CUSTOD", "OTHER"})
    # The unplanned-ending form takes every SSDA903 reason (DOMAIN.md section 6).
    from stepdown.cli import reason_codes
    from stepdown.records import declarations

    assert set(reason_codes(declarations())) == set(REASONS)


@pytest.mark.parametrize(("text", "day"), [
    ("05/11/2027", date(2027, 11, 5)), ("5/1/2027", date(2027, 1, 5)),
    ("2027-11-05", date(2027, 11, 5)), ("29/02/2028", date(2028, 2, 29)),
    ("31/02/2027", None), ("29/02/2027", None), ("2027-13-01", None), ("05/11/27", None),
    ("11/05/2027 00:00", None), ("", None), ("Nov 5 2027", None),
])
def test_dates_are_dd_mm_yyyy_or_iso_and_real(text: str, day: date | None) -> None:
    assert parse_date(text) == day


def test_the_generated_csv_hand_counted_by_month_and_reason() -> None:
    parsed = read(data.to_csv(data.episodes()), today=TODAY)
    assert (parsed.format, parsed.rows, len(parsed.episodes), parsed.errors) == (
        "csv", 1200, 1200, [])
    endings = unplanned_endings(parsed.episodes, frozenset(UNPLANNED))
    assert len(endings) == 508
    by_month = Counter((e.ended_on.strftime("%Y-%m"), e.reason) for e in endings)
    assert by_month == {
        ("2027-02", "CREQB"): 50, ("2027-03", "ALLEG"): 50, ("2027-05", "STAND"): 50,
        ("2027-06", "CREQB"): 50, ("2027-07", "ALLEG"): 50, ("2027-09", "STAND"): 50,
        ("2027-10", "LAREQ"): 200, ("2027-11", "CREQO"): 8}
    assert sum(e.foster for e in endings) == 308  # the residential LAREQ endings are not
    # February is i % 8 == 0, i = 8k for k = 0..49, placed in U(1 + 8k % 6): U1, U3, U5 as
    # k % 3 is 0 (17 of the 50), 1 (17) or 2 (16).
    assert Counter(e.place for e in endings if e.ended_on.month == 2) == {
        "U1": 17, "U3": 17, "U5": 16}
    # A reason on an episode that has not ended is no ending (134 children have one).
    assert sum(1 for e in parsed.episodes if e.reason and e.ended_on is None) == 134 - 3


def test_the_xml_return_reads_as_the_csv_does() -> None:
    rows = data.episodes(later=True)
    from_csv, from_xml = (read(f(rows), today=date(2028, 1, 5))
                          for f in (data.to_csv, data.to_xml))
    assert from_xml.format == "xml" and from_xml.rows == 1208 and not from_xml.errors
    assert from_xml.episodes == from_csv.episodes
    assert len(unplanned_endings(from_xml.episodes, frozenset(UNPLANNED))) == 516


def test_a_namespaced_xml_return_with_the_child_id_outside_the_header() -> None:
    xml = (b'<?xml version="1.0"?><EXPSSDA903 xmlns="urn:x"><CHILD><CHILDID>K1</CHILDID>'
           b"<EPISODE><DECOM>2027-01-01</DECOM><PL>u4</PL><DEC>2027-11-02</DEC>"
           b"<REASON_PLACE_CHANGE>creqb</REASON_PLACE_CHANGE></EPISODE></CHILD></EXPSSDA903>")
    parsed = read(xml, today=TODAY)
    assert [(e.child, e.place, e.reason, e.ended_on) for e in parsed.episodes] == [
        ("K1", "U4", "CREQB", date(2027, 11, 2))]


def test_bad_rows_name_line_field_and_rule_and_never_the_value() -> None:
    rows = [
        "C1,01/01/2027,P,C2,N1,U1,PR1,05/11/2027,X1,BREAKUP,BS16 1AA,GL7 2QZ,SC483621",
        "C2,01/01/2027,P,C2,N1,U1,PR1,31/02/2027,X1,ALLEG,BS16 1AA,GL7 2QZ,SC483621",
        "C3,05/11/2027,P,C2,N1,U1,PR1,01/11/2027,X1,ALLEG,BS16 1AA,GL7 2QZ,SC483621",
        "C4,01/01/2027,P,C2,N1,BS16 1AA,PR1,01/11/2027,X1,ALLEG,GL7 2QZ,SC483621,",
        "C5,01/01/2027,P,C2,N1,U1,PR1,,Z9,,BS16 1AA,GL7 2QZ,SC483621",
        "BS16 1AA,01/01/2027,P,C2,N1,U1,PR1,,,,BS16 1AA,GL7 2QZ,SC483621",
        "C7,01/01/2028,P,C2,N1,U1,PR1,,,,BS16 1AA,GL7 2QZ,SC483621",
        "C8,01/01/2027,P,C2,N1,,PR1,02/02/2027,X1,ALLEG,BS16 1AA,GL7 2QZ,SC483621",
        "C9,01/01/2027,P,C2,N1,U1,PR1",
        "C10,01/01/2027,P,C2,N1,U2,PR1,05/11/2027,X1,STAND,BS16 1AA,GL7 2QZ,SC483621",
    ]
    parsed = read(_csv(*rows), today=TODAY)
    assert [str(e) for e in parsed.errors] == [
        "line 2 (child C1, episode from 2027-01-01): REASON_PLACE_CHANGE: is not an SSDA903 "
        "reason for placement change code",
        "line 3 (child C2, episode from 2027-01-01): DEC: is not a real date",
        "line 4 (child C3, episode from 2027-11-05): DEC: is before DECOM: the episode ends "
        "before it starts",
        "line 5 (child C4, episode from 2027-01-01): PLACE: is not an SSDA903 placement type "
        "code",
        "line 6 (child C5, episode from 2027-01-01): REC: is not an SSDA903 reason episode "
        "ceased code",
        # A child's ID that breaks its rule is not repeated, nor a start after today.
        "line 7 (episode from 2027-01-01): CHILD: must be 1-52 letters, digits, '.', '_' or "
        "'-', starting with a letter or digit",
        "line 8 (child C7): DECOM: is after today (2027-12-01)",
        "line 9 (child C8, episode from 2027-01-01): PLACE: is required for a placement that "
        "ended with a reason for the change",
        # Its fields are not where the header says: nothing of it is named.
        "line 10: row: has 7 fields; the header has 13",
    ]
    assert (parsed.rows, parsed.refused) == (10, 9)
    assert [e.child for e in parsed.episodes] == ["C10"]
    shown = "\n".join(str(e) for e in parsed.errors)
    for value in ("BS16", "GL7", "SC48", "BREAKUP", "Z9"):
        assert value not in shown


def test_an_xml_bad_row_is_named_by_child_and_episode() -> None:
    xml = (b"<EXPSSDA903><CHILD><HEADER><CHILDID>C1</CHILDID></HEADER>"
           b"<EPISODE><DECOM>01/01/2027</DECOM><PL>U1</PL></EPISODE>"
           b"<EPISODE><DECOM>01/02/2027</DECOM><PL>Q9</PL></EPISODE></CHILD>"
           b"<CHILD><HEADER><CHILDID>BS16 1AA</CHILDID></HEADER>"
           b"<EPISODE><DECOM>01/01/2027</DECOM><PL>U1</PL></EPISODE></CHILD></EXPSSDA903>")
    parsed = read(xml, today=TODAY)
    assert [str(e) for e in parsed.errors] == [
        "child C1 episode 2 (from 2027-02-01): PLACE: is not an SSDA903 placement type code",
        "child #2 (CHILDID invalid) episode 1 (from 2027-01-01): CHILD: must be 1-52 letters, "
        "digits, '.', '_' or '-', starting with a letter or digit",
    ]


def test_a_row_that_breaks_two_rules_is_one_refused_row_with_a_line_for_each() -> None:
    parsed = read(_csv("C1,01/01/2027,P,C2,N1,Q9,PR1,31/09/2027,X1,CREQB,,,",
                       "C2,01/01/2027,P,C2,N1,U1,PR1,,,,,,"), today=TODAY)
    assert [(e.where, e.field) for e in parsed.errors] == [
        ("line 2 (child C1, episode from 2027-01-01)", "DEC"),
        ("line 2 (child C1, episode from 2027-01-01)", "PLACE")]
    assert (parsed.rows, parsed.refused, len(parsed.episodes)) == (2, 1, 1)


def _typos(bad: int, good: int) -> bytes:
    rows = [f"G{i},01/01/2027,P,C2,N1,U1,PR1,,,,,," for i in range(good)]
    rows += [f"B{i},01/01/2027,P,C2,N1,Q9,PR1,,,,,," for i in range(bad)]
    return _csv(*rows)


@pytest.mark.parametrize(("bad", "good", "whole"), [
    (0, 20, None),
    (1, 1, None),  # one refused row never refuses a file that has a good one
    (1, 19, None),
    (2, 38, None),  # 2 of 40: 5%, not more
    (2, 37, "2 of its 39 rows refused, more than 5%: a fault of the whole file, not a typo"),
    (60, 1140, None),  # 60 of 1,200: 5%
    (61, 1139, "61 of its 1200 rows refused, more than 5%: a fault of the whole file, not a "
               "typo"),
    (1, 0, "no row passed"),
])
def test_a_file_is_refused_whole_over_one_row_and_5_percent(bad: int, good: int,
                                                            whole: str | None) -> None:
    parsed = read(_typos(bad, good), today=TODAY)
    assert (parsed.refused, len(parsed.episodes)) == (bad, good)
    assert parsed.refused_whole() == whole
    assert parsed.refused_whole(strict=True) == (
        "strict: any refused row refuses the file" if bad else None)


@pytest.mark.parametrize(("content", "says"), [
    (b"hello, world\n1,2\n", "its header has no CHILD, DECOM, PLACE, DEC, REASON_PLACE_CHANGE"),
    (b'{"CHILD": "C1"}', "its header has no"),
    (b"", "its header has no"),
    (b"<html><body>C1</body></html>", "its root is not EXPSSDA903"),
    (b"<EXPSSDA903><CHILD>", "not well-formed XML (line 1"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "BS16 1AA">]><EXPSSDA903>&a;</EXPSSDA903>',
     "DOCTYPE"),
    (b"%PDF-1.7\x00\x01\x02", "binary"),
])
def test_neither_format_is_one_line_saying_so(content: bytes, says: str) -> None:
    with pytest.raises(NotSSDA903) as raised:
        read(content, today=TODAY)
    message = str(raised.value)
    assert says in message and "\n" not in message and "BS16" not in message
    assert message.startswith("file: ")


def test_a_semicolon_csv_with_a_bom_and_lower_case_header() -> None:
    text = "\ufeff" + HEADER.lower().replace(",", ";") + "\nC1;01/01/2027;P;C2;N1;U1;PR1;" \
        "02/11/2027;X1;CREQO;;;\n"
    parsed = read(text.encode(), today=TODAY)
    assert [(e.child, e.reason) for e in parsed.episodes] == [("C1", "CREQO")]


def test_the_policy_can_change_the_unplanned_reasons() -> None:
    assert unplanned_reasons({}) == frozenset(UNPLANNED)
    assert unplanned_reasons({"ssda903_unplanned_reasons": ["CARPL"]}) == {"CARPL"}
    with pytest.raises(PolicyError, match="not SSDA903 reasons: BREAKUP"):
        unplanned_reasons({"ssda903_unplanned_reasons": ["CARPL", "BREAKUP"]})
    with pytest.raises(PolicyError, match="must be a list"):
        unplanned_reasons({"ssda903_unplanned_reasons": "CARPL"})


def test_one_ending_per_child_and_day_the_first_in_the_file_standing() -> None:
    parsed = read(_csv(
        "C1,01/01/2027,P,C2,N1,U1,PR1,05/11/2027,X1,CREQB,,,",
        "C1,03/01/2027,P,C2,N1,U2,PR1,05/11/2027,X1,ALLEG,,,",  # overlapping, same day
        "C1,05/11/2027,P,C2,N1,R1,PR1,20/11/2027,X1,CHILD,,,",
    ), today=TODAY)
    endings = unplanned_endings(parsed.episodes, frozenset(UNPLANNED))
    assert [(e.ended_on.day, e.reason, e.place) for e in endings] == [
        (5, "CREQB", "U1"), (20, "CHILD", "R1")]
