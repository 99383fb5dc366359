"""What `stepdown serve`'s warm interpreter does before it forks flow runs
(stepdown/deployments/warm.py): it builds every served flow and form, and opens nothing that
every forked run would then share. The forking itself is tested end to end
(tests/test_e2e_warm_runner.py)."""

from __future__ import annotations

import importlib
import sys

import pytest


def test_warming_builds_the_flows_and_forms_and_opens_no_database(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from stepdown import db
    from stepdown.records import declarations

    opened: list[str] = []

    def no_engine(url: str) -> None:
        opened.append(url)
        raise AssertionError("the warm interpreter opened the case record")

    monkeypatch.setattr(db, "_engine", no_engine)
    monkeypatch.setattr(db, "get_engine", no_engine)
    monkeypatch.delitem(sys.modules, "stepdown.deployments.warm", raising=False)
    importlib.import_module("stepdown.deployments.warm")
    assert opened == []
    assert "could not import" not in capsys.readouterr().err
    assert {"prefect.flow_engine", "prefect.task_engine", "stepdown.flows.stage",
            "stepdown.flows.sweep", "stepdown.inputs"} <= set(sys.modules)
    catalogue = declarations()
    assert set(catalogue._models) >= set(catalogue.forms)  # every form's model is built


def test_a_failure_while_warming_is_one_line_and_no_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import stepdown.deployments as deployments

    def broken() -> list[object]:
        raise ValueError("a declaration that does not load")

    monkeypatch.setattr(deployments, "all_specs", broken)
    monkeypatch.delitem(sys.modules, "stepdown.deployments.warm", raising=False)
    importlib.import_module("stepdown.deployments.warm")  # does not raise
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "could not import everything (ValueError: a declaration that does not load)" in err
