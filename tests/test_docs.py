"""The README and docs/ say what the code does: commands, config keys, env variables.

Each test reads a claim out of the Markdown and checks it against the code, so a flag,
config key or variable renamed in one place and not the other fails here.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shlex
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from ruamel.yaml import YAML

from leptonci.cli import build_parser
from leptonci.core.config import Config, parse_config

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]
# Variables a doc names that the package does not read: the test suite's own.
READ_BY_TESTS = {"LEPTONCI_REQUIRE_SERVICES", "LEPTONCI_FUZZ_SECONDS"}
SAMPLES = {"SECONDS": "30", "N": "3"}
GLOBAL = {"-h", "--help", "-C", "-o", "--output", "--json", "--debug"}


def blocks(path: Path, *, lang: str | None = None) -> list[str]:
    """The fenced code blocks of a Markdown file (those of one language, if given)."""
    found = re.findall(r"^```([\w-]*)\n(.*?)^```", path.read_text(), re.M | re.S)
    return [body for tag, body in found if lang is None or tag == lang]


def section(path: Path, heading: str) -> str:
    text = path.read_text()
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def commands_block() -> list[str]:
    [block] = blocks_in(section(README, "Commands"))
    return [line for line in block.splitlines() if line.startswith("leptonci ")]


def blocks_in(text: str) -> list[str]:
    return re.findall(r"^```[\w-]*\n(.*?)^```", text, re.M | re.S)


def synopsis(line: str) -> str:
    """`leptonci history ENV [--from-git]   description` -> the part before the description."""
    return re.split(r"\s{2,}|\s+#", line.strip(), maxsplit=1)[0]


def expand(usage: str) -> Iterator[list[str]]:
    """Concrete argument lists for a synopsis: every option given, each choice tried.

    `[...]` optional parts are all included; `push|pull-request` tries each literal;
    `RELEASE|DIGEST` and other upper-case words are placeholders filled with a sample.
    """
    words = shlex.split(usage.replace("[", " ").replace("]", " "))[1:]  # drop "leptonci"
    options: list[list[str]] = []
    for word in words:
        parts = word.split("|")
        if all(p.isupper() for p in parts):
            options.append([SAMPLES.get(parts[0], parts[0].lower())])
        else:
            options.append(parts)
    for combo in itertools.product(*options):
        yield list(combo)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands `leptonci --help` shows (the training Job's `worker` it does not)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            shown = {choice.dest for choice in action._choices_actions}
            return {name: sub for name, sub in action.choices.items() if name in shown}
    raise AssertionError("no subcommands")


def shown_commands() -> list[str]:
    """Every `leptonci ...` line of a shell block in README.md and docs/*.md."""
    lines = []
    for path in DOCS:
        for block in blocks(path):
            for line in block.splitlines():
                found = re.search(r"(?:^|[|;&]\s*|\$ )(leptonci\s+[^|;&]*)", line)
                if found and not line.lstrip().startswith(("#", "-", "uses:")):
                    lines.append(synopsis(found.group(1)))
    return lines


# -- commands ---------------------------------------------------------------------------


@pytest.mark.parametrize("line", commands_block(), ids=lambda line: synopsis(line))
def test_every_command_line_in_the_readme_parses(line: str) -> None:
    parser = build_parser()
    for argv in expand(synopsis(line)):
        parser.parse_args(argv)


def test_the_readme_lists_every_command_with_all_its_options() -> None:
    listed = {synopsis(line).split()[1]: synopsis(line) for line in commands_block()}
    missing = []
    for name, sub in subcommands(build_parser()).items():
        if name not in listed:
            missing.append(f"command {name}")
            continue
        for action in sub._actions:
            if str(action.help or "").startswith("deprecated"):
                continue  # kept working, no longer shown
            for flag in action.option_strings:
                if flag not in GLOBAL and flag not in listed[name]:
                    missing.append(f"{name} {flag}")
    assert not missing, "README's Commands block lacks: " + ", ".join(missing)


def test_command_lines_in_the_docs_parse() -> None:
    parser = build_parser()
    shown = shown_commands()
    assert len(shown) > 10
    for usage in shown:
        for argv in expand(usage):
            try:
                parser.parse_args(argv)
            except SystemExit:
                pytest.fail(f"does not parse: {usage}")


def test_the_readme_states_the_exit_codes_the_cli_prints() -> None:
    from leptonci.cli import EXIT_CODES
    from leptonci.core.errors import ExitCode

    text = " ".join(README.read_text().split())
    for code in (0, 1, 2, 3, 70, 130, *ExitCode):
        assert f"`{int(code)}`" in text and f"{int(code)} " in EXIT_CODES, code
    assert {int(c) for c in ExitCode} >= {0, 1, 2, 3, 70, 130}


# -- config -----------------------------------------------------------------------------


def config_reference() -> str:
    return blocks_in(section(README, "Config reference"))[0]


def other_shapes() -> list[str]:
    """The blocks after the reference: each a ``serving:`` section in place of its own."""
    return blocks_in(section(README, "Config reference"))[1:]


def with_serving(block: str) -> str:
    """The config reference with its model's ``serving:`` section replaced by block."""
    reference = config_reference()
    start = reference.index("    serving:")
    end = reference.index("\n    gate:", start) + 1
    return reference[:start] + textwrap.indent(block, "    ") + reference[end:]


def test_the_config_reference_is_a_valid_config(tmp_path: Path) -> None:
    config = parse_config(config_reference(), file="README.md", root=tmp_path)
    assert set(config.models) == {"digits"}
    assert len(other_shapes()) == 2
    for block in other_shapes():
        parse_config(with_serving(block), file="README.md", root=tmp_path)


def field_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"  # the key as YAML spells it: nvidia.com/gpu
        yield path
        for kind in _types(field.annotation):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                yield from field_paths(kind, f"{path}.")


def _types(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in getattr(annotation, "__args__", ()):
        yield from _types(arg)


def key_paths(node: Any, prefix: str = "") -> Iterator[str]:
    """Key paths of a YAML tree, with list items and dict-valued maps (models.NAME) folded."""
    if isinstance(node, list):
        for item in node:
            yield from key_paths(item, prefix)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield f"{prefix}{key}"
            yield from key_paths(value, f"{prefix}{key}.")


def test_the_config_reference_shows_every_key() -> None:
    data = YAML(typ="safe").load(config_reference())
    shown = set(key_paths(data))
    for block in other_shapes():
        shown |= {f"models.digits.{p}" for p in key_paths(YAML(typ="safe").load(block))}
    # models.NAME and gate.METRIC are names the user picks; fold them into the schema path.
    shown |= {
        re.sub(r"^models\.[^.]+", "models", re.sub(r"\.gate\.[^.]+", ".gate", p)) for p in shown
    }
    missing = sorted(set(field_paths(Config)) - shown)
    assert not missing, "README's config reference lacks: " + ", ".join(missing)


def test_the_example_config_is_valid() -> None:
    parse_config((REPO / "leptonci.yaml").read_text(), file="leptonci.yaml", root=REPO)


# -- environment variables --------------------------------------------------------------


def package_source() -> str:
    return "\n".join(p.read_text() for p in (REPO / "leptonci").rglob("*.py"))


def test_every_variable_the_docs_name_is_read() -> None:
    source = package_source()
    named = set()
    for path in DOCS:
        named |= set(
            re.findall(r"\b(LEPTONCI_[A-Z_]*[A-Z]|GITHUB_[A-Z_]*[A-Z])\b", path.read_text())
        )
    named -= READ_BY_TESTS
    unread = sorted(v for v in named if f'"{v}"' not in source and f"'{v}'" not in source)
    assert not unread, "named in the docs but read nowhere in leptonci/: " + ", ".join(unread)


def test_the_variables_only_the_tests_read_are_read_by_the_tests() -> None:
    source = "\n".join(p.read_text() for p in (REPO / "tests").rglob("*.py"))
    unread = sorted(v for v in READ_BY_TESTS if f'"{v}"' not in source)
    assert not unread, "READ_BY_TESTS names variables no test reads: " + ", ".join(unread)


def test_every_leptonci_variable_the_package_reads_is_documented() -> None:
    read = set(re.findall(r"[\"'](LEPTONCI_[A-Z_]*[A-Z])[\"']", package_source()))
    docs = "\n".join(p.read_text() for p in DOCS)
    undocumented = sorted(v for v in read if v not in docs)
    assert not undocumented, "read by leptonci but in no doc: " + ", ".join(undocumented)
