"""`stepdown forms`: every form and completion, generated from the models the UI renders."""

from __future__ import annotations

import json
import shlex
from datetime import date
from typing import Any, Literal

import pytest
from prefect.input import RunInput
from pydantic import Field
from typer.testing import CliRunner

from stepdown import formdocs
from stepdown.cli import app
from stepdown.domain.declarations import load_catalogue
from stepdown.domain.forms import parse_form
from stepdown.domain.policy import load_policy

CATALOGUE = load_catalogue()
STAGE_FORMS = CATALOGUE.stage_forms()
STAGE_MODELS = {key: CATALOGUE.model(key) for key in STAGE_FORMS}
COMPLETION_MODELS = [CATALOGUE.completion_model(n) for n in (None, *CATALOGUE.completions())]
StabilityMeeting = CATALOGUE.model("stability_meeting")
ACTION_FIELDS = ["title", "owner", "due"]  # DOMAIN.md section 5: {title, owner, due}

runner = CliRunner()


def forms(*args: str) -> Any:
    return runner.invoke(app, ["forms", *args])


def example_data(doc: dict[str, Any]) -> Any:
    """The --data JSON of a form's example command line."""
    words = shlex.split(doc["example"])
    return json.loads(words[words.index("--data") + 1])


def test_the_listing_names_every_form_opening_and_completion_with_the_keys_it_completes() -> None:
    result = forms("--json")
    assert result.exit_code == 0, result.output
    docs = {d["key"]: d for d in json.loads(result.output)}
    assert set(STAGE_FORMS) <= set(docs)
    assert {"step_down.open", "stability.request", "unplanned_ending.record"} <= set(docs)
    assert {d["model"] for d in docs.values() if d["kind"] == "completion"} == {
        model.__name__ for model in COMPLETION_MODELS}
    assert docs["support_outcome"]["takes"] == [
        "support.monthly_review#6 (the last, #12 and so on when extended)"]
    assert docs["review_outcome"]["takes"] == [
        "introduction.final_review", "introduction.extended_review#k"]
    text = forms()
    assert text.exit_code == 0
    for key in (*STAGE_FORMS, "stability_meeting", "stability.request"):
        assert f"\n{key} (" in "\n" + text.output


def test_every_field_of_every_model_is_listed_with_its_rules_and_help() -> None:
    docs = {d["key"]: d for d in json.loads(forms("--json").output)}
    for key, model in STAGE_MODELS.items():
        # every field, in the order the Resume dialog shows them
        assert [f["name"] for f in docs[key]["fields"]] == list(
            model.model_json_schema()["properties"])
        assert set(model.model_fields) == {f["name"] for f in docs[key]["fields"]}
    suitability = {f["name"]: f for f in docs["identification.suitability"]["fields"]}
    assert suitability["sdq_score"] | {"help": ""} == {
        "name": "sdq_score", "type": "integer", "required": True, "ge": 0, "le": 40,
        "title": "SDQ score (0-40)", "help": ""}
    assert suitability["care_needs_band"]["choices"] == ["2.1", "2.2", "other"]
    assert suitability["discussion_notes"]["required"] is False
    assert suitability["discussion_notes"]["default"] == ""
    assert suitability["discussion_notes"]["max_length"] == 5000
    assert suitability["held_on"]["help"].startswith("The day the multi-agency")
    # Nested: the stability meeting's actions list its items' fields.
    meeting = {f["name"]: f for f in docs["stability_meeting"]["fields"]}
    assert [f["name"] for f in meeting["actions"]["fields"]] == ACTION_FIELDS
    title = meeting["actions"]["fields"][0]
    assert (title["min_length"], title["max_length"], title["required"]) == (1, 200, True)
    assert "foster_carer" in meeting["attendees"]["choices"]
    # The opening forms come from the command line's own options.
    request = {f["name"]: f for f in docs["stability.request"]["fields"]}
    assert set(request) == {"ref", "child", "requested-at", "by"}
    assert "foster_carer" in request["by"]["choices"]


def test_a_field_added_to_a_model_is_listed_without_editing_the_listing() -> None:
    class Visit(RunInput):
        seen_on: date = Field(title="Date seen", description="The day of the visit.")
        kind: Literal["home", "school"] = Field(default="home", title="Where")
        minutes: int | None = Field(default=None, ge=5, le=240, title="Length")

    fields = {f.name: f.as_dict() for f in formdocs.model_fields(Visit)}
    assert fields["seen_on"] == {"name": "seen_on", "type": "date", "required": True,
                                 "title": "Date seen", "help": "The day of the visit."}
    assert fields["kind"]["choices"] == ["home", "school"]
    assert fields["kind"]["default"] == "home"
    assert (fields["minutes"]["type"], fields["minutes"]["ge"], fields["minutes"]["le"]) == (
        "integer or null", 5, 240)


@pytest.mark.parametrize(("key", "model"), [
    ("identification.suitability", "Suitability"),
    ("support.monthly_review#6", "SupportOutcome"),
    ("support.monthly_review#12", "SupportOutcome"),
    ("support.monthly_review#5", "Done"),
    ("stability.meeting", "StabilityMeeting"),
    ("preparation.review#2", "Done"),
    ("introduction.extended_review#2", "ReviewOutcome"),
    ("stability.action#1", "Done"),
])
def test_one_key_shows_its_form_with_an_example_the_form_accepts(key: str, model: str) -> None:
    result = forms(key, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["model"] == model
    assert doc["example"].startswith(f"stepdown input REF {key} --data ")
    models = {m.__name__: m for m in (*COMPLETION_MODELS, *STAGE_MODELS.values())}
    parse_form(models[model], example_data(doc))  # raises FormError if the example is wrong
    text = forms(key)
    assert text.exit_code == 0
    assert f"  example: stepdown input REF {key} --data '" in text.output


def test_the_stability_meeting_example_shows_an_agreed_action() -> None:
    doc = json.loads(forms("stability.meeting", "--json").output)
    data = example_data(doc)
    assert set(data["actions"][0]) == {"title", "owner", "due"}
    assert StabilityMeeting.model_validate(data).actions[0].owner == "social_worker"


def test_an_opening_form_shows_its_command_line() -> None:
    doc = json.loads(forms("unplanned_ending.record", "--json").output)
    assert doc["example"] == ("stepdown ending record REF --child CHILD --ended-on ENDED_ON "
                              "--reason CARPL")


@pytest.mark.parametrize("key", ["identification.nope", "nope", "preparation.review#x"])
def test_an_unknown_key_is_one_line_and_exit_2(key: str) -> None:
    result = forms(key)
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert result.output.startswith(f"error: key: {key!r} is not a form or an obligation key")


def test_the_completion_of_a_key_follows_the_policy() -> None:
    policy = load_policy()
    assert formdocs.completion_for_key(policy, "introduction.final_review") == "review_outcome"
    assert formdocs.completion_for_key(policy, "support.monthly_review#18") == "support_outcome"
    assert formdocs.completion_for_key(policy, "support.monthly_review#7") is None
    assert formdocs.completion_for_key(policy, "unplanned_ending.meeting") == (
        "unplanned_ending_meeting")


def test_the_resume_dialog_shows_who_submitted_it_last_after_the_forms_own_fields() -> None:
    from prefect._internal.pydantic.v2_schema import create_v2_schema

    for model in [*STAGE_MODELS.values(), *COMPLETION_MODELS]:
        fields = list(create_v2_schema(model.__name__, model_base=model)["properties"])
        assert fields[-1] == "submitted_by" and fields[0] != "submitted_by", (model, fields)
