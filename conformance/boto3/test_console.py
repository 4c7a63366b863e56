"""The web console (`glacier serve --console`) in headless Chromium, driven by Playwright, over
what boto3 created: sign-in refused with a wrong secret, the vault list matching boto3's,
archive search by description and mt2 path, jobs, uploads, the lock and tags, a session good
on every node, sign-out. Screenshots of each page are taken and checked (size, not blank); with
$GLACIER_CONSOLE_SCREENSHOTS they are kept there (docs/console holds the committed ones).
"""

import base64
import json
import os
import pathlib
import shutil
import struct
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zlib

import pytest

from conftest import make_client
from harness import ACCESS_KEY, OTHER_ACCESS_KEY, OTHER_SECRET_KEY, SECRET_KEY, Server, eventually

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = {"width": 1100, "height": 760}


@pytest.fixture(scope="module")
def console_server():
    s = Server("--console", "--usage-interval", "1s", "--retrieval-delay", "expedited=0s,standard=0s,bulk=1h")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("GLACIER_REQUIRE_SERVICES"):
            pytest.fail(f"Chromium is not at {CHROMIUM}; scripts/test installs Debian's chromium")
        pytest.skip("no Chromium (Debian's chromium package)")
    with playwright_api.sync_playwright() as p:
        # As root in a sandbox with no network: no Chromium sandbox, no background fetches.
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def shots():
    keep = os.environ.get("GLACIER_CONSOLE_SCREENSHOTS")
    if keep:
        pathlib.Path(keep).mkdir(parents=True, exist_ok=True)
        yield pathlib.Path(keep)
    else:
        with tempfile.TemporaryDirectory(prefix="glacier-console-") as d:
            yield pathlib.Path(d)


def mt2(path):
    doc = json.dumps({"filename": path, "mtime": "20240102T030405Z"}).encode()
    return "mt2 " + base64.urlsafe_b64encode(doc).decode().rstrip("=")


def check_png(path, width):
    """A PNG of the page's width, whose pixels are not all alike (the page rendered)."""
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", path
    w, h = struct.unpack(">II", raw[16:24])
    assert w == width and h >= 300, (path, w, h)
    idat, at = b"", 8
    while at < len(raw):
        length, kind = struct.unpack(">I4s", raw[at:at + 8])
        if kind == b"IDAT":
            idat += raw[at + 8:at + 8 + length]
        at += 12 + length
    pixels = zlib.decompress(idat)
    assert len(set(pixels)) > 40, f"{path} looks blank"
    assert len(raw) < 400_000, f"{path} is {len(raw)} bytes"


def shoot(page, shots, name):
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    check_png(path, VIEWPORT["width"])


