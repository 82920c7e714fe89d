"""DuplicateCheck's comparison of a candidate model with the version serving. The full
component runs in the pipeline tests: an unchanged rerun pushes nothing
(test_pipeline_e2e.py)."""
import shutil

from components.duplicate_check import fingerprint, serving_version, verdict


def _model(path, variables=b"weights"):
    (path / "variables").mkdir(parents=True)
    (path / "variables" / "variables.data-00000-of-00001").write_bytes(variables)
    (path / "saved_model.pb").write_bytes(b"graph")
    return path


def test_the_serving_version_is_the_newest_complete_one(tmp_path):
    push_dir = tmp_path / "serving"
    assert serving_version(str(push_dir)) is None
    _model(push_dir / "7")
    _model(push_dir / "12")
    (push_dir / "30" / "variables").mkdir(parents=True)  # still being copied: no saved_model.pb yet
    _model(push_dir / "tmp")
    assert serving_version(str(push_dir)) == (12, str(push_dir / "12"))


def test_a_candidate_identical_to_the_serving_version_is_not_new(tmp_path):
    push_dir = tmp_path / "serving"
    candidate = _model(tmp_path / "Trainer" / "model" / "8" / "Format-Serving")
    assert verdict(str(candidate), str(push_dir))[0]  # nothing serves yet
    shutil.copytree(candidate, push_dir / "1796545392")
    new, reason, duplicate_of = verdict(str(candidate), str(push_dir))
    assert not new and duplicate_of == str(push_dir / "1796545392")
    assert "already serving" in reason and "version 1796545392" in reason and "nothing to push" in reason


def test_any_changed_added_or_renamed_file_makes_a_new_model(tmp_path):
    serving = _model(tmp_path / "serving" / "1")
    base = fingerprint(str(serving))
    assert fingerprint(str(_model(tmp_path / "same"))) == base
    assert fingerprint(str(_model(tmp_path / "retrained", variables=b"other weights"))) != base
    extra = _model(tmp_path / "extra")
    (extra / "assets").mkdir()
    (extra / "assets" / "labels").write_bytes(b"pos\nneg\n")
    assert fingerprint(str(extra)) != base
    renamed = _model(tmp_path / "renamed")
    (renamed / "variables" / "variables.data-00000-of-00001").rename(renamed / "variables" / "other")
    assert fingerprint(str(renamed)) != base
    assert verdict(str(tmp_path / "retrained"), str(tmp_path / "serving"))[0]
