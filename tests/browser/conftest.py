"""Browser tests: Debian's Chromium driven by Playwright against the app served by waitress.

Locally, they are skipped with a message when /usr/bin/chromium is missing; in CI
(CI=true) a missing browser is a failure.
"""

import contextlib
import email
import os
import re
import subprocess
import sys
import time
import urllib.request
from email import policy
from pathlib import Path

import pytest

from ..conftest import free_port

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "mot de passe des parcours 2026"
EP = str(Path(sys.executable).with_name("ep"))
AXE = (Path(__file__).parent.parent / "vendor" / "axe-core-4.14.1.min.js").read_text()
ARTIFACTS = Path(__file__).parent.parent / "artifacts"


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session", autouse=True)
def _chromium_present():
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--disable-gpu",
            "--disable-quic",
            "--no-sandbox",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """`ep init --demo` then `ep serve` on a free port, as an operator would. With
    EP_BROWSER_DATABASE_URL, on that (empty) database, PostgreSQL for instance; by default a
    SQLite file in the temporary instance folder."""
    with serving(tmp_path_factory, os.environ.get("EP_BROWSER_DATABASE_URL")) as running:
        yield running


@contextlib.contextmanager
def serving(tmp_path_factory, database_url=None, **settings):
    """An instance of its own, with demo data, served by `ep serve` on a free port."""
    if not Path(CHROMIUM).exists():
        pytest.skip("no browser")
    instance = tmp_path_factory.mktemp("browser") / "instance"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "EP_INSTANCE_PATH": str(instance),
        "EP_DEMO_PASSWORD": PASSWORD,
        "EP_BASE_URL": base,
        **settings,
    }
    env.pop("EP_DATABASE_URL", None)
    if database_url:
        env["EP_DATABASE_URL"] = database_url
    subprocess.run([EP, "init", "--demo"], env=env, check=True, capture_output=True, timeout=120)
    process = subprocess.Popen(
        [EP, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)
    try:
        yield {"base": base, "instance": instance, "pid": process.pid}
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def base_url(server):
    return server["base"]


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "fr-FR", "viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def console_errors(context):
    """Console errors (CSP violations included) of every page of the test; must stay empty.
    The status of an error page visited on purpose (403, 404, 410) is not an error."""
    errors = []

    def collect(message):
        expected = "the server responded with a status of 4" in message.text
        if message.type == "error" and not expected:
            errors.append(message.text)

    context.on("console", collect)
    yield errors


BUSY = ".htmx-request, .htmx-settling, .htmx-swapping, .htmx-added"


def settle(page):
    """Wait until htmx has finished the exchange the last action started (if any)."""
    page.wait_for_load_state("load")
    # Polled from here: wait_for_function would evaluate a string in the page, which our
    # own CSP (no unsafe-eval) rightly forbids.
    deadline = time.monotonic() + 10
    while page.evaluate(f"!!document.querySelector({BUSY!r})"):
        if time.monotonic() > deadline:
            raise AssertionError("htmx did not settle within 10 s")
        page.wait_for_timeout(20)
    page.wait_for_timeout(30)  # ep.js moves the focus right after htmx settles


def act(page, target):
    """Click like a user, then wait for the page (or the htmx swap) to be done."""
    (page.locator(target) if isinstance(target, str) else target).click()
    settle(page)


def login(page, username, password=PASSWORD):
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    act(page, "button:has-text('Se connecter')")
    if "/cgu" in page.url:
        page.check("#accept")
        act(page, "button:has-text('Accepter et continuer')")


def logout(page):
    act(page, "button:has-text('Se déconnecter')")


def mail_to(server, address, containing="", timeout=15):
    """The newest e-mail sent to this address (holding `containing`), from the instance
    outbox. The server's sender thread delivers just after the request that queued it: wait
    a little for it."""
    folder = Path(server["instance"]) / "outbox"
    deadline = time.monotonic() + timeout
    while True:
        for path in sorted(folder.glob("*.eml"), reverse=True):
            with open(path, "rb") as f:
                message = email.message_from_binary_file(f, policy=policy.default)
            body = message.get_body(("plain",)).get_content()
            if message["To"] == address and containing in body:
                return body
        if time.monotonic() > deadline:
            raise AssertionError(f"no e-mail to {address}")
        time.sleep(0.1)


def link_in(body):
    return re.search(r"(http://127\.0\.0\.1:\d+/\S+)", body).group(1)


def axe(page, context_note=""):
    """Run axe-core's WCAG 2.1 A and AA rules on the page; return the violations."""
    page.evaluate(AXE)
    result = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        f"{context_note} {page.url}: {v['id']} – {v['help']} – "
        + "; ".join(
            n["target"][0] if isinstance(n["target"][0], str) else str(n["target"])
            for n in v["nodes"][:3]
        )
        for v in result["violations"]
    ]


def screenshot(page, name):
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
