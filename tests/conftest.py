from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# --- parallel runs (pytest-xdist, `--dist loadscope`) ------------------------------------------------
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """One worker per test module, so module-scoped fixtures (the Debian package build, the OctoPrint
    virtualenv) are made once and never by two workers into one folder; and one worker for all of
    tests/vm, whose modules share one booted guest (a session fixture, sockets in build/vm/run)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "tests/vm" if nodeid.startswith("tests/vm/") else str(super()._split_scope(nodeid))

    return ModuleScheduling(config, log)
