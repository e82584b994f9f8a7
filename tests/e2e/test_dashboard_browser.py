"""End to end: `spendwatch dashboard` on a demo warehouse, every page in Debian's chromium
driven by Playwright, one screenshot per page in tests/e2e/screenshots/ (git-ignored); and the
proxy-header allow-list over real HTTP requests."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from spendwatch.demo import DemoSummary, build_demo

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
# url path, what must be on it
PAGES = [
    ("", "Month-end forecast"),
    ("gpu", "GPU-hours bought"),
    ("storage", "Monthly cost"),
    ("savings", "Potential saving / month"),
    ("findings", "Total saving / month"),
    ("health", "Failed Slack messages"),
]
CHARTED = ("", "gpu", "storage", "savings")

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> DemoSummary:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; `make test` installs Debian's chromium")
    return build_demo(tmp_path_factory.mktemp("demo"), shared_data=shared_data, host_count=20)


@contextmanager
def serve(summary: DemoSummary, **settings: str) -> Iterator[str]:
    """`spendwatch dashboard` on a free loopback port with extra SPENDWATCH_ settings."""
    port = _free_port()
    command = [str(Path(sys.executable).parent / "spendwatch"), "dashboard", "--port", str(port)]
    environment = {**os.environ, "SPENDWATCH_DATABASE__URL": summary.database_url, **settings}
    server = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}_stcore/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.stdout.read().decode() if server.stdout else ""
                    pytest.fail(f"spendwatch dashboard did not come up: {output[-2000:]}")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(scope="module")
def dashboard_url(demo: DemoSummary) -> Iterator[str]:
    with serve(demo) as url:
        yield url


def test_every_page_renders_in_chromium_without_errors(dashboard_url: str) -> None:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 2000})
        try:
            for path, marker in PAGES:
                page.goto(f"{dashboard_url}{path}?start=2024-09-01&end=2024-09-30")
                page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
                page.wait_for_selector(
                    '[data-testid="stStatusWidget"]', state="detached", timeout=30_000
                )
                if path in CHARTED:
                    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=30_000)
                page.wait_for_timeout(1500)  # let Plotly finish drawing before the screenshot
                name = path or "overview"
                page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
                assert page.locator('[data-testid="stException"]').count() == 0, name
                assert page.locator('[data-testid="stAlertContentError"]').count() == 0, name
                assert marker in page.inner_text('[data-testid="stMain"]'), name
        finally:
            browser.close()


def test_the_proxy_header_allow_list_over_real_requests(demo: DemoSummary) -> None:
    from playwright.sync_api import sync_playwright

    allowed = {
        "SPENDWATCH_DASHBOARD__AUTH": "proxy-header",
        "SPENDWATCH_DASHBOARD__ALLOWED_USERS": '["alice@example.com"]',
    }
    with serve(demo, **allowed) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for who, admitted in (
                ("alice@example.com", True),
                ("mallory@example.com", False),
                (None, False),
            ):
                headers = {"X-Forwarded-Email": who} if who else {}
                context = browser.new_context(extra_http_headers=headers)
                page = context.new_page()
                page.goto(f"{url}?start=2024-09-01&end=2024-09-30")
                # Either the Overview's metrics or the access-denied error, whichever is drawn,
                # read once the script run is over (Streamlit draws elements as they come, and a
                # rerun can replace the first ones while later ones still show).
                page.locator(
                    '[data-testid="stMetric"], [data-testid="stAlertContentError"]'
                ).first.wait_for(timeout=30_000)
                page.wait_for_selector(
                    '[data-testid="stStatusWidget"]', state="detached", timeout=30_000
                )
                page.get_by_text(re.compile("Month to date|Access denied")).first.wait_for(
                    timeout=30_000
                )
                text = page.inner_text('[data-testid="stMain"]')
                assert ("Month to date" in text) is admitted, (who, text[:300])
                assert ("Access denied" in text) is not admitted, (who, text[:300])
                context.close()
        finally:
            browser.close()
