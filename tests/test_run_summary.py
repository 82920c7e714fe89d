"""The run summary as printed: undefined metrics, a model already serving, cells that span lines, its title."""
from pipeline.run_summary import ComponentRun, RunSummary, format_summary


def _summary(**changes):
    values = dict(components=[ComponentRun("Trainer", "cached", 0.0)], metrics={}, blessed=True,
                  validation_failures=[], servable=None, servable_reason="", pushed=False, pushed_to=None,
                  evaluation_uri="/e", baseline_model="/p/Trainer/model/8")
    values.update(changes)
    return RunSummary(**values)


def test_an_undefined_auc_is_shown_as_such_not_as_zero():
    text = format_summary(_summary(metrics={"has_oov=1": {"example_count": 1.0, "macro_auc": None,
                                                          "sparse_categorical_accuracy": 1.0}}))
    assert "OOV slice (has_oov=1): examples=1, macro_auc=n/a (undefined on one example)" in text
    assert "0.0000" not in text


def test_a_model_already_serving_is_reported_as_not_pushed_and_why():
    reason = "the candidate is the model already serving: its files are identical to version 5 (/s/5); nothing to push"
    text = format_summary(_summary(already_serving=reason))
    assert "  blessed: yes" in text and f"  pushed: no: {reason}" in text and "servable" not in text


def test_cells_that_span_lines_are_a_warning_in_the_summary():
    staging = {"rows_read": 3, "rows_kept": 3, "rows_dropped": 0, "rows_truncated": 0, "multiline_cells": 1,
               "first_multiline_cell": "d.csv, row 2 (lines 2-3), column 'text': 'Loved it,pos\\n2,Hated it'",
               "report": "/o/staging_report.json", "split": {"train": 2, "eval": 1}, "kept_in_train": []}
    text = format_summary(_summary(staging=staging))
    assert "warning: 1 cell(s) span lines, first: d.csv, row 2 (lines 2-3)" in text
    assert "eval split: 1 rows (stratified hash buckets of the data; 2 train)" in text


def test_a_pretraining_run_is_titled_as_one():
    language_model = {"perplexity": 280.0, "untrained_perplexity": 13000.0, "held_out_texts": 10,
                      "vocabulary_words": 50, "num_sampled": 8, "tokens_per_s": [4000.0]}
    assert "\ncharword pretrain summary\n-------------------------\n" in format_summary(
        _summary(language_model=language_model))
    assert "\ncharword run summary\n--------------------\n" in format_summary(_summary())
