"""Screenshots of the console (spec §13) for docs/console.md, taken on the demo's data.

Anyone can run it (after ``make install`` and ``make system-deps``, which installs Debian's
chromium)::

    .venv/bin/python scripts/console_screenshots.py            # writes docs/img/console-*.png

It fills a temporary database with ``poagate demo`` (a simulated week of a small fleet), opens a
few windows now (so that DCC operations' windows page has some), starts ``poagate serve`` on a
free loopback port, signs in as DNO 12 and as DCC operations in Chromium, and saves the pages
at 1280×800 (and the log on a phone's 390×844). Nothing is fetched from anywhere but the
server it started.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' helpers: how they start a server and a browser

from tests.browser.chromium import launch  # noqa: E402
from tests.servers import Server  # noqa: E402

POAGATE = [sys.executable, "-m", "poagate.cli"]


def token(database: Path, role: str, *operators: str) -> str:
    """A token made as an operator makes one: ``poagate token create`` (its last line)."""
    extra = [a for o in operators for a in ("--network-operator", o)]
    made = subprocess.run(
        [*POAGATE, "token", "create", "--database", str(database), "--role", role, *extra],
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]


def open_windows_now(url: str, admin: str, dsp: str, count: int = 6) -> None:
    """Repeat a few of the demo's eligible activations now, so some windows are open."""
    answer = httpx.get(
        f"{url}/v1/activations",
        params={"limit": 200},
        headers={"Authorization": f"Bearer {admin}"},
        timeout=30,
    )
    answer.raise_for_status()
    eligible = [a for a in answer.json()["items"] if a["reason"] == "eligible"][:count]
    for n, record in enumerate(eligible):
        request_id = f"{record['originator']}:{record['device_id']}:{900_000 + n}"
        posted = httpx.post(
            f"{url}/v1/messages",
            json={"type": "activation", "request_id": request_id},
            headers={"Authorization": f"Bearer {dsp}"},
            timeout=30,
        )
        posted.raise_for_status()


def sign_in(page: Page, url: str, secret: str) -> None:
    page.goto(f"{url}/ui/login")
    page.get_by_label("API token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/ui/")


def take(url: str, dno: str, admin: str, out: Path) -> list[Path]:
    """Sign in as DNO 12 and as DCC operations and save the pages."""
    shots: list[Path] = []

    def shot(page: Page, name: str) -> None:
        path = out / f"console-{name}.png"
        page.screenshot(path=str(path))
        shots.append(path)

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            sign_in(page, url, dno)
            shot(page, "dno-log")
            page.locator("table.log tbody tr[data-alert-id] a").first.click()
            shot(page, "dno-explain")
            phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            sign_in(phone, url, dno)
            shot(phone, "dno-phone")
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            sign_in(page, url, admin)
            shot(page, "admin-log")
            page.goto(f"{url}/ui/windows")
            shot(page, "admin-windows")
        finally:
            browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="poagate-screens-") as work:
        database = Path(work) / "demo.db"
        print("Filling a demo database (poagate demo --esmes 2000) ...")
        subprocess.run(
            [*POAGATE, "demo", "--esmes", "2000", "--db", str(database), "--out", work],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        admin, dno = token(database, "admin"), token(database, "dno", "12")
        server = Server(f"sqlite:///{database}")
        try:
            open_windows_now(server.url, admin, token(database, "dsp"))
            shots = take(server.url, dno, admin, args.out)
        finally:
            server.stop()
    for path in shots:
        print(f"{path}: {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
