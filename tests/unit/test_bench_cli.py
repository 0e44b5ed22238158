"""`python -m bench`: every benchmark has a sub-command, each `--help` works without running (or importing) it,
and a report replaces only its own section of the performance doc."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

cli = importlib.import_module("bench.__main__")
report = importlib.import_module("bench.report")

BENCHMARKS = {"webhook", "fuzz", "shapes", "model-validation", "hotpath", "apiserver", "controller", "failure"}


def subcommands() -> set[str]:
    parser = cli.build_parser()
    (action,) = [a for a in parser._actions if a.dest == "benchmark"]
    return set(action.choices)


def test_every_benchmark_and_all_are_subcommands() -> None:
    assert subcommands() == BENCHMARKS | {"all"}
    assert {benchmark.name for benchmark in cli.BENCHMARKS} == BENCHMARKS


@pytest.mark.parametrize("name", sorted(BENCHMARKS | {"all"}))
def test_help_of_each_subcommand_runs_nothing(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = set(sys.modules)
    with pytest.raises(SystemExit) as exit_info:
        cli.main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"python -m bench {name}" in out
    assert "--quick" in out
    assert "--no-write" in out
    assert not {module for module in set(sys.modules) - before if module.startswith("bench.")}


def test_top_level_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in BENCHMARKS | {"all"})


def test_write_section_replaces_its_own_section_and_keeps_the_others(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nintro\n\n## A\n\nold a\n\n### A detail\n\nold detail\n\n## B\n\nkept b\n")
    report.write_section("A", "## A\n\nnew a\n", doc)
    report.write_section("C", "## C\n\nnew c\n", doc)
    assert doc.read_text() == "# Performance\n\nintro\n\n## A\n\nnew a\n\n## B\n\nkept b\n\n## C\n\nnew c\n"


def test_table_renders_markdown_with_numbers_right_aligned() -> None:
    table = report.Table(["name", "ms"], [["a", "1.0"]], right=frozenset({1}))
    assert table.markdown() == "| name | ms |\n|---|---:|\n| a | 1.0 |"
