"""The configuration reference, docs/configuration.md, generated from :mod:`charword.config`.

  python -m charword.config_reference > docs/configuration.md

One table per section of :class:`charword.config.CharwordConfig` (field, type, default,
description). Descriptions are the ``Attributes:`` entries of each section class's
docstring; a field without one is an error (:func:`undocumented_fields`), so the page
cannot leave a field out. tests/test_docs.py checks that the committed page equals this
output.
"""
import dataclasses
import inspect
import json
import re
import sys
import typing
from typing import Dict, List, Tuple

from charword import config

COMMAND = "python -m charword.config_reference > docs/configuration.md"

INTRO = """\
# Configuration reference

<!-- Generated from the docstrings of charword/config.py; do not edit by hand.
     Regenerate with: {command} -->

charword has one typed configuration, `CharwordConfig` in `charword/config.py`, with one
section per concern. A run takes the defaults below, then the JSON file given with
`--config` (any subset of sections and fields), then the command-line flags. Unknown
sections or fields, and values that cannot work, stop the run before anything starts,
naming the field (`charword: configuration error: model.char_dim must be an integer > 0, got 0`).
Types are strict, checked against each field's annotation (`charword/config_types.py`):
`"no"` is not a boolean, `"0.01"` is not a number, `true` is not an integer, and a section
must be an object; JSON lists stand for tuples and integers for floats.

```json
{{"model": {{"char_encoder": "ngrams", "word_bigram_buckets": 100000}},
 "training": {{"max_epochs": 5}},
 "noise": {{"lexicon": "train_lexicon.tsv"}}}}
```

| flag of `charword run` and `charword compile-kubeflow` | field |
|---|---|
| `--config FILE` | a JSON file of sections, as above |
| `--output-dir DIR` | `pipeline.output_dir` |
| `--text-column C`, `--label-column L` | `data.text_column`, `data.label_column` |
| `--eval-data PATH` | `data.eval_data` |
| `--max-epochs N` | `training.max_epochs` |
| `--train-steps N` | `training.train_steps` |
| `--variant V` | `model.variant` |
| `--word-vectors PATH`, `--word-vectors-mode M` | `model.word_vectors`, `model.word_vectors_mode` |
| `--preset P` | `pipeline.preset` |
| `--teacher-checkpoint DIR` | `teacher.checkpoint` |
| `--beam-arg=ARG` (repeatable) | `pipeline.beam_args` |

Defaults are shown as they are written in the JSON file (`null` is Python's `None`;
lists stand for tuples).
"""


def sections() -> List[Tuple[str, type]]:
    """``(name, section class)`` of every field of :class:`CharwordConfig`, in order."""
    hints = typing.get_type_hints(config.CharwordConfig)
    return [(field.name, hints[field.name]) for field in dataclasses.fields(config.CharwordConfig)]


def _docstring_parts(cls: type) -> Tuple[List[str], Dict[str, str]]:
    """The docstring's prose paragraphs and its ``Attributes:`` entries by name."""
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    prose, attributes = [], {}
    current, entry_indent, in_attributes = None, None, False
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped == "Attributes:":
            in_attributes, current, entry_indent = True, None, None
            continue
        if in_attributes:
            if not stripped:
                current = None
                continue
            if entry_indent is None:
                entry_indent = indent
            if indent == entry_indent and re.match(r"^\w+:", stripped):
                name, _, text = stripped.partition(":")
                current = name
                attributes[name] = text.strip()
                continue
            if current is not None and indent > entry_indent:
                attributes[current] += " " + stripped
                continue
            in_attributes = False  # text after the list, back at the docstring's own indentation
        prose.append(stripped)
    paragraphs = [" ".join(part.split("\n")).strip() for part in "\n".join(prose).split("\n\n")]
    return [paragraph for paragraph in paragraphs if paragraph], attributes


def undocumented_fields() -> List[str]:
    """``section.field`` of every field without an ``Attributes:`` entry, and of every
    entry that names no field."""
    problems = []
    for name, cls in sections():
        _, attributes = _docstring_parts(cls)
        fields = [field.name for field in dataclasses.fields(cls)]
        problems += [f"{name}.{field} (no Attributes: entry in {cls.__name__}'s docstring)"
                     for field in fields if field not in attributes]
        problems += [f"{name}.{entry} (documented in {cls.__name__}'s docstring, but no such field)"
                     for entry in attributes if entry not in fields]
    return problems


def _markdown(text: str) -> str:
    """Docstring markup as Markdown: ``code`` and :role:`target` become `code`."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _cell(text: str) -> str:
    return _markdown(text).replace("|", "\\|")


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = field.default_factory()  # type: ignore[misc]
    else:
        return ""
    return "`" + json.dumps(value).replace("|", "\\|") + "`"


def render() -> str:
    """The whole page, Markdown."""
    problems = undocumented_fields()
    if problems:
        raise ValueError("fields without a description: " + "; ".join(problems))
    out = [INTRO.format(command=COMMAND)]
    for name, cls in sections():
        prose, attributes = _docstring_parts(cls)
        out.append(f"## `{name}`\n")
        out.extend(_markdown(paragraph) + "\n" for paragraph in prose)
        out.append("| field | type | default | description |")
        out.append("|---|---|---|---|")
        for field in dataclasses.fields(cls):
            out.append(f"| `{name}.{field.name}` | `{field.type}` | {_default(field)} | "
                       f"{_cell(attributes[field.name])} |")
        out.append("")
    return "\n".join(out)


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
