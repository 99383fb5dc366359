"""A form asked for again after a refusal: what was entered comes back as its defaults."""

from __future__ import annotations

from datetime import date

from stepdown.domain.declarations import load_catalogue
from stepdown.flows.prompt import prefilled, reason_only, valid_defaults
from stepdown.formdocs import ui_schema

Suitability = load_catalogue().model("identification.suitability")
StabilityMeeting = load_catalogue().model("stability_meeting")

TYPED = {"held_on": "2026-11-09", "sdq_score": 16, "care_needs_band": "2.2",
         "care_plan_ratified": True, "discussion_notes": ""}


def test_the_refused_values_are_the_defaults_the_ui_renders_and_titles_stay() -> None:
    form = prefilled(Suitability, TYPED, description="**Last input refused:** ...")
    schema = ui_schema(form)
    assert {name: prop.get("default") for name, prop in schema["properties"].items()} == {
        **TYPED, "attendees": [], "submitted_by": ""}
    assert list(schema["properties"])[-1] == "submitted_by"
    assert schema["properties"]["sdq_score"]["title"] == "SDQ score (0-40)"
    assert (schema["properties"]["sdq_score"]["minimum"],
            schema["properties"]["sdq_score"]["maximum"]) == (0, 40)
    assert schema["properties"]["held_on"]["format"] == "date"
    assert form._description == "**Last input refused:** ..."  # type: ignore[attr-defined]
    # Still required (the UI would label a field with a default "(Optional)"), now filled in.
    assert schema["required"] == ["held_on", "sdq_score", "care_needs_band", "care_plan_ratified"]
    # A submission that keeps the defaults gets them with their types.
    kept = form.model_validate({})
    assert kept.held_on == date(2026, 11, 9) and kept.sdq_score == 16


def test_values_the_schema_refuses_are_not_made_defaults() -> None:
    typed = {"held_on": "9 Nov", "sdq_score": 99, "care_needs_band": "2.2", "unknown": 1}
    assert valid_defaults(Suitability, typed) == {"care_needs_band": "2.2"}
    schema = ui_schema(prefilled(Suitability, typed, description="d"))
    assert "default" not in schema["properties"]["sdq_score"]
    assert schema["properties"]["care_needs_band"]["default"] == "2.2"
    assert "default" not in schema["properties"]["held_on"]


def test_nested_actions_come_back_and_nothing_refused_means_the_plain_form() -> None:
    actions = [{"title": "Respite weekend", "owner": "supervising_social_worker",
                "due": "2026-04-10"}]
    schema = ui_schema(prefilled(StabilityMeeting, {"actions": actions}, description="d"))
    assert schema["properties"]["actions"]["default"] == actions
    plain = ui_schema(prefilled(StabilityMeeting, {}, description="d"))
    assert plain["required"] == ui_schema(StabilityMeeting)["required"]


def test_the_reason_keeps_the_rule_and_drops_quoted_text_that_was_typed() -> None:
    assert reason_only("care_needs_band: must be one of ('2.1', '2.2', 'other') "
                       "(got 'Jamie Rowntree')") == (
        "care_needs_band: must be one of ('2.1', '2.2', 'other')")
    assert reason_only("decision: proceed needs a ratified care plan") == (
        "decision: proceed needs a ratified care plan")
