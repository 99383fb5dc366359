"""A generated SSDA903 return, as an episodes CSV or the XML return, for the import tests.

400 children, C0000 to C0399 (i = 0..399), three episodes each (1,200 episodes):

1. a foster placement (PLACE U1..U6 by i % 6) from 02/01/2027, ending on the 15th of month
   2 + i % 8 (February to September 2027) with reason CREQB, ALLEG, CARPL, STAND by i % 4.
   i % 8 fixes i % 4, so each month has 50 endings of one reason: February CREQB, March ALLEG,
   April CARPL (planned: not counted), May STAND, June CREQB, July ALLEG, August CARPL, September
   STAND. 300 unplanned foster endings, all before --since: history.
2. a residential placement (R1) from that day, ending on 25 + i % 5 October 2027, with LAREQ
   (unplanned) when i is even, else OTHER (not). 200 unplanned endings of a placement that is
   not foster care: history, though after --since.
3. a foster placement (U3) from that day. For i % 50 == 0 (8 children: 0, 50, ..., 350) it
   ended on 10/11/2027 with CREQO: 8 unplanned foster endings after --since (2027-10-20, the
   default for today 2027-12-01), each opening a process. For i % 3 == 0 and still open, a
   reason is given (CHILD): it is ignored.

So: 508 unplanned endings, 8 of them opening processes, 500 history. Every row carries a home
and placement postcode and a URN, which the import must never keep or echo.

The later file (``later=True``, a month on) repeats all of that and ends episode 3 of the
children with i % 40 == 0 and i % 50 != 0 (8 children: 40, 80, 120, 160, 240, 280, 320, 360) on
20/12/2027 with ALLEG, each followed by an open fourth episode (R1): 1,208 episodes, 516 endings,
8 of them new.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from stepdown.ssda903 import COLUMNS

POSTCODE, PLACE_POSTCODE, URN = "BS16 1AA", "GL7 2QZ", "SC483621"
CHILDREN = 400
NEW_IN_LATER = (40, 80, 120, 160, 240, 280, 320, 360)


def child(i: int) -> str:
    return f"C{i:04d}"


def _row(i: int, decom: str, place: str, dec: str = "", reason: str = "",
         rec: str = "") -> dict[str, str]:
    return {"CHILD": child(i), "DECOM": decom, "RNE": "P", "LS": "C2", "CIN": "N1",
            "PLACE": place, "PLACE_PROVIDER": "PR1", "DEC": dec, "REC": rec,
            "REASON_PLACE_CHANGE": reason, "HOME_POST": POSTCODE, "PL_POST": PLACE_POSTCODE,
            "URN": URN}


def episodes(*, later: bool = False) -> list[dict[str, str]]:
    rows = []
    for i in range(CHILDREN):
        end1 = f"15/{2 + i % 8:02d}/2027"
        rows.append(_row(i, "02/01/2027", f"U{1 + i % 6}", end1,
                         ("CREQB", "ALLEG", "CARPL", "STAND")[i % 4], "X1"))
        end2 = f"{25 + i % 5}/10/2027"
        rows.append(_row(i, end1, "R1", end2, "LAREQ" if i % 2 == 0 else "OTHER", "X1"))
        if i % 50 == 0:
            rows.append(_row(i, end2, "U3", "10/11/2027", "CREQO", "X1"))
        elif later and i in NEW_IN_LATER:
            rows.append(_row(i, end2, "U3", "20/12/2027", "ALLEG", "X1"))
            rows.append(_row(i, "20/12/2027", "R1"))
        else:
            rows.append(_row(i, end2, "U3", reason="CHILD" if i % 3 == 0 else ""))
    return rows


def to_csv(rows: list[dict[str, str]]) -> bytes:
    lines = [",".join(COLUMNS)] + [",".join(row[c] for c in COLUMNS) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode()


def to_xml(rows: list[dict[str, str]]) -> bytes:
    """The XML return: one CHILD per child, its ID in HEADER/CHILDID, an EPISODE per episode
    with the placement as PL and the dates as the CSV has them."""
    by_child: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_child.setdefault(row["CHILD"], []).append(row)
    out = ['<?xml version="1.0" encoding="utf-8"?>', "<EXPSSDA903>"]
    for ident, episodes_of in by_child.items():
        out.append(f"<CHILD><HEADER><CHILDID>{escape(ident)}</CHILDID><SEX>1</SEX>"
                   "<DOB>01/01/2012</DOB></HEADER>")
        for row in episodes_of:
            fields = "".join(f"<{'PL' if c == 'PLACE' else c}>{escape(row[c])}"
                             f"</{'PL' if c == 'PLACE' else c}>"
                             for c in COLUMNS if c != "CHILD" and row[c])
            out.append(f"<EPISODE>{fields}</EPISODE>")
        out.append("</CHILD>")
    out.append("</EXPSSDA903>")
    return "\n".join(out).encode()
