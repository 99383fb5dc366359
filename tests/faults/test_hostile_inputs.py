"""Hostile input: generated inputs (Hypothesis) across every form and obligation of a process of
every declared kind, through the path `stepdown input` takes, in-process and without a server:
``inputs.check`` against the case as the command line reads it, then ``inputs.apply_input``
in one transaction, recorded directly (``_record_directly``'s call) or, for what a flow run
waits for, as the flow run's task applies it (with its pause key).

Each input is refused with a one-line error naming a field, or applied whole. The database is
checked after each: a refused input changed nothing; an applied one is one accepted submission
with its obligation done. Nothing else may be raised. 300 inputs by default, 10,000 with
STEPDOWN_FAULTS_LONG=1.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import tempfile
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepdown.db import get_engine, session_scope
from stepdown.domain.forms import FormError
from stepdown.formdocs import FieldDoc, model_fields
from stepdown.inputs import apply_input, check, flow_waits_for, is_form, model_for
from stepdown.records import NotFound, case_view, declarations, get_process, timeline
from tests.faults.common import TIMEOUT, report, size

pytestmark = pytest.mark.timeout(TIMEOUT)

TODAY = date(2027, 12, 1)
EXAMPLES = size(300, 10_000)
TABLES = ("process", "stage_run", "obligation", "submission", "audit_event", "assignment",
          "notice", "message", "placement_ending")
counts: Counter[str] = Counter()
TEMPLATE = Path(tempfile.gettempdir()) / f"stepdown-hostile-{os.getpid()}.db"
LIVE: list[Path] = [TEMPLATE]


def _opening(kind: str) -> dict[str, Any]:
    """A valid opening for ``kind``, dated a few months back."""
    from stepdown.formdocs import _example

    catalogue = declarations()
    key = catalogue.process(kind).opening
    values = _example(model_fields(catalogue.model(key)))
    for name, value in list(values.items()):
        if isinstance(value, str) and len(value) == 10 and value[4] == "-":
            values[name] = str(TODAY - timedelta(days=90))
    values.pop("child_ref", None)
    return values


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One process of every declared kind, on its own SQLite file."""
    from stepdown.records import open_with_links
    from tests.builders import open_case

    home = tmp_path_factory.mktemp("hostile")
    TEMPLATE.unlink(missing_ok=True)
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    LIVE[0] = home / "stepdown.db"
    patch = pytest.MonkeyPatch()
    patch.setenv("STEPDOWN_DATABASE_URL", f"sqlite:///{home / 'stepdown.db'}")
    patch.setenv("STEPDOWN_HOME", str(home))
    patch.setenv("STEPDOWN_TODAY", str(TODAY))
    refs = []
    open_case("SD-H", child="CH-H0", identified=str(TODAY - timedelta(days=60)))
    refs.append("SD-H")
    for n, kind in enumerate(sorted(declarations().processes)):
        if kind == "step_down":
            continue
        ref = f"H-{kind}"
        with session_scope() as session:
            open_with_links(session, ref=ref, kind=kind, child_ref=f"CH-H{n + 1}",
                            opening=_opening(kind), actor="cli", channel="cli")
        refs.append(ref)
    _backup(home / "stepdown.db", TEMPLATE)
    yield refs
    patch.undo()
    TEMPLATE.unlink(missing_ok=True)
    report("hostile_inputs", examples=EXAMPLES, **{"partial_writes": 0, **counts})


def _backup(source: Path, target: Path) -> None:
    """Copy one SQLite database onto another through SQLite (safe while it is open)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _restore() -> None:
    """Every case back as it was opened: each input meets the same cases (Hypothesis replays
    an example to shrink it, and needs the same cases to draw the same keys)."""
    _backup(TEMPLATE, LIVE[0])
    _views.clear()


def _fingerprint() -> dict[str, str]:
    """Each table's rows, hashed: any insert, update or delete changes its table's hash."""
    out = {}
    with get_engine().connect() as connection:
        for table in TABLES:
            rows = connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")).all()
            out[table] = hashlib.sha1(repr(rows).encode()).hexdigest()
    return out


# ------------------------------------------------------------------------- the inputs
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=3),
    max_leaves=6)
ODD_TEXT = st.sampled_from(["", " ", "2027-02-30", "2027-13-01", "27-12-01", "2027-12-01T10:00",
                            "01/12/2027", "yes", "true", "16", "null", "x" * 5000, "\x00",
                            "Robert'); DROP TABLE process;--", "<script>", "\u202e", "🙂",
                            "9999-12-31", "0001-01-01", "2027-12-01\n"])


def _day(lo: int = -400, hi: int = 40) -> st.SearchStrategy[str]:
    return st.integers(lo, hi).map(lambda n: str(TODAY + timedelta(days=n)))


def _plausible(f: FieldDoc) -> st.SearchStrategy[Any]:
    """A value of the field's type, in and out of its bounds."""
    base = f.type.removesuffix(" or null").removeprefix("list of ")
    if f.fields:
        return st.lists(_payload(f.fields), max_size=3)
    if f.choices:
        value: st.SearchStrategy[Any] = st.sampled_from(list(f.choices)) | st.text(max_size=12)
    elif base == "date":
        value = _day()
    elif base == "datetime":
        value = _day().map(lambda d: f"{d}T10:00:00+00:00")
    elif base in ("integer", "number"):
        lo, hi = f.bounds.get("ge", -5), f.bounds.get("le", 100)
        value = st.integers(int(lo) - 3, int(hi) + 3)
    elif base == "boolean":
        value = st.booleans()
    else:
        value = st.text(max_size=int(f.bounds.get("max_length", 60)) + 5)
    if f.type.startswith("list of "):
        return st.lists(value, max_size=4)
    return value


