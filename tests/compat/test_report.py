"""The verdict table writer: rows come from the records of a run, never typed by hand (runs in the main suite too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat import report
from tests.compat.report import Record, render, result, write_report


def record(outcome: str, **kwargs) -> Record:
    fields = {"package": "pytest", "module": "M", "loss": "ce", "expected": "exact", **kwargs}
    return Record(nodeid=f"tests/compat/test_x.py::test_{outcome}", outcome=outcome, **fields)


@pytest.mark.parametrize(
    ("outcome", "expected", "cell"),
    [
        ("passed", "exact", "**exact**"),
        ("passed", "clear refusal", "**clear refusal**"),
        ("failed", "exact", "**FAILED** (expected exact; see the test run)"),
        ("skipped", "exact", "skipped"),
    ],
)
def test_result_cell(outcome, expected, cell):
    assert result(record(outcome, expected=expected)) == cell


def test_xfailed_row_gives_the_reason():
    assert result(record("xfailed", xfail_reason="#24 item 1: why")) == "**wrong today** (#24 item 1: why)"


def test_render_sorts_rows_counts_results_and_names_installed_versions(tmp_path):
    records = [
        record("xfailed", package="torch", xfail_reason="#24 item 9: r"),
        record("passed", package="pytest", note="a note"),
        record("passed", package="not-a-package-xyz"),
    ]
    path = tmp_path / "compat.md"
    write_report(records, path)
    text = path.read_text()
    assert text == render(records)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`test_" in line]
    assert [row.split(" | ")[0] for row in rows] == [
        "| not-a-package-xyz not installed",
        f"| pytest {pytest.__version__}",
        f"| torch {__import__('importlib.metadata').metadata.version('torch')}",
    ]
    assert "| a note |" in rows[1]
    assert "Summary: 2 exact, 1 wrong today." in text


def test_readme_table_is_the_generated_page_summarised():
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    start = readme.index(report.README_START) + len(report.README_START)
    block = readme[start : readme.index(report.README_END)].strip()
    assert block == report.readme_table((root / "docs" / "compat.md").read_text())
    assert "| torchgeo" in block and "exact" in block
