"""The dashboard in headless Chromium (Debian's, driven by Selenium and Debian's chromedriver).

One supervisor (behind basic auth) with a real queue server and an echo program, one browser,
for the whole module: the page loads, shows a tube's counts, kicking a buried job changes
them, a stopped process shows STOPPED and starts again by its button, the log tail shows a
line the process just printed, and a job body holding HTML is shown as text.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from webharness import Stack, running_stack

from tubeworks.client import Client, NotFound

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
AUTH = ("admin", "pa55")

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
        reason="needs Debian chromium and chromium-driver (./dev installs them)",
    ),
]

Driver = Any


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("webui"), AUTH) as s:
        yield s


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Driver]:
    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
        "--window-size=1280,1400",
    ):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(f"http://{AUTH[0]}:{AUTH[1]}@127.0.0.1:{stack.http_port}/")
        yield driver
    finally:
        driver.quit()


def until(driver: Driver, condition: Callable[[Driver], Any], timeout: float = 15) -> Any:
    """Wait for ``condition``; elements replaced under us by a live update just mean "again"."""
    wait = WebDriverWait(
        driver, timeout, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException]
    )
    return wait.until(condition)


def text_of(driver: Driver, css: str) -> str | None:
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else None


def tube_cell(stack: Stack, tube: str, column: str) -> str:
    return f'[data-queue="{stack.queue}"] tr[data-tube="{tube}"] td[data-col="{column}"]'


def open_tube(driver: Driver, stack: Stack, tube: str) -> None:
    link = until(
        driver,
        lambda d: d.find_element(
            By.CSS_SELECTOR, f'[data-queue="{stack.queue}"] tr[data-tube="{tube}"] a.tube'
        ),
    )
    link.click()
    until(driver, lambda d: text_of(d, "#tube-name") == tube)


def click(driver: Driver, css: str) -> None:
    until(driver, lambda d: d.find_element(By.CSS_SELECTOR, css).is_enabled())
    until(driver, lambda d: d.find_element(By.CSS_SELECTOR, css).click() or True)


def process_cell(name: str, column: int) -> str:
    return f'#proc-table tr[data-name="{name}"] td:nth-child({column})'


def test_page_shows_tube_counts_and_kicking_a_buried_job_changes_them(
    stack: Stack, browser: Driver
) -> None:
    tube = "kick-" + uuid.uuid4().hex[:6]
    with Client(stack.queue, use=tube, watch=tube) as c:
        for i in range(3):
            c.put(f"job {i}")
        c.bury(c.reserve(timeout=0))
    until(browser, lambda d: text_of(d, tube_cell(stack, tube, "buried")) == "1")
    assert text_of(browser, tube_cell(stack, tube, "ready")) == "2"
    assert browser.title == "tubeworks"
    open_tube(browser, stack, tube)
    until(browser, lambda d: text_of(d, '.peek[data-state="buried"] pre') == "job 0")
    click(browser, "#tube-kick")
    until(browser, lambda d: text_of(d, tube_cell(stack, tube, "buried")) == "0")
    assert text_of(browser, tube_cell(stack, tube, "ready")) == "3"


def test_job_body_with_html_is_shown_as_text_and_delete_needs_confirmation(
    stack: Stack, browser: Driver, tmp_path: Path
) -> None:
    tube = "html-" + uuid.uuid4().hex[:6]
    body = '<img src=x onerror="document.title=\'pwned\'"><b id="injected">bold</b> & more'
    with Client(stack.queue, use=tube) as c:
        job_id = c.put(body)
        c.put('{"user": "<script>x</script>", "n": [1, 2]}', delay=3600)
    open_tube(browser, stack, tube)
    until(browser, lambda d: text_of(d, '.peek[data-state="ready"] pre') == body)
    delayed = until(browser, lambda d: text_of(d, '.peek[data-state="delayed"] pre'))
    assert delayed == '{\n  "user": "<script>x</script>",\n  "n": [\n    1,\n    2\n  ]\n}'
    assert browser.find_elements(By.ID, "injected") == []
    assert browser.title == "tubeworks"

    shot = Path(os.environ.get("TUBEWORKS_SCREENSHOT") or tmp_path / "dashboard.png")
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    click(browser, '.peek[data-state="ready"] [data-action="delete"]')
    until(browser, expected_conditions.alert_is_present()).dismiss()
    with Client(stack.queue) as c:
        assert c.peek(job_id).body == body.encode()  # dismissed: still there
    click(browser, '.peek[data-state="ready"] [data-action="delete"]')
    until(browser, expected_conditions.alert_is_present()).accept()
    until(browser, lambda d: text_of(d, tube_cell(stack, tube, "ready")) == "0")
    with Client(stack.queue) as c, pytest.raises(NotFound):
        c.peek(job_id)


def test_a_stopped_process_shows_stopped_and_starts_again_by_its_button(
    stack: Stack, browser: Driver
) -> None:
    until(browser, lambda d: text_of(d, process_cell("echo", 2)) == "RUNNING")
    click(browser, '#proc-table tr[data-name="echo"] [data-action="stop"]')
    until(browser, expected_conditions.alert_is_present()).accept()
    until(browser, lambda d: text_of(d, process_cell("echo", 2)) == "STOPPED")
    assert stack.process("echo")["state"] == "STOPPED"
    assert text_of(browser, process_cell("echo", 3)) == ""  # no pid
    click(browser, '#proc-table tr[data-name="echo"] [data-action="start"]')
    until(browser, lambda d: text_of(d, process_cell("echo", 2)) == "RUNNING")
    pid = stack.process("echo")["pid"]
    until(browser, lambda d: text_of(d, process_cell("echo", 3)) == str(pid))


def test_log_tail_shows_a_line_the_process_just_printed(stack: Stack, browser: Driver) -> None:
    stack.wait_state("echo", "RUNNING")
    click(browser, '#proc-table tr[data-name="echo"] [data-action="log"]')
    until(browser, lambda d: text_of(d, "#log-name") == "echo")
    token = uuid.uuid4().hex
    stack.rpc().supervisor.sendProcessStdin("echo", f"<u>{token}</u>\n")
    until(browser, lambda d: f"echo: <u>{token}</u>" in (text_of(d, "#log-text") or ""))
    assert browser.find_elements(By.CSS_SELECTOR, "#log-text u") == []


def test_the_page_logged_no_errors(browser: Driver) -> None:
    """Runs last: whatever the tests above clicked, the page's script never failed."""
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