def _payload(fields: list[FieldDoc]) -> st.SearchStrategy[dict[str, Any]]:
    """The form's fields, each plausible, hostile or left out; sometimes an extra one."""
    parts = {f.name: st.one_of(_plausible(f), _plausible(f), JSON, ODD_TEXT, st.just(None))
             for f in fields}
    return st.fixed_dictionaries({}, optional=parts).flatmap(
        lambda given: st.dictionaries(st.text(max_size=10), JSON, max_size=1).map(
            lambda extra: {**extra, **given}))


_views: dict[str, Any] = {}  # each case as it is, read again after an input is applied


def _view(ref: str) -> Any:
    if ref not in _views:
        with session_scope() as session:
            _views[ref] = case_view(session, process=get_process(session, ref=ref))
    return _views[ref]


def _keys(ref: str) -> list[str]:
    return sorted(set(declarations().stage_forms()) | set(_view(ref).obligations))


@functools.cache
def _model_fields(model: type[Any]) -> list[FieldDoc]:
    return model_fields(model)


def _fields_of(ref: str, key: str) -> list[FieldDoc]:
    view = _view(ref)
    if not is_form(key) and key not in view.obligations:
        return []
    return _model_fields(model_for(view, key))


# ------------------------------------------------------------------------- the path
def submit(ref: str, key: str, payload: Any) -> str:
    """What `stepdown input REF KEY --data PAYLOAD` does, without a server: 'refused: ...' or
    'applied'."""
    try:
        with session_scope() as session:
            view = case_view(session, process=get_process(session, ref=ref))
            check(view, key, payload)
        with session_scope() as session:
            process = get_process(session, ref=ref, lock=True)
            if flow_waits_for(view, key):  # as the flow run's task applies it
                done = apply_input(session, process=process, key=key, data=payload,
                                   channel="ui", flow_run_id="hostile",
                                   input_key=f"{key.replace('.', '-')}-{counts['applied']}")
                if done.status != "accepted":
                    return f"refused: {done.error}"
            else:  # as _record_directly does
                apply_input(session, process=process, key=key, data=payload, channel="cli")
    except (FormError, NotFound) as exc:
        return f"refused: {exc}"
    return "applied"


def _accepted(ref: str, key: str) -> int:
    with get_engine().connect() as connection:
        return int(connection.execute(sa.text(
            "SELECT count(*) FROM submission s JOIN process p ON p.id = s.process_id "
            "WHERE p.ref = :ref AND s.form = :key AND s.status = 'accepted'"),
            {"ref": ref, "key": key}).scalar_one())


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_inputs_are_refused_in_one_line_or_applied_whole(cases: list[str],
                                                                   data: st.DataObject) -> None:
    ref = data.draw(st.sampled_from(cases), label="ref")
    key = data.draw(st.sampled_from(_keys(ref)) | st.text(max_size=30), label="key")
    fields = _fields_of(ref, key)
    plausible = st.fixed_dictionaries({f.name: _plausible(f) for f in fields})
    payload = data.draw(st.one_of(plausible, plausible, _payload(fields), _payload(fields), JSON),
                        label="payload")
    payload = json.loads(json.dumps(payload))  # as --data parses it (NaN stays NaN)
    before, accepted = _fingerprint(), _accepted(ref, key)
    outcome = submit(ref, key, payload)
    after = _fingerprint()
    counts["inputs"] += 1
    if outcome == "applied":
        counts["applied"] += 1
        assert _accepted(ref, key) == accepted + 1, (ref, key)
        with session_scope() as session:  # the case still reads whole
            items = {i["key"]: i for i in timeline(session, process=get_process(session, ref=ref),
                                                     as_of=TODAY)}
        if key in items:
            assert items[key]["status"] in ("done", "pending", "overdue", "cancelled"), items[key]
        _restore()
        return
    counts["refused"] += 1
    reason = outcome.removeprefix("refused: ")
    assert "\n" not in reason and 0 < len(reason) <= 600, reason
    assert ": " in reason, reason  # names the field (or key) and the rule
    changed = [t for t in TABLES if before[t] != after[t]]
    if changed and flow_refused(ref, key, changed):
        counts["refused_by_the_flow_on_record"] += 1  # the flow records what it refused
        return
    counts["partial_writes"] += bool(changed)
    assert changed == [], f"a refused input changed {changed}: {key} {payload!r}"


def flow_refused(ref: str, key: str, changed: list[str]) -> bool:
    """A flow run records an input it refused (status rejected, with an audit event)."""
    if set(changed) - {"submission", "audit_event"}:
        return False
    with get_engine().connect() as connection:
        status = connection.execute(sa.text(
            "SELECT s.status FROM submission s JOIN process p ON p.id = s.process_id "
            "WHERE p.ref = :ref AND s.form = :key ORDER BY s.id DESC LIMIT 1"),
            {"ref": ref, "key": key}).scalar_one_or_none()
    return status == "rejected"


def test_a_long_refused_value_is_not_repeated_whole(cases: list[str]) -> None:
    """Found by the long run: a 5,000-character date came back whole in the error."""
    outcome = submit("SD-H", "identification.child_views", {"done_on": "x" * 5000})
    assert outcome == ("refused: done_on: must be a date YYYY-MM-DD (got "
                       f"'{'x' * 50}...')"), outcome
