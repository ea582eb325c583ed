"""The compatibility suite's markers, Trainer fixture and verdict recording (issue #24).

Every test carries ``@pytest.mark.verdict(package=..., module=..., loss=..., expected=...)``; ``expected`` is one of
:data:`tests.compat.report.VERDICTS`. ``pytest tests/compat --compat-report docs/compat.md`` writes the "works with"
table from the outcomes of the run (``make compat`` does), so the table is never typed by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.compat.report import VERDICTS, Record, write_report

_RECORDS: list[Record] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--compat-report", default=None, help="write the compatibility table (Markdown) to this path")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "compat: a case of the compatibility suite with real third-party packages")
    config.addinivalue_line(
        "markers", "verdict(package, module, loss, expected): the row of docs/compat.md this test decides"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("verdict") is None:
            continue
        item.add_marker(pytest.mark.compat)
        expected = item.get_closest_marker("verdict").kwargs["expected"]
        if expected not in VERDICTS:
            raise pytest.UsageError(f"Expected verdict `expected` in {VERDICTS}, but got {expected!r} ({item.nodeid}).")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("verdict")
    if marker is None:
        return
    # the call phase decides; a failed setup is recorded too (the call phase then never runs)
    if report.when == "call" or (report.when == "setup" and not report.passed):
        xfail = item.get_closest_marker("xfail")
        _RECORDS.append(
            Record(
                nodeid=item.nodeid,
                outcome="xfailed" if hasattr(report, "wasxfail") and report.skipped else report.outcome,
                xfail_reason=xfail.kwargs.get("reason", "") if xfail is not None else "",
                **marker.kwargs,
            )
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = session.config.getoption("--compat-report", default=None)
    if path and _RECORDS:
        write_report(_RECORDS, Path(path))


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every case starts from the same global seed, so the packages' random initialisations repeat run to run."""
    import torch

    torch.manual_seed(0)


@pytest.fixture
def fit(tmp_path):
    """Train a module for two batches on CPU with a real Trainer (``trainer_cls`` picks the namespace)."""
    import lightning.pytorch as L

    from tests.realistic.recording import TRAINER_OPTIONS

    def run(model: Any, train: Any, *, callbacks: list[Any], val: Any = None, trainer_cls: Any = None, **kwargs: Any):
        options = {**TRAINER_OPTIONS, "max_steps": 2, **kwargs}
        trainer = (trainer_cls or L.Trainer)(default_root_dir=tmp_path, callbacks=callbacks, **options)
        trainer.fit(model, train, val)
        return trainer

    return run
