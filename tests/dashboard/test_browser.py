"""End to end in a real browser: ``imu replay`` serves the page, headless Chromium shows steps and figures
that update. Skips cleanly where Chromium, its driver or selenium is missing (CI installs them: .ci/run)."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator

import pytest

from .conftest import FATIGUE_RUN, REPO
from .test_cli import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1300,1800",
)


@pytest.fixture
def browser() -> Iterator[object]:
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("chromium / chromium-driver not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="imu-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
        try:
            yield driver
        finally:
            driver.quit()


def _running_steps(driver: object) -> int:
    text = driver.find_element("id", "status").text  # type: ignore[attr-defined]
    match = re.search(r"(\d+) running steps", text)
    return int(match.group(1)) if match else -1


def _wait(condition: object, timeout_s: float) -> bool:
    from selenium.common.exceptions import WebDriverException

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():  # type: ignore[operator]
                return True
        except WebDriverException:  # the page is still being built by Dash's renderer
            pass
        time.sleep(0.25)
    return False


def test_replay_page_shows_steps_and_figures_that_update(browser: object) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "imu.cli", "replay", str(FATIGUE_RUN), "--speed", "200", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        assert _wait(lambda: _reachable(url), 30), "the server did not come up"
        browser.get(url)  # type: ignore[attr-defined]
        assert _wait(lambda: _running_steps(browser) > 0, 30), "no steps appeared"
        first = _running_steps(browser)
        assert _wait(lambda: _running_steps(browser) > first + 100, 20), "the step count did not update"
        cadence = r"1[4-9]\d\.\d spm"  # a number, re-rendered every second (hence the retries)
        text = lambda: browser.find_element("id", "big-cadence_spm").text  # type: ignore[attr-defined]  # noqa: E731
        assert _wait(lambda: re.match(cadence, text()), 20), "no cadence shown"
        points = "return document.querySelectorAll('#minutes .scatterlayer .point').length"
        assert _wait(lambda: browser.execute_script(points) >= 9, 30), "no per-minute points"  # type: ignore[attr-defined]
        n_points = browser.execute_script(points)  # type: ignore[attr-defined]
        assert _wait(lambda: browser.execute_script(points) > n_points, 30), "minutes did not grow"  # type: ignore[attr-defined]
        assert _wait(lambda: "vs baseline" in browser.find_element("id", "cards").text, 30)  # type: ignore[attr-defined]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0


def _reachable(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).read()
    except OSError:
        return False
    return True
