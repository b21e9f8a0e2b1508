"""`fabkube console` driven as a user does: the command in its own process, the page in a real
headless Chromium (Debian's, through its chromedriver; `./dev test` installs both). Shared by the
local seed test and the seed in real pods."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable


@contextlib.contextmanager
def console_process(home, *args: str):
    """`fabkube console` running with `args` until the block ends (environment: this process's,
    KUBECONFIG included); yields the URL it printed."""
    env = dict(os.environ, FABKUBE_HOME=str(home))
    said = home / f"console-{os.urandom(4).hex()}.err"
    with said.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "fabkube.cli", "console", "--port", "0", *args], env=env,
                                stderr=err, stdout=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"on (http://\S+)\s", said.read_text())):
            assert proc.poll() is None and time.monotonic() < deadline, f"console said: {said.read_text()}"
            time.sleep(0.2)
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def browser():
    """Headless Chromium from Debian, driven through its chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,1000")
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def console_shows_the_network(
    home,
    net,
    names: list[str],
    stop: Callable[[], None],
    start: Callable[[], None],
    picture,
    console_args: tuple[str, ...] = (),
    red_within: float = 10,
    back_within: float = 30,
) -> None:
    """`fabkube console` in a real browser: the topology shows every component of `names`; a
    transaction submitted now appears in the block list with its validation code; the
    committed-TPS chart moves while a client submits; kafka-2, stopped by `stop`, turns red with a
    reason within `red_within` seconds, and green again within `back_within` after `start`.
    A screenshot of it is saved as `picture`."""
    from selenium.webdriver.support.ui import WebDriverWait

    with console_process(home, "--interval", "1", *console_args) as url, net.gateway("Org1") as gw:
        driver = browser()
        try:
            driver.get(url)
            wait = WebDriverWait(driver, 30, poll_frequency=0.3)
            # The page redraws every refresh: read it in one script, never through held elements.
            js = lambda script: driver.execute_script(script)  # noqa: E731
            shown = lambda: dict(js("return [...document.querySelectorAll('#topology .node')]"  # noqa: E731
                                    ".map(e => [e.dataset.name, e.dataset.state])"))  # fmt: skip
            wait.until(lambda _: set(shown()) == set(names))
            assert set(shown().values()) == {"running"}, shown()

            contract = gw.contract("mychannel", "mycc")
            tx = contract.new_proposal("move", "a", "b", "0").endorse()
            assert tx.submit().status(timeout=30).code_name == "VALID"
            cells = f"""return [...document.querySelectorAll('#channels tr[data-tx="{tx.transaction_id}"] td')]
                        .map(td => td.textContent)"""
            wait.until(lambda _: js(cells))
            assert js(cells)[2:] == ["mycc", "move", "VALID"], js(cells)

            # The chart moves while transactions commit: from zero once idle, up while a client
            # submits one transaction after another.
            last = lambda: float(js("return document.getElementById('chart-tps').dataset.last") or 0)  # noqa: E731
            wait.until(lambda _: last() == 0)
            sent, deadline = 0, time.monotonic() + 60
            while last() <= 0 and time.monotonic() < deadline:
                contract.submit("move", "a", "b", "0", timeout=30)
                sent += 1
            assert last() > 0, "the TPS chart stayed at zero"
            drawn = js("return document.querySelector('#chart-tps polyline').getBBox().height")
            assert drawn > 0, "the TPS chart's line is not drawn"
            print(f"console: TPS chart from 0 to {last():.2f} tx/s after {sent} transactions")

            stop()
            stopped = time.monotonic()
            try:
                wait.until(lambda _: shown().get("kafka-2") == "stopped")
                took = time.monotonic() - stopped
                color, why = js("""const n = document.querySelector('#topology .node[data-name="kafka-2"]');
                    return [getComputedStyle(n).backgroundColor, (n.querySelector('.why') || {}).textContent]""")
                assert color == "rgb(197, 48, 48)", color  # the page's red
                assert why, "no reason shown"
                print(f"console: kafka-2 red {took:.1f}s after it stopped: {why!r}")
                assert took < red_within
                driver.save_screenshot(str(picture))
            finally:
                start()
            # and green again once it runs
            WebDriverWait(driver, back_within, poll_frequency=0.5).until(lambda _: shown().get("kafka-2") == "running")
            print(f"console: kafka-2 green again {time.monotonic() - stopped:.1f}s after it was stopped")
        finally:
            driver.quit()
