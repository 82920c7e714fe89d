"""The user's guide: README.md stays short, every relative link in it and in docs/ leads
to a file (and heading) that exists, every command shown in a ```sh block parses with
the parser of the program it calls, and docs/configuration.md is what
``python -m charword.config_reference`` writes. Pure Python: no TensorFlow."""
import argparse
import contextlib
import importlib
import importlib.util
import io
import os
import re
import shlex
from typing import Iterator, List, NamedTuple, Optional

import pytest

from charword import config_reference

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
DOCS = os.path.join(REPO, "docs")
README_MAX_LINES = 250
# The pages the README's documentation index names, each findable by name.
DOC_PAGES = ("pipeline.md", "model.md", "configuration.md", "running-at-scale.md", "serving.md", "pretrained.md",
             "distillation.md", "embeddings.md", "benchmarks.md", "faults.md", "development.md")

SH_BLOCK = re.compile(r"^```(?:sh|bash|shell)[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
SHELL_OPERATORS = {">", ">>", "<", "|", "||", "&&", ";", "&", "2>", "2>&1"}
PYTHONS = {"python", "python3", "python3.10"}


def _markdown_files() -> List[str]:
    pages = sorted(os.path.join(DOCS, name) for name in os.listdir(DOCS) if name.endswith(".md"))
    return [README, *pages]


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _relative(path: str) -> str:
    return os.path.relpath(path, REPO)


class Command(NamedTuple):
    where: str  # file:line
    text: str
    argv: List[str]


def _commands(path: str) -> Iterator[Command]:
    """Every command line of the file's ```sh blocks (continuation lines joined), split
    as the shell splits it, cut at the first redirection or pipe."""
    text = _read(path)
    for block in SH_BLOCK.finditer(text):
        first_line = text.count("\n", 0, block.start(1)) + 1
        pending, start = "", None
        for offset, line in enumerate(block.group(1).splitlines()):
            start = first_line + offset if not pending else start
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            logical, pending = pending + line, ""
            argv = shlex.split(logical, comments=True)
            for index, token in enumerate(argv):
                if token in SHELL_OPERATORS:
                    argv = argv[:index]
                    break
            while argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
                argv = argv[1:]  # VAR=value before the program
            if argv:
                yield Command(f"{_relative(path)}:{start}", logical.strip(), argv)


def _all_commands() -> List[Command]:
    return [command for path in _markdown_files() for command in _commands(path)]


def _parse_error(parser: argparse.ArgumentParser, args: List[str]) -> Optional[str]:
    """argparse's complaint about ``args``, or None when they parse (``--help`` included)."""
    errors = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errors):
        try:
            parser.parse_args(args)
        except SystemExit as stop:
            if stop.code not in (0, None):
                return errors.getvalue().strip() or f"exit status {stop.code}"
    return None


def _cli_parser() -> argparse.ArgumentParser:
    from cli.main import build_parser  # pylint: disable=import-outside-toplevel
    return build_parser()


def _bench_parser(report: str) -> Optional[argparse.ArgumentParser]:
    from bench.__main__ import REPORTS  # pylint: disable=import-outside-toplevel
    return importlib.import_module(REPORTS[report]).build_parser() if report in REPORTS else None