def test_the_console_shows_what_boto3_stored(console_server, browser, shots):
    glacier = make_client(console_server.endpoint)
    tag = uuid.uuid4().hex[:6]
    photos, backups = f"photos-{tag}", f"backups-{tag}"
    for name in (photos, backups):
        glacier.create_vault(vaultName=name)
    ids = [glacier.upload_archive(vaultName=photos, archiveDescription=mt2(p), body=b"p" * (4096 * (i + 1)))["archiveId"]
           for i, p in enumerate(["2024/summer/beach.jpg", "2024/winter/ski.jpg", "docs/taxes-2023.pdf"])]
    time.sleep(2.5)  # a usage sample or two before the next upload: the graph shows a step
    glacier.upload_archive(vaultName=backups, archiveDescription="nightly database dump", body=b"d" * 300_000)
    done = glacier.initiate_job(vaultName=photos, jobParameters={"Type": "archive-retrieval", "ArchiveId": ids[0]})["jobId"]
    glacier.initiate_job(vaultName=photos, jobParameters={
        "Type": "archive-retrieval", "ArchiveId": ids[1], "Tier": "Bulk", "Description": "restore ski.jpg"})
    upload = glacier.initiate_multipart_upload(vaultName=backups, archiveDescription="big.tar",
                                               partSize=str(1 << 20))["uploadId"]
    glacier.add_tags_to_vault(vaultName=photos, Tags={"team": "family"})
    lock_policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "keep-a-year", "Effect": "Deny", "Principal": "*", "Action": "glacier:DeleteArchive",
        "Resource": f"arn:aws:glacier:us-east-1:111122223333:vaults/{photos}",
        "Condition": {"NumericLessThan": {"glacier:ArchiveAgeInDays": "365"}}}]})
    glacier.initiate_vault_lock(vaultName=photos, policy={"Policy": lock_policy})
    # Another account's vault, which this account's console must not show.
    other = make_client(console_server.endpoint, OTHER_ACCESS_KEY, OTHER_SECRET_KEY)
    other.create_vault(vaultName=f"elsewhere-{tag}")

    context = browser.new_context(viewport=VIEWPORT)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console_server.endpoint)
    page = context.new_page()
    problems, errors = [], []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    expect = playwright_api.expect
    try:
        page.goto(console_server.endpoint + "/console/")
        # Loading the sign-in page logs no refused request (it logged a 403 each time).
        expect(page.locator("#signin-form")).to_be_visible()
        page.reload()
        expect(page.locator("#signin-form")).to_be_visible()
        assert errors == [], errors

        # A wrong secret: refused, said so, no session.
        page.fill("#access-key", ACCESS_KEY)
        page.fill("#secret-key", "not-the-secret")
        page.click("#signin")
        expect(page.locator("#signin-error")).to_contain_text("secret access key is not")
        assert not [c for c in context.cookies() if c["name"] == "glacier-console"]
        shoot(page, shots, "signin-refused")

        page.fill("#secret-key", SECRET_KEY)
        page.click("#signin")
        expect(page.locator("#account")).to_have_text("111122223333")
        cookie = [c for c in context.cookies() if c["name"] == "glacier-console"]
        assert len(cookie) == 1 and cookie[0]["httpOnly"] and cookie[0]["sameSite"] == "Strict", cookie

        # The vault list is boto3's, with the live counts.
        listed = {v["VaultName"]: v for v in glacier.list_vaults()["VaultList"]}
        rows = page.locator("table#vaults tbody tr")
        expect(rows).to_have_count(len(listed))
        shown = {}
        for i in range(rows.count()):
            cells = rows.nth(i).locator("td").all_inner_texts()
            shown[cells[0].split()[0]] = int(cells[1].replace(",", ""))
        assert shown == {n: glacier.describe_vault(vaultName=n)["NumberOfArchives"] for n in listed}
        assert f"elsewhere-{tag}" not in shown
        expect(page.locator("table#vaults")).to_contain_text("Lock in progress")
        expect(page.locator("#graph-stored circle").first).to_be_attached()
        shoot(page, shots, "overview")

        # The graphs span the days chosen, dated: 7 days and 90 days read differently, the
        # retrievals over 90 days per day and still showing today's (they stopped at 2 days).
        def ticks():
            return [page.locator(f"#graph-stored-tick-{i}").text_content() for i in range(3)]
        week = ticks()
        assert all(any(m in t for m in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
                                        "Oct", "Nov", "Dec")) for t in week), week
        page.click("#usage .segmented button:has-text('90 days')")
        expect(page.locator("#usage .segmented button.on")).to_have_text("90 days")
        expect(page.locator("#usage figcaption").nth(1)).to_contain_text("per day")
        quarter = ticks()
        assert quarter[0] != week[0] and quarter[1] != week[1], (week, quarter)
        expect(page.locator("#graph-retrievals rect.bar").first).to_be_attached()

        # On a phone's 390 px the page keeps to the screen: the table scrolls in its card.
        page.set_viewport_size({"width": 390, "height": 760})
        page.reload()
        expect(page.locator("table#vaults")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.set_viewport_size(VIEWPORT)

        # Archive search, by mt2 path and by plain description.
        page.click(f"text={photos}")
        expect(page.locator("tr.archive")).to_have_count(3)
        page.fill("#archive-search", "SUMMER")
        expect(page.locator("tr.archive")).to_have_count(1)
        expect(page.locator("tr.archive .path")).to_have_text("2024/summer/beach.jpg")
        # The whole archive id is in the page and its button copies it (it was only in a
        # hover title, cut short).
        expect(page.locator("tr.archive .id")).to_have_text(ids[0])
        page.click("tr.archive button.copy")
        expect(page.locator("tr.archive button.copy")).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == ids[0]
        shoot(page, shots, "archive-search")
        page.fill("#archive-search", "no-such-file")
        expect(page.locator("#archive-status")).to_contain_text("No archive matches")
        expect(page.locator("table#archives")).to_be_hidden()
        page.goto(f"{console_server.endpoint}/console/#/vault/{backups}/archives")
        page.fill("#archive-search", "nightly")
        expect(page.locator("tr.archive")).to_have_count(1)
        expect(page.locator("tr.archive")).to_contain_text("nightly database dump")

        # Uploads, jobs, the lock and tags.
        page.click("#tab-uploads")
        expect(page.locator("table#uploads")).to_contain_text(upload[:10])
        page.goto(f"{console_server.endpoint}/console/#/vault/{photos}/jobs")
        jobs = page.locator("table#jobs tbody tr")
        expect(jobs).to_have_count(2)
        # In progress first (a Bulk job is due in an hour), then the finished one.
        expect(jobs.nth(0)).to_contain_text("InProgress")
        expect(jobs.nth(0)).to_contain_text("restore ski.jpg")
        expect(jobs.nth(0)).to_contain_text("ready in 60 min")
        assert eventually(lambda: glacier.describe_job(vaultName=photos, jobId=done)["Completed"])
        page.reload()
        expect(jobs.nth(1)).to_contain_text("Succeeded")
        expect(page.locator("#tab-jobs .pill")).to_have_text("1")
        shoot(page, shots, "jobs")
        page.set_viewport_size({"width": 390, "height": 760})
        page.reload()
        expect(page.locator("table#jobs")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.set_viewport_size(VIEWPORT)
        page.click("#tab-policies")
        expect(page.locator("#lock")).to_contain_text("keep-a-year")
        expect(page.locator("#tags")).to_contain_text("family")
        shoot(page, shots, "policies")

        # The session is good on every node (they share the identities, not a session store).
        for endpoint in Server.peers(console_server.endpoint):
            req = urllib.request.Request(endpoint + "/console/api/overview", headers={
                "Cookie": f"glacier-console={cookie[0]['value']}", "x-glacier-console": "1"})
            with urllib.request.urlopen(req, timeout=10) as r:
                names = {v["VaultName"] for v in json.load(r)["Vaults"]}
            assert names == set(listed), endpoint

        page.click("#signout")
        expect(page.locator("#signin-form")).to_be_visible()
        assert not [c for c in context.cookies() if c["name"] == "glacier-console"]
        assert problems == []
    finally:
        context.close()
        glacier.abort_multipart_upload(vaultName=backups, uploadId=upload)
        glacier.abort_vault_lock(vaultName=photos)


def test_an_empty_account_graphs_a_plain_axis(console_server, browser):
    """An account with nothing stored: its axis reads 0 B, 512 B, 1 KiB (it read 1 B, 1 B, 0 B)."""
    other = make_client(console_server.endpoint, OTHER_ACCESS_KEY, OTHER_SECRET_KEY)
    other.create_vault(vaultName=f"empty-{uuid.uuid4().hex[:6]}")
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    expect = playwright_api.expect
    try:
        page.goto(console_server.endpoint + "/console/")
        page.fill("#access-key", OTHER_ACCESS_KEY)
        page.fill("#secret-key", OTHER_SECRET_KEY)
        page.click("#signin")
        expect(page.locator("#graph-stored")).to_be_attached()
        labels = page.locator("#graph-stored text.axis:not(.tick)").all_text_contents()
        assert labels == ["0 B", "512 B", "1.00 KiB"], labels
    finally:
        context.close()


def test_the_api_refuses_what_has_no_session(console_server):
    """Without the cookie, or with an altered one, the console's API answers nothing."""
    for cookie in (None, "glacier-console=6161.9999999999.00"):
        headers = {"x-glacier-console": "1"}
        if cookie:
            headers["Cookie"] = cookie
        req = urllib.request.Request(console_server.endpoint + "/console/api/overview", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 403
        assert json.load(e.value)["code"] == "MissingAuthenticationTokenException"
