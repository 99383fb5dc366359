"""End to end in a real browser: a practitioner resumes a suspended Step Down flow run from the
Prefect UI's Resume dialog, the form rendered from the ``Suitability`` JSON schema. The first
submission breaks a rule only the flow can check: the refusal is the run's state message, heads
the form and the case's timeline, and the form comes back filled in with what was typed. Then
the same for a declared process's form: an emergency placement move's authorisation
(``placement.toml``), refused without the alternatives considered, then approved.

Runs Debian's chromium (``apt-get install chromium``) headless through Python Playwright; no
browser is downloaded. Without /usr/bin/chromium the test is skipped, except under CI=true where
it fails (``.ci/run`` installs the package). Each step's screenshot goes to docs/screenshots/.

Notes on the Prefect 3.8.8 UI (prefect-design), which shaped the selectors below:
- The field labels' ``for`` attributes point at no control, so ``get_by_label`` finds nothing: a
  field is located as the ``.schema-form-property`` block whose label text is the schema title,
  and its control by role inside that block.
- The date field is a button (aria-hidden) that opens a calendar pop-over; the pop-over has a
  native ``<input type="date">`` ("Selected Date") that takes an ISO date, then "Apply".
- Clicking the dropdown's box opens its options and closes them again at once (the pop-over's
  search box takes focus outside the modal and focus is pulled back). Opening it from the keyboard
  (focus, ArrowDown) keeps it open; the options then have role ``option``.
- The run's state message is under the run page's **Details** tab, as "State Message", cut at
  70 characters until "See More" is clicked.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import System, free_port, system_env

pytestmark = pytest.mark.e2e

TODAY = "2027-12-01"
REF = "SD-UI-1"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
UI_TIMEOUT_MS = 30_000
REFUSAL = "discussion_notes: is required when sdq_score is 14 or more (got 16)"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {CHROMIUM} is missing: .ci/run should install Debian's "
                        "chromium package before the tests")
        pytest.skip(f"browser test needs Debian's chromium at {CHROMIUM} "
                    "(apt-get install chromium); CI=true turns this skip into a failure")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    home: Path = tmp_path_factory.mktemp("stepdown-home")
    port = free_port()
    running = System(home, port, system_env(home, port, TODAY))
    running.start()
    yield running
    running.stop()


def test_a_practitioner_records_the_suitability_meeting_in_the_prefect_ui(
    browser: Any, system: System, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    system.ok("case", "open", REF, "--child", "CHILD-4410", "--identified", "2026-11-02")
    shown = system.wait_for_form(REF, "identification.suitability")
    run_id = shown["flow_runs"][0]["flow_run_id"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    page = context.new_page()
    api_errors: list[str] = []
    page.on("response", lambda r: api_errors.append(f"{r.status} {r.request.method} {r.url}")
            if "/api/" in r.url and r.status >= 400 else None)
    try:
        # 1. The flow run page: suspended, waiting for the suitability meeting.
        page.goto(f"http://127.0.0.1:{system.port}/runs/flow-run/{run_id}")
        expect(page.get_by_text(f"{REF}-identification", exact=True)).to_be_visible()
        expect(page.get_by_text("Suspended", exact=True).first).to_be_visible()
        expect(page.get_by_text("Suspending flow run").first).to_be_visible()  # logs loaded
        page.screenshot(path=SCREENSHOTS / "01-flow-run-suspended.png")

        # 2. Resume opens the form rendered from the Suitability schema; fill it in.
        page.get_by_role("button", name="Resume").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text("Resume Flow Run")).to_be_visible()
        for label in ("SDQ score (0-40)", "Care needs band"):
            expect(dialog.get_by_text(label, exact=True)).to_be_visible()

        def field(title: str) -> Any:
            return dialog.locator(".schema-form-property").filter(
                has=page.get_by_text(title, exact=True))

        held_on = field("Date of the suitability meeting")
        held_on.get_by_text("Select date").click()
        picker = page.locator(".p-date-picker")
        picker.locator("input[type=date]").fill("2026-11-09")
        picker.get_by_role("button", name="Apply").click()
        expect(picker).to_be_hidden()
        expect(held_on).to_contain_text("Nov 9th, 2026")

        # 16 needs the discussion recorded: a rule of the flow, not of the schema.
        field("SDQ score (0-40)").get_by_role("spinbutton").fill("16")

        band = field("Care needs band")
        band.locator("button.p-select-button__control").focus()
        page.keyboard.press("ArrowDown")
        page.get_by_role("listbox").get_by_role("option", name="2.2", exact=True).click()
        expect(page.get_by_role("listbox")).to_be_hidden()
        expect(band.locator(".p-select-button__value")).to_have_text("2.2")

        ratified = field("Care plan of fostering ratified by the IRO").get_by_role("switch")
        ratified.click()
        expect(ratified).to_have_attribute("aria-checked", "true")
        page.screenshot(path=SCREENSHOTS / "02-suitability-form.png")

        # 3. Submit: the UI says "resumed", but the flow refuses the input and asks again.
        def submit() -> None:
            with page.expect_response(f"**/api/flow_runs/{run_id}/resume") as answer:
                dialog.get_by_role("button", name="Submit").click()
            assert answer.value.status < 400, (
                f"resume -> {answer.value.status}: {answer.value.text()}")

        submit()
        expect(dialog).to_be_hidden()
        state = wait_for_state_message(system, run_id, "Last input refused")
        assert state["message"] == f"Last input refused: {REFUSAL}"
        timeline = httpx.get(f"{system.api}/artifacts/case-sd-ui-1/latest").json()["data"]
        assert f"**Last input refused** (through the ui): {REFUSAL}" in timeline

        # 3a. Where the user looks next: the run's state message (Details tab) ...
        page.reload()
        expect(page.get_by_text("Suspended", exact=True).first).to_be_visible()
        page.get_by_role("tab", name="Details").or_(
            page.get_by_text("Details", exact=True)).first.click()
        expect(page.get_by_text("State Message").first).to_be_visible()
        expect(page.get_by_text("Last input refused: discussion_notes: is required").first
               ).to_be_visible()
        page.get_by_text("See More").first.click()  # the UI cuts a state message at 70 characters
        expect(page.get_by_text(f"Last input refused: {REFUSAL}").first).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "03-refused-state-message.png")

        # ... and the Resume dialog: the reason on top, and every field as it was typed.
        page.get_by_role("button", name="Resume").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text("Last input refused:").first).to_be_visible()
        expect(dialog.get_by_text(REFUSAL).first).to_be_visible()
        held_on = field("Date of the suitability meeting")
        expect(held_on).to_contain_text("Nov 9th, 2026")
        expect(field("SDQ score (0-40)").get_by_role("spinbutton")).to_have_value("16")
        band = field("Care needs band")
        expect(band.locator(".p-select-button__value")).to_have_text("2.2")
        ratified = field("Care plan of fostering ratified by the IRO").get_by_role("switch")
        expect(ratified).to_have_attribute("aria-checked", "true")
        page.screenshot(path=SCREENSHOTS / "03-refused-form-prefilled.png")

        # 3b. Add the discussion and submit again: accepted, the run carries on.
        field("Discussion of the SDQ score (Optional)").get_by_role("textbox").fill(
            "Needs weighed at the meeting")
        submit()
        expect(dialog).to_be_hidden()
        system.wait_for_form(REF, "identification.pact_decision")
        page.set_viewport_size({"width": 1400, "height": 1700})  # room for the new log lines
        page.reload()
        page.get_by_role("tab", name="Logs").or_(  # the page keeps the Details tab open
            page.get_by_text("Logs", exact=True)).first.click()
        # (twice: the resumed run replays the refused attempt from the record)
        expect(page.get_by_text(f"identification.suitability refused for {REF}").first
               ).to_be_visible()
        expect(page.get_by_text(f"identification.suitability accepted for {REF}")).to_be_visible()
        expect(page.get_by_text("wait for identification.pact_decision").first).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "03-resumed.png")

        # 4. The case's timeline artifact, keyed by its reference.
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{system.port}/artifacts/key/case-sd-ui-1")
        expect(page.get_by_text("Timeline of SD-UI-1").first).to_be_visible()
        page.get_by_role("link").filter(has_text=re.compile(r"^[0-9a-f]{8}$")).first.click()
        expect(page.get_by_text(f"{REF}: step down").first).to_be_visible()
        expect(page.get_by_text("identification.pact_decision").first).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "04-case-timeline.png")
    except Exception:
        page.screenshot(path=tmp_path / "failure.png")
        print(f"failure screenshot: {tmp_path / 'failure.png'}")
        print("failed API calls from the UI:", *api_errors, sep="\n  ")
        print("stepdown serve, last lines:\n" + "".join(system.log[-80:]))
        raise
    finally:
        context.close()

    items = {i["key"]: i for i in system.ok("case", "timeline", REF, "--json").json()}
    assert items["identification.suitability"]["status"] == "done"
    assert items["identification.suitability"]["done_on"] == "2026-11-09"
    shown = system.ok("case", "show", REF, "--json").json()
    assert shown["waiting_for"] == "identification.pact_decision"
    assert shown["flow_runs"][0]["flow_run_id"] == run_id


PLACEMENT = "PL-UI"
EMERGENCY_REFUSAL = ("alternatives_considered: an emergency move needs a full understanding of "
                     "the alternative placement options (Placement Stability guidance): it must "
                     "be true to approve it")


def test_an_emergency_move_is_authorised_in_the_prefect_ui_once_alternatives_are_considered(
    browser: Any, system: System, tmp_path: Path
) -> None:
    """The placement authorisation form (placement.toml) in the Resume dialog, with its titles
    and help: an emergency approval without the alternatives considered is refused (the reason
    on the run and on top of the form, nothing accepted), then the complete approval starts the
    move stage."""
    from playwright.sync_api import expect

    opening = {"planned_on": TODAY, "emergency": True, "out_of_area": False}
    system.ok("open", "placement", PLACEMENT, "--child", "CH-UI", "--data", json.dumps(opening))
    shown = system.wait_for_form(PLACEMENT, "placement.authorisation")
    run_id = shown["flow_runs"][0]["flow_run_id"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    page = context.new_page()
    api_errors: list[str] = []
    page.on("response", lambda r: api_errors.append(f"{r.status} {r.request.method} {r.url}")
            if "/api/" in r.url and r.status >= 400 else None)
    try:
        page.goto(f"http://127.0.0.1:{system.port}/runs/flow-run/{run_id}")
        expect(page.get_by_text(f"{PLACEMENT}-authorisation", exact=True)).to_be_visible()
        expect(page.get_by_text("Suspended", exact=True).first).to_be_visible()
        page.get_by_role("button", name="Resume").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text("Resume Flow Run")).to_be_visible()

        def field(title: str) -> Any:  # an optional field's label ends "(Optional)"
            label = page.get_by_text(re.compile(rf"^{re.escape(title)}( \(Optional\))?$"))
            return dialog.locator(".schema-form-property").filter(has=label)

        # Every field has its title and its help from the declaration.
        for title in ("Date of the decision", "Decided by", "Decision",
                      "Immediate safeguarding concern",
                      "Alternative placement options fully understood"):
            expect(field(title)).to_have_count(1)
            expect(field(title)).to_be_visible()
        expect(field("Alternative placement options fully understood")).to_contain_text(
            "Required for an emergency move: there is a full understanding of the alternative "
            "placement options")
        expect(field("Decided by")).to_contain_text("HARP or the relevant Head of Service")

        decided = field("Date of the decision")
        decided.get_by_text("Select date").click()
        picker = page.locator(".p-date-picker")
        picker.locator("input[type=date]").fill(TODAY)
        picker.get_by_role("button", name="Apply").click()
        expect(picker).to_be_hidden()
        expect(decided).to_contain_text("Dec 1st, 2027")
        for title, choice in (("Decided by", "head_of_service"), ("Decision", "approved")):
            select = field(title)
            select.locator("button.p-select-button__control").focus()
            page.keyboard.press("ArrowDown")
            page.get_by_role("listbox").get_by_role("option", name=choice, exact=True).click()
            expect(page.get_by_role("listbox")).to_be_hidden()
            expect(select.locator(".p-select-button__value")).to_have_text(choice)
        concern = field("Immediate safeguarding concern").get_by_role("switch")
        concern.click()
        expect(concern).to_have_attribute("aria-checked", "true")
        considered = field("Alternative placement options fully understood").get_by_role(
            "switch")
        expect(considered).to_have_attribute("aria-checked", "false")
        page.screenshot(path=SCREENSHOTS / "1x-placement-authorisation.png")

        def submit() -> None:
            with page.expect_response(f"**/api/flow_runs/{run_id}/resume") as answer:
                dialog.get_by_role("button", name="Submit").click()
            assert answer.value.status < 400, (
                f"resume -> {answer.value.status}: {answer.value.text()}")

        # An emergency approved without the alternatives considered: refused by the flow.
        submit()
        expect(dialog).to_be_hidden()
        state = wait_for_state_message(system, run_id, "Last input refused")
        assert state["message"] == f"Last input refused: {EMERGENCY_REFUSAL}"
        timeline = httpx.get(f"{system.api}/artifacts/case-pl-ui/latest").json()["data"]
        assert f"**Last input refused** (through the ui): {EMERGENCY_REFUSAL}" in timeline
        refused = system.ok("case", "show", PLACEMENT, "--json").json()
        assert (refused["stage"], refused["status"], refused["waiting_for"]) == (
            "authorisation", "open", "placement.authorisation")
        items = {i["key"]: i for i in system.ok("case", "timeline", PLACEMENT, "--json").json()
                 if i["ref"] == PLACEMENT}
        assert items["placement.authorisation"]["status"] == "pending"  # nothing accepted
        assert "placement.irs_informed" not in items

        # Resume again: the reason heads the form, the fields as they were submitted.
        page.reload()
        expect(page.get_by_text("Suspended", exact=True).first).to_be_visible()
        page.get_by_role("button", name="Resume").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text("Last input refused:").first).to_be_visible()
        expect(dialog.get_by_text(EMERGENCY_REFUSAL).first).to_be_visible()
        expect(field("Date of the decision")).to_contain_text("Dec 1st, 2027")
        expect(field("Decision").locator(".p-select-button__value")).to_have_text("approved")
        concern = field("Immediate safeguarding concern").get_by_role("switch")
        expect(concern).to_have_attribute("aria-checked", "true")
        considered = field("Alternative placement options fully understood").get_by_role(
            "switch")
        expect(considered).to_have_attribute("aria-checked", "false")
        page.screenshot(path=SCREENSHOTS / "1x-placement-refused.png")

        # With the alternatives considered the approval is accepted: the move stage starts.
        considered.click()
        expect(considered).to_have_attribute("aria-checked", "true")
        submit()
        expect(dialog).to_be_hidden()
        moved = system.wait_for_form(PLACEMENT, "placement.move")
    except Exception:
        page.screenshot(path=tmp_path / "failure.png")
        print(f"failure screenshot: {tmp_path / 'failure.png'}")
        print("failed API calls from the UI:", *api_errors, sep="\n  ")
        print("stepdown serve, last lines:\n" + "".join(system.log[-80:]))
        raise
    finally:
        context.close()

    assert (moved["stage"], moved["status"]) == ("move", "open")
    items = {i["key"]: i for i in system.ok("case", "timeline", PLACEMENT, "--json").json()
             if i["ref"] == PLACEMENT}
    assert (items["placement.authorisation"]["status"],
            items["placement.authorisation"]["done_on"]) == ("done", TODAY)
    # An emergency's planning meeting is counted from the move, which is not recorded yet.
    assert "placement.planning_meeting" not in items
    audit = system.ok("case", "audit", PLACEMENT, "--json").json()
    assert [e["detail"].get("channel") for e in audit
            if e["action"] in ("input.rejected", "input.accepted")
            and e["detail"].get("form") == "placement.authorisation"][-2:] == ["ui", "ui"]


def wait_for_state_message(system: System, run_id: str, starts: str,
                           timeout: float = 120) -> dict[str, Any]:
    """The run's state once it is suspended again with a message that starts with ``starts``."""
    deadline = time.monotonic() + timeout
    while True:
        state = httpx.get(f"{system.api}/flow_runs/{run_id}").json()["state"]
        if state["name"] == "Suspended" and (state.get("message") or "").startswith(starts):
            return dict(state)
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} not suspended with {starts!r}: {state}")
        time.sleep(1)
