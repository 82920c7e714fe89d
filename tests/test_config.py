"""The configuration's strict types: every field of every section refuses a value of the
wrong type with a message naming ``section.field``; JSON's lists stand for tuples."""
import dataclasses
import json
import typing

import pytest

from charword.config import CharwordConfig, ConfigError, load_config
from charword.config_types import describe

SECTIONS = typing.get_type_hints(CharwordConfig)  # section name -> its dataclass


def _wrong_values(annotation) -> list:
    """Values of the wrong type for ``annotation``: truthy stand-ins and numbers in strings."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union:
        return _wrong_values(next(arg for arg in args if arg is not type(None)))
    if origin is tuple:
        inner = _wrong_values(args[0])[0]
        return ["a string", [inner] * (1 if args[-1] is Ellipsis else len(args)), [] if args[-1] is not Ellipsis
                else {"not": "a list"}]
    return {bool: ["no", "false", 1], int: [True, "5", 2.5], float: ["0.1", True], str: [5, True, ["a"]]}[annotation]


def _field_cases():
    for section, section_cls in SECTIONS.items():
        for name, annotation in typing.get_type_hints(section_cls).items():
            for value in _wrong_values(annotation):
                yield pytest.param(section, name, value, id=f"{section}.{name}={value!r}")


@pytest.mark.parametrize("section,name,value", list(_field_cases()))
def test_each_field_refuses_a_value_of_the_wrong_type_naming_it(section, name, value):
    with pytest.raises(ConfigError) as error:
        CharwordConfig.from_dict({section: {name: value}})
    assert f"{section}.{name}" in str(error.value)
    assert " must be " in str(error.value)


def test_every_section_and_field_is_covered():
    cases = {(case.values[0], case.values[1]) for case in _field_cases()}
    expected = {(section, item.name) for section, section_cls in SECTIONS.items()
                for item in dataclasses.fields(section_cls)}
    assert cases == expected and len(expected) > 60


@pytest.mark.parametrize("values,message", [
    ({"preprocessing": {"lowercase": "no"}}, "preprocessing.lowercase must be true or false, got 'no' (a string)"),
    ({"pipeline": {"enable_cache": "false"}}, "pipeline.enable_cache must be true or false, got 'false'"),
    ({"training": {"batch_size": True}}, "training.batch_size must be an integer, got True (a boolean)"),
    ({"training": {"learning_rate": "0.01"}}, "training.learning_rate must be a number, got '0.01' (a string)"),
    ({"noise": {"rate": "0.1"}}, "noise.rate must be a number, got '0.1'"),
    ({"training": 5}, "training must be an object of training fields, got 5"),
    ({"model": {"char_filters": [[3]]}}, "model.char_filters[0] must be a list of 2 integers, got [3]"),
    ({"model": {"char_ngrams": [3, 6, 9]}}, "model.char_ngrams must be a list of 2 integers"),
    ({"pipeline": {"beam_args": ["--runner=DirectRunner", 3]}}, "pipeline.beam_args[1] must be a string, got 3"),
    ({"data": {"eval_data": 3}}, "data.eval_data must be a string or null, got 3"),
    ([["data", {}]], "the configuration must be an object of sections"),
    ({"train": {}}, "unknown configuration section(s): ['train']"),
    ({"training": {"epochz": 3}}, "unknown field(s) in training: ['epochz']"),
    ({"model": {"word_vectors": "glove.txt", "init_from": "encoder/1"}},
     "model.word_vectors must be null with model.init_from"),
])
def test_the_reported_cases_name_the_field(values, message):
    with pytest.raises(ConfigError) as error:
        CharwordConfig.from_dict(values)
    assert message in str(error.value)


def test_json_lists_stand_for_tuples_and_integers_for_floats(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model": {"char_filters": [[2, 8], [3, 16]], "char_ngrams": [2, 4], "dropout": 0},
                                "pipeline": {"beam_args": ["--direct_num_workers=1"]},
                                "training": {"train_steps": None, "eval_steps": 3}}))
    cfg = load_config(str(path))
    assert cfg.model.char_filters == ((2, 8), (3, 16)) and cfg.model.char_ngrams == (2, 4)
    assert cfg.model.dropout == 0.0 and isinstance(cfg.model.dropout, float)
    assert cfg.pipeline.beam_args == ("--direct_num_workers=1",)
    assert cfg.training.train_steps is None and cfg.training.eval_steps == 3
    assert CharwordConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_direct_construction_is_checked_too():
    with pytest.raises(ConfigError, match=r"training\.max_epochs must be an integer, got '3'"):
        CharwordConfig().replace(training={"max_epochs": "3"})


def test_types_are_described_in_words():
    assert describe(typing.Tuple[typing.Tuple[int, int], ...]) == "a list of lists of 2 integers"
    assert describe(typing.Optional[int]) == "an integer or null"
    assert describe(typing.Tuple[str, ...]) == "a list of strings"
