"""What a study records, and which settings may differ when a resume or a second `study create`
joins it. Studies are Optuna's own in-memory ones: fast, no training, no server.
"""

from __future__ import annotations

from dataclasses import replace

import optuna
import pytest

from tuner.config import SearchConfig, launch_settings, resumable_settings
from tuner.engines.optuna.record import FORMAT, FORMAT_ATTR, StudyRecord
from tuner.errors import TunerError
from tuner.space import load_space
from tuner.tracking.runs import RunTarget

SPACE = load_space("mlp_quick")


def _record(config: SearchConfig) -> StudyRecord:
    run = RunTarget("sqlite:///x.db", "1", "parent", "", "search", "parent")
    return StudyRecord.new(config, SPACE, "fp", run, local=False)


# --- which settings may differ ------------------------------------------------------------------


def test_a_resume_may_change_the_budget_and_the_finish_but_not_what_a_trial_is():
    recorded = _record(SearchConfig(study="s"))
    changed = SearchConfig(study="s", resume=True, trials=99, n_jobs=3, recheck=1, max_failures=0)
    assert recorded.differences(changed, SPACE, "fp", resumable_settings()) == []
    for field, value in {"epochs": 5, "seed": 1, "patience": 2, "sampler": "random", "metric": "mse"}.items():
        found = recorded.differences(replace(changed, **{field: value}), SPACE, "fp", resumable_settings())
        assert len(found) == 1 and found[0].startswith(f"{field} "), found


def test_study_create_again_may_change_only_what_belongs_to_one_launch():
    recorded = _record(SearchConfig(study="s", storage="postgresql://u:pw@h/db"))
    again = SearchConfig(study="s", storage="postgresql://other@h/db", n_jobs=4, tracking_uri="http://x:1")
    assert recorded.differences(again, SPACE, "fp", launch_settings()) == []
    more = replace(
        again, trials=99
    )  # the study's total is the study's: a resume may change it, create may not
    assert [d.split()[0] for d in recorded.differences(more, SPACE, "fp", launch_settings())] == ["trials"]
    assert set(launch_settings()) < set(resumable_settings())


def test_the_space_is_compared_by_its_text_and_the_data_by_its_fingerprint():
    recorded = _record(SearchConfig())
    other_space = load_space("mlp_regression")
    found = recorded.differences(
        SearchConfig(space="mlp_regression"), other_space, "fp2", resumable_settings()
    )
    assert found == [
        "the space ('mlp_quick' in the study)",
        "the data (fingerprint fp in the study, fp2 given)",
    ]


def test_a_setting_the_study_does_not_record_is_compared_with_its_default():
    recorded = _record(SearchConfig())
    older = replace(recorded, settings={k: v for k, v in recorded.settings.items() if k != "patience"})
    assert older.differences(SearchConfig(), SPACE, "fp", ()) == []
    assert older.differences(SearchConfig(patience=9), SPACE, "fp", ())[0].startswith("patience 5 (study)")


def test_the_record_round_trips_and_a_study_without_a_format_number_is_format_1():
    study = optuna.create_study()
    recorded = _record(SearchConfig(tracking_uri="http://u:secret@host:5000"))
    recorded.write(study)
    assert StudyRecord.read(study) == recorded and recorded.format == FORMAT
    assert "secret" not in str(study.user_attrs)
    legacy = optuna.create_study()  # what tuner wrote before the format was numbered
    for key, value in study.user_attrs.items():
        if key != FORMAT_ATTR:
            legacy.set_user_attr(key, value)
    assert StudyRecord.read(legacy).format == 1
    assert StudyRecord.read(legacy).config().epochs == SearchConfig().epochs


def test_a_study_tuner_did_not_create_is_refused_by_name():
    study = optuna.create_study(study_name="theirs")
    with pytest.raises(TunerError, match="study 'theirs' was not created by tuner"):
        StudyRecord.read(study)


def test_a_study_made_before_models_had_names_resumes_as_the_mlp():
    study = optuna.create_study()
    _record(SearchConfig(study="s")).write(study)
    study.set_user_attr("tuner.model", {})  # what a study made before models had names lacks
    old = StudyRecord.read(study)
    assert old.model is None and old.space().model == "mlp"
    assert old.differences(SearchConfig(study="s", resume=True), SPACE, "fp", resumable_settings()) == []


def test_a_resume_with_another_model_or_a_changed_model_file_is_refused_naming_it():
    cnn = load_space("cnn")
    recorded = StudyRecord.new(
        SearchConfig(study="s"), cnn, "fp", RunTarget("u", "1", "p", "", "search", "p"), False
    )
    same = SearchConfig(study="s", resume=True)
    assert recorded.differences(same, cnn, "fp", resumable_settings()) == []
    other = replace(cnn, model="wide_deep")
    assert recorded.differences(same, other, "fp", resumable_settings()) == [
        "the model 'cnn' (study) vs 'wide_deep' (given)"
    ]
    own = replace(cnn, model="nets.py:build")
    mine = StudyRecord.new(
        SearchConfig(study="s"), own, "fp", RunTarget("u", "1", "p", "", "search", "p"), False, "a" * 64
    )
    found = mine.differences(same, own, "fp", resumable_settings(), "b" * 64)
    assert found == ["the model's file 'nets.py:build' (changed since the study was made)"]
