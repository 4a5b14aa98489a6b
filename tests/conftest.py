from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


# --- skips are failures unless listed -------------------------------------------------------------
_skipped: list[tuple[str, str]] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--strict-skips", action="store_true",
                     help="fail the run when a test skips that tests/skips.py does not allow")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append((report.nodeid, reason))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not session.config.getoption("--strict-skips"):
        return
    from tests.skips import ALLOWED_SKIPS

    unexpected = [(node, why) for node, why in _skipped if node.split("[", 1)[0] not in ALLOWED_SKIPS]
    if unexpected:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["tests skipped that tests/skips.py does not allow (install what they need, or list them there):"]
        lines += [f"  {node}: {why}" for node, why in unexpected]
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- parallel runs (pytest-xdist, `--dist loadgroup`) ------------------------------------------------
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One worker per test module: module-scoped fixtures (the Debian package build, the OctoPrint
    virtualenv, a booted guest) are then made once and never by two workers into one folder.
    A module that shares more than its own fixtures names its group itself (`xdist_group`)."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            module = item.module.__name__ if item.module else item.nodeid
            # tests/vm shares one booted guest (a session fixture, sockets in build/vm/run) across modules.
            group = "vm" if module.startswith("tests.vm.") else module
            item.add_marker(pytest.mark.xdist_group(group))
