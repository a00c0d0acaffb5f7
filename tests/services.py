"""Pytest plugin: the external services some gridmgr tests need.

Services
--------
``postgres``
    A PostgreSQL server with PostGIS, named by ``GRIDMGR_TEST_PG_URL``
    (SQLAlchemy form, e.g. ``postgresql+psycopg://gridmgr:gridmgr@127.0.0.1:5432/gridmgr_test``).
    Fixtures: ``pg_url`` (that URL, checked) and ``pg_dsn`` (the same in plain
    libpq form, for ``psycopg.connect``).
``browser``
    Debian's Chromium (``GRIDMGR_CHROMIUM``, default ``/usr/bin/chromium``)
    driven by Playwright. Fixtures: ``chromium_browser`` (session) and ``page``
    (a fresh context + page per test).

Policy: when a service is missing, the tests that need it are SKIPPED with a
loud reason -- unless ``GRIDMGR_REQUIRE_SERVICES=1`` (set by ``.ci/run``), in
which case they FAIL. ``bash .ci/run`` installs and starts both services.

Tests marked ``@pytest.mark.postgres`` / ``@pytest.mark.browser`` get the
service checked even if they don't request the fixture, and tests requesting
the fixtures get the marker added, so ``-m "not postgres"`` works either way.

A header line and a closing section name each service and whether its tests
really ran, so a laptop run cannot silently pass without them.

Wiring: ``pytest_plugins = ["tests.services"]`` in ``tests/conftest.py``.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PG_URL_ENV = "GRIDMGR_TEST_PG_URL"
CHROMIUM_ENV = "GRIDMGR_CHROMIUM"
REQUIRE_ENV = "GRIDMGR_REQUIRE_SERVICES"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Headless Chromium on a machine whose only network is loopback: without the
# background-networking flags it keeps trying (and failing) to reach Google.
CHROMIUM_ARGS = (
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
)

TAG = "[gridmgr-services]"
SERVICES = ("postgres", "browser")
HOW_TO = {
    "postgres": (
        f"To run them: export {PG_URL_ENV}=postgresql+psycopg://USER:PASSWORD@127.0.0.1:5432/DB"
        " (a database with `CREATE EXTENSION postgis`), or run `bash .ci/run`"
        " (Debian 12, as root), which installs and starts one."
    ),
    "browser": (
        "To run them: `apt-get install chromium fonts-noto-cjk` and"
        " `pip install -e '.[dev]'` (Playwright), or export"
        f" {CHROMIUM_ENV}=/path/to/chromium, or run `bash .ci/run`."
        " Never `playwright install`: use Debian's chromium."
    ),
}
LABEL = {"postgres": "PostgreSQL+PostGIS", "browser": "Chromium (Playwright)"}
# Fixtures that imply a marker (so `-m "not browser"` deselects their tests).
FIXTURE_MARKERS = {
    "pg_url": "postgres",
    "pg_dsn": "postgres",
    "chromium_browser": "browser",
    "page": "browser",
}


# ------------------------------------------------------------------ helpers --
def services_required() -> bool:
    """True when missing services must fail the run (CI), not skip."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def libpq_url(url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy) -> ``postgresql://...`` (libpq)."""
    return re.sub(r"^(postgres(?:ql)?)\+\w+://", r"\1://", url.strip())


def redact(url: str) -> str:
    """Hide the password of a URL for messages."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


@dataclass(frozen=True)
class Probe:
    ok: bool
    detail: str  # why not, or a short description when ok
    value: str = ""  # the URL / executable to use when ok


@functools.cache
def probe_postgres() -> Probe:
    url = os.environ.get(PG_URL_ENV, "").strip()
    if not url:
        return Probe(False, f"{PG_URL_ENV} is not set")
    try:
        import psycopg
    except ImportError:
        return Probe(False, "the Python package psycopg is not installed (pip install -e '.[dev]')")
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5, autocommit=True) as conn:
            row = conn.execute("SELECT postgis_full_version()").fetchone()
            server = conn.info.server_version
    except psycopg.errors.UndefinedFunction:
        why = "answers but PostGIS is missing (run `CREATE EXTENSION postgis` as superuser)"
        return Probe(False, f"{redact(url)} {why}")
    except Exception as exc:
        return Probe(False, f"cannot connect to {redact(url)}: {_first_line(exc)}")
    full = str(row[0]) if row else ""
    postgis = re.search(r'POSTGIS="([^"]*)"', full)
    detail = (
        f"{redact(url)} (PostgreSQL {server // 10000}.{server % 10000},"
        f" PostGIS {postgis.group(1) if postgis else full[:60]})"
    )
    return Probe(True, detail, url)


def chromium_path() -> str | None:
    explicit = os.environ.get(CHROMIUM_ENV, "").strip()
    if explicit:
        return explicit
    if os.path.exists(DEFAULT_CHROMIUM):
        return DEFAULT_CHROMIUM
    return shutil.which("chromium")


@functools.cache
def probe_chromium() -> Probe:
    """Cheap check (no launch): an executable and the playwright package."""
    path = chromium_path()
    if path is None:
        return Probe(False, f"{CHROMIUM_ENV} is not set and {DEFAULT_CHROMIUM} does not exist")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return Probe(False, f"{path} is not an executable file")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        why = "the Python package playwright is not installed (pip install -e '.[dev]')"
        return Probe(False, why)
    return Probe(True, path, path)


def _unavailable(service: str, why: str) -> NoReturn:
    message = (
        f"{TAG} {LABEL[service]} NOT AVAILABLE: {why}. "
        f"Tests marked '{service}' did NOT run. {HOW_TO[service]} "
        "These tests are MANDATORY in CI."
    )
    if services_required():
        pytest.fail(f"{message} ({REQUIRE_ENV}=1: failing instead of skipping)", pytrace=False)
    pytest.skip(message)


# ----------------------------------------------------------------- fixtures --
@pytest.fixture(scope="session")
def pg_url() -> str:
    """GRIDMGR_TEST_PG_URL, after checking the server answers with PostGIS."""
    probe = probe_postgres()
    if not probe.ok:
        _unavailable("postgres", probe.detail)
    return probe.value


@pytest.fixture(scope="session")
def pg_dsn(pg_url: str) -> str:
    """``pg_url`` in libpq form, for ``psycopg.connect(pg_dsn)``."""
    return libpq_url(pg_url)


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (one per session/worker)."""
    probe = probe_chromium()
    if not probe.ok:
        _unavailable("browser", probe.detail)
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(
            executable_path=probe.value,
            headless=True,
            args=list(CHROMIUM_ARGS),
            timeout=60_000,
        )
    except Exception as exc:
        pw.stop()
        _unavailable("browser", f"launching {probe.value} failed: {_first_line(exc)}")
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()


