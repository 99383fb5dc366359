"""The case timeline artifact: what the UI shows, and never a child's data."""

from __future__ import annotations

from stepdown.artifacts import artifact_key, case_markdown
from tests.builders import open_case, open_stability, submit


def test_the_timeline_artifact_groups_obligations_and_says_what_the_case_waits_for(
    db_url: str, today: str
) -> None:
    open_case("SD-AR1", child="CHILD-AR1")
    submit("SD-AR1", "identification.suitability", {
        "held_on": "2026-11-09", "sdq_score": 15, "care_needs_band": "2.1",
        "care_plan_ratified": True, "discussion_notes": "Jamie Rowntree, 12 Acacia Avenue"})
    submit("SD-AR1", "identification.pact_decision",
           {"decided_on": "2026-11-16", "decision": "proceed"})
    open_stability("ST-AR1", child="CHILD-AR1", requested_at="2026-11-20T10:00:00+00:00")
    submit("ST-AR1", "stability.meeting", {
        "done_on": "2026-11-20", "chair": "team_manager",
        "attendees": ["foster_carer", "supervising_social_worker", "social_worker"],
        "child_views_recorded": True, "outcome": "stay",
        "actions": [{"title": "Phone Jamie Rowntree's school", "owner": "social_worker",
                     "due": "2026-11-27"}]})
    markdown = case_markdown("SD-AR1")
    assert artifact_key("SD-AR1") == "case-sd-ar1"
    assert markdown.startswith("# SD-AR1: step down")
    assert "**Stage:** preparation" in markdown
    assert "## Overdue" in markdown and "`preparation.planning_meeting`" in markdown
    assert "## Done" in markdown and "`identification.suitability`" in markdown
    assert "**Linked processes:** ST-AR1" in markdown
    assert "Action agreed at the stability meeting" in markdown  # the policy's words
    for secret in ("Jamie", "Rowntree", "Acacia", "CHILD-AR1"):
        assert secret not in markdown


def test_the_last_refusal_of_the_form_waited_for_heads_the_artifact_without_what_was_typed(
    db_url: str, today: str
) -> None:
    from stepdown.db import session_scope
    from stepdown.inputs import apply_input
    from stepdown.records import get_process, set_waiting

    open_case("SD-AR2", child="CHILD-AR2")

    def from_ui(data: dict[str, object], attempt: int) -> str:
        with session_scope() as session:
            process = get_process(session, ref="SD-AR2", lock=True)
            set_waiting(session, process=process, key="identification.suitability",
                        flow_run_id="run-1", input_key=f"identification-suitability-{attempt}")
            return apply_input(session, process=process, key="identification.suitability",
                               data=data, channel="ui", flow_run_id="run-1",
                               input_key=f"identification-suitability-{attempt}").status

    typed = {"held_on": "2026-11-09", "sdq_score": 5, "care_needs_band": "Jamie Rowntree",
             "care_plan_ratified": True, "discussion_notes": "12 Acacia Avenue"}
    assert from_ui(typed, 1) == "rejected"
    markdown = case_markdown("SD-AR2")
    head = markdown.split("**Waiting for:**")[0]
    assert "> **Last input refused** (through the ui): care_needs_band: must be one of" in head
    for secret in ("Jamie", "Rowntree", "Acacia"):
        assert secret not in markdown
    assert from_ui(typed | {"care_needs_band": "2.1", "discussion_notes": ""}, 2) == "accepted"
    assert "Last input refused" not in case_markdown("SD-AR2")