def _submit_parser() -> argparse.ArgumentParser:
    """kubeflow/submit.py's parser (the script is not a package module)."""
    spec = importlib.util.spec_from_file_location("kubeflow_submit", os.path.join(REPO, "kubeflow", "submit.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class Parser(argparse.ArgumentParser):
        def parse_args(self, args=None, namespace=None):  # pylint: disable=arguments-differ
            return module.parse_args(args)
    return Parser()


def _makefile_targets() -> set:
    return set(re.findall(r"^([A-Za-z][\w-]*):", _read(os.path.join(REPO, "Makefile")), re.MULTILINE))


def _problem(argv: List[str]) -> Optional[str]:
    """Why the command would not start as written, or None. Programs the project does not
    own (curl, docker, gsutil, tensorboard) are not checked."""
    program = os.path.basename(argv[0])
    if program == "charword":
        return _charword_problem(argv[1:])
    if program == "make":
        missing = [target for target in argv[1:] if not target.startswith("-") and target not in _makefile_targets()]
        return f"no Makefile target {missing}" if missing else None
    if program not in PYTHONS or len(argv) < 2:
        return None
    if argv[1] == "-m":
        module, args = argv[2], argv[3:]
        if module == "cli":
            return _charword_problem(args)
        if module == "bench":
            parser = _bench_parser(args[0]) if args else None
            return _parse_error(parser, args[1:]) if parser else f"python -m bench has no report {args[:1]}"
        try:
            found = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            found = None
        if found is None:
            return f"no module {module}"
        if module == "charword.config_reference" and args:
            return "python -m charword.config_reference takes no arguments"
        return None
    script = argv[1]
    if script.endswith(".py"):
        if not os.path.isfile(os.path.join(REPO, script)):
            return f"no script {script}"
        if os.path.normpath(script) == os.path.join("kubeflow", "submit.py"):
            return _parse_error(_submit_parser(), argv[2:])
    return None


def _charword_problem(args: List[str]) -> Optional[str]:
    parser = _cli_parser()
    problem = _parse_error(parser, args)
    if problem is None and args and not args[0].startswith("-"):
        problem = _parse_error(parser, [args[0], "--help"])  # the subcommand's own --help answers
    return problem


COMMANDS = _all_commands()


def test_readme_is_at_most_250_lines():
    lines = len(_read(README).splitlines())
    assert lines <= README_MAX_LINES, (f"README.md has {lines} lines, more than {README_MAX_LINES}: move detail to "
                                       "a page under docs/ and link it")


def test_every_docs_page_exists_and_the_readme_links_it():
    readme = _read(README)
    pages = sorted(name for name in os.listdir(DOCS) if name.endswith(".md"))
    assert set(DOC_PAGES) <= set(pages), f"missing pages: {sorted(set(DOC_PAGES) - set(pages))}"
    unlinked = [name for name in pages if f"(docs/{name})" not in readme]
    assert not unlinked, f"docs pages the README's index does not link: {unlinked}"


def _anchors(path: str) -> set:
    """GitHub's anchors of the file's headings."""
    anchors = set()
    text = re.sub(r"^```.*?^```", "", _read(path), flags=re.MULTILINE | re.DOTALL)
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_every_relative_link_leads_to_a_file_and_heading_that_exist():
    broken = []
    for path in _markdown_files():
        text = re.sub(r"^```.*?^```", "", _read(path), flags=re.MULTILINE | re.DOTALL)
        for target in LINK.findall(text):
            if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            if not os.path.exists(linked):
                broken.append(f"{_relative(path)}: {target} (no such file)")
            elif anchor and linked.endswith(".md") and anchor not in _anchors(linked):
                broken.append(f"{_relative(path)}: {target} (no heading #{anchor} in {_relative(linked)})")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_guide_shows_commands_of_each_entry_point():
    programs = {os.path.basename(c.argv[0]) for c in COMMANDS}
    modules = {c.argv[2] for c in COMMANDS if len(c.argv) > 2 and c.argv[1] == "-m"}
    for expected in ("charword", "make"):
        assert expected in programs, f"no {expected} command found in the ```sh blocks (is the block syntax intact?)"
    assert "bench" in modules, "no python -m bench command found in the ```sh blocks"


@pytest.mark.parametrize("command", COMMANDS, ids=[c.where for c in COMMANDS])
def test_every_command_shown_parses(command):
    problem = _problem(command.argv)
    assert problem is None, f"{command.where}: `{command.text}` does not parse:\n{problem}"


def test_configuration_reference_documents_every_field():
    missing = config_reference.undocumented_fields()
    assert not missing, ("every config field needs an `Attributes:` entry in its section class's docstring "
                         "(charword/config.py):\n" + "\n".join(missing))


def test_configuration_reference_is_up_to_date():
    committed = _read(os.path.join(DOCS, "configuration.md"))
    assert committed == config_reference.render(), (
        "docs/configuration.md differs from the config dataclasses' docstrings; regenerate it with "
        f"`{config_reference.COMMAND}`")