@pytest.fixture
def page(chromium_browser: Browser) -> Iterator[Page]:
    """A fresh browser context and page (zh-CN, Asia/Shanghai), closed after the test."""
    context = chromium_browser.new_context(
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 1280, "height": 800},
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(autouse=True)
def _gridmgr_service_markers(request: pytest.FixtureRequest) -> None:
    """A test marked postgres/browser gets its service checked (skip/fail) first."""
    if request.node.get_closest_marker("postgres") is not None:
        request.getfixturevalue("pg_url")
    if request.node.get_closest_marker("browser") is not None:
        request.getfixturevalue("chromium_browser")


# -------------------------------------------------------------------- hooks --
@pytest.hookimpl(tryfirst=True)  # before `-m` deselection sees the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in names and item.get_closest_marker(marker) is None:
                item.add_marker(marker)


def pytest_report_header(config: pytest.Config) -> list[str]:
    mode = (
        f"{REQUIRE_ENV}=1: a missing service FAILS its tests"
        if services_required()
        else f"{REQUIRE_ENV} unset: a missing service SKIPS its tests"
    )
    lines = [f"gridmgr services ({mode}):"]
    for service, probe in (("postgres", probe_postgres()), ("browser", probe_chromium())):
        state = "available" if probe.ok else "NOT AVAILABLE"
        lines.append(f"  {service:<8} {state}: {probe.detail}")
    return lines


def _service_reason(report: pytest.TestReport) -> str | None:
    """Our TAG message carried by a skip/error report, if any."""
    if report.skipped and isinstance(report.longrepr, tuple):
        text = str(report.longrepr[2])
    else:
        text = report.longreprtext
    for line in text.splitlines():
        if TAG in line:
            return line[line.index(TAG) + len(TAG) :].strip()
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Final outcome per test id, per service (works with pytest-xdist too:
    # worker reports carry the markers in `keywords`).
    outcomes: dict[str, dict[str, str]] = {s: {} for s in SERVICES}
    reasons: dict[str, str] = {}
    for category in ("passed", "failed", "error", "skipped", "xfailed", "xpassed"):
        for report in terminalreporter.stats.get(category, []):
            if not isinstance(report, pytest.TestReport):
                continue
            for service in SERVICES:
                if service not in report.keywords:
                    continue
                reason = _service_reason(report)
                if reason is not None:
                    outcomes[service][report.nodeid] = "unavailable"
                    reasons.setdefault(service, reason)
                else:
                    outcomes[service].setdefault(report.nodeid, category)

    lines: list[tuple[str, dict[str, bool]]] = []
    missing = 0
    for service in SERVICES:
        results = outcomes[service]
        not_run = sum(1 for o in results.values() if o == "unavailable")
        ran = len(results) - not_run
        if not results:
            probe = probe_postgres() if service == "postgres" else probe_chromium()
            state = "available" if probe.ok else "NOT AVAILABLE"
            text = f"{service:<8} no selected test needs it ({state}: {probe.detail})"
            lines.append((text, {}))
        elif not_run:
            missing += not_run
            verb = "FAILED" if services_required() else "SKIPPED"
            text = f"{service:<8} {verb}: {not_run} test(s) did NOT run -- {reasons[service]}"
            lines.append((text, {"red": True, "bold": True}))
        if ran:
            text = f"{service:<8} available: {ran} test(s) ran against it"
            lines.append((text, {"green": True}))

    if missing:
        title = f"gridmgr services: {missing} service test(s) did NOT run -- this is NOT a full run"
        terminalreporter.write_sep("!", title, red=True, bold=True)
    else:
        terminalreporter.write_sep("=", "gridmgr services", bold=True)
    for text, markup in lines:
        terminalreporter.write_line(text, **markup)
