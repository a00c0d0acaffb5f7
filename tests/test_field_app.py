"""The grid worker's field app (``/m/``): its files and headers, and, in Debian's Chromium on a
390×844 phone with geolocation, the outbox through no network at all and through a flaky one.

Screenshots are kept under ``test-artifacts/screenshots/`` (``GRIDMGR_ARTIFACTS``).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from gridmgr.access import caller_for
from gridmgr.cases import Action, Case, CaseState
from gridmgr.responsibility.demo_roster import DEMO_PASSWORD
from gridmgr.responsibility.roster import field_post
from gridmgr.services.actions import act_as
from gridmgr.services.photos import attach_photo
from gridmgr.services.submissions import submit_report
from gridmgr.web.deps import services_of
from gridmgr.web.fieldapp import CONTENT_SECURITY_POLICY, init_field_app, load_field_files
from gridmgr.web.headers import init_security_headers
from tests.live import Live, jpeg, live_server, new_context, screenshot

FIRST_LOAD_BUDGET = 300 * 1024
"""The most a phone may download, compressed, to open the app the first time."""


# -- the files and their headers (no browser) ------------------------------------------------


@pytest.fixture
def client() -> Any:
    app = Flask("fieldapp-test")
    init_security_headers(app)
    init_field_app(app)
    return app.test_client()


def test_the_shell_is_served_under_a_policy_with_no_inline_script_or_style(client: Any) -> None:
    page = client.get("/m/")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"  # the app's own headers hook still runs
    html = page.get_data(as_text=True)
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []  # every script is a file
    assert " style=" not in html
    assert 'rel="manifest"' in html
    assert client.get("/m").headers["Location"].endswith("/m/")


def test_the_service_worker_is_stamped_with_the_shell_digest_and_scoped_to_m(client: Any) -> None:
    worker = client.get("/m/sw.js")
    assert worker.status_code == 200
    assert worker.mimetype == "text/javascript"
    assert worker.headers["Service-Worker-Allowed"] == "/m/"
    text = worker.get_data(as_text=True)
    version = load_field_files().version
    assert f'VERSION = "{version}"' in text
    assert "__VERSION__" not in text
    for name in re.findall(r'"/m/([^"]*)"', text.split("var SHELL", 1)[1].split(";", 1)[0]):
        assert client.get(f"/m/{name}").status_code == 200, name  # every cached file exists


def test_text_files_are_gzipped_and_revalidated_by_etag(client: Any) -> None:
    plain = client.get("/m/app.js")
    packed = client.get("/m/app.js", headers={"Accept-Encoding": "gzip, br"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert len(packed.get_data()) < len(plain.get_data()) / 2
    assert "Content-Encoding" not in plain.headers
    again = client.get("/m/app.js", headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert client.get("/m/no-such.js").status_code == 404
    assert client.get("/m/../api.py").status_code == 404


def test_the_manifest_makes_the_app_installable_from_m(client: Any) -> None:
    answer = client.get("/m/manifest.webmanifest")
    assert answer.mimetype == "application/manifest+json"
    manifest = json.loads(answer.get_data())
    assert manifest["start_url"] == "/m/"
    assert manifest["scope"] == "/m/"
    assert manifest["display"] == "standalone"
    sizes = {i["sizes"] for i in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes  # what Chromium asks of an installable app
    for icon in manifest["icons"]:
        got = client.get(f"/m/{icon['src']}")
        assert got.status_code == 200
        assert got.mimetype == icon["type"]


def test_all_of_the_app_compressed_fits_the_first_load_budget() -> None:
    files = load_field_files().by_name
    total = sum(len(f.gzipped or f.body) for f in files.values())
    assert total < FIRST_LOAD_BUDGET / 4  # the browser test measures the real first load


# -- in Chromium, on a phone ------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(tmp_path_factory.mktemp("field")) as running:
        yield running


def worker_place(live: Live) -> tuple[float, float]:
    """A point inside a cell the demo grid worker owns."""
    from dashboards import dashboard_of

    board = dashboard_of(live.app)
    person = live.logins["grid worker"]
    for code in board.geometry.tier(3).codes:
        owner = board.services.roster.owner(field_post(code), board.services.now())
        if owner is not None and owner.person_id == person:
            lon, lat = board.geometry.tier(3).centers[code]
            return float(lon), float(lat)
    raise AssertionError("the demo grid worker holds no cell")


def phone(browser: Browser, live: Live, **kwargs: Any) -> BrowserContext:
    lon, lat = worker_place(live)
    return new_context(
        browser,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        geolocation={"longitude": lon, "latitude": lat, "accuracy": 8},
        permissions=["geolocation"],
        **kwargs,
    )


def log_in_app(page: Page, live: Live) -> None:
    page.goto(f"{live.url}/m/")
    page.fill("#login-form input[name=login]", live.logins["grid worker"])
    page.fill("#login-form input[name=password]", DEMO_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#main")).to_be_visible()
    expect(page.locator("#category option").first).to_be_attached()  # the bundle is in
    expect(page.locator("#place")).to_contain_text(".")  # located


def report(page: Page, text: str, photo: Path | None = None) -> None:
    page.fill("#description", text)
    if photo is not None:
        page.set_input_files("#photo", str(photo))
    page.click("#report-submit")
    expect(page.locator("#description")).to_have_value("")  # in the outbox


def wait_until_sent(page: Page, rounds: int = 60) -> None:
    """Press "send now" until the outbox is empty (retries wait out their pause otherwise)."""
    page.click("#tabs button[data-tab=outbox]")
    for _ in range(rounds):
        if page.locator("#waiting-count").text_content() == "0":
            return
        page.click("#send-now")
        page.wait_for_timeout(250)
    raise AssertionError(f"the outbox still holds {page.locator('#waiting-count').text_content()}")


def outbox_items(page: Page) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = page.evaluate(
        "() => GM.outbox.items().then(l => l.map(i => ({kind: i.kind, state: i.state, "
        "captured_at: i.captured_at, payload: i.payload, error: i.error})))"
    )
    return items


TRACK_REACHES_JS = "(lon) => GM.db.all('track').then(t => t.some(p => p.lon > lon))"
"""Whether today's track has a point east of ``lon`` (the app has kept the last fix)."""


def cases_by(live: Live, tag: str) -> list[Case]:
    person = live.logins["grid worker"]
    found = live.store.cases(limit=5000)
    return [c for c in found if c.reporter == person and tag in c.description]


@pytest.mark.browser
@pytest.mark.slow
def test_the_first_load_transfers_at_most_300_kb_compressed(
    chromium_browser: Browser, live: Live
) -> None:
    # the service worker is blocked while counting: Chromium reports no size for what it
    # answers; the files it fetches to cache the shell are counted from the server's side
    context = phone(chromium_browser, live, service_workers="block")
    page = context.new_page()
    transferred: list[int] = []

    def count(request: Any) -> None:
        sizes = request.sizes()
        assert sizes["responseBodySize"] >= 0
        transferred.append(sizes["responseBodySize"] + sizes["responseHeadersSize"])

    page.on("requestfinished", count)
    log_in_app(page, live)  # the shell, its scripts, the login, the bundle
    page.click("#tabs button[data-tab=patrol]")  # and this week's coverage
    page.wait_for_load_state("networkidle")
    files = load_field_files().by_name
    worker = page.evaluate("() => fetch('/m/sw.js').then(r => r.text())")
    cached = re.findall(r'"/m/([^"]*)"', worker.split("var SHELL", 1)[1].split(";", 1)[0])
    served = [files["index.html" if n == "" else n] for n in [*cached, "sw.js"]]
    first_load = sum(transferred) + sum(len(f.gzipped or f.body) for f in served)
    assert len(transferred) >= 8  # shell, css, 3 scripts, icon, login, bundle, coverage
    assert first_load <= FIRST_LOAD_BUDGET, first_load
    screenshot(page, "field-app-patrol")
    context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_the_shell_opens_offline_and_logout_revokes_the_device(
    chromium_browser: Browser, live: Live
) -> None:
    context = phone(chromium_browser, live)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.on("pageerror", lambda e: console.append(f"error: {e}"))
    log_in_app(page, live)
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    refused = [m for m in console if "Content Security Policy" in m or m.startswith("error:")]
    assert refused == []  # the app runs under its policy, with no script error
    context.set_offline(True)
    answer = page.reload()
    assert answer is not None
    assert answer.from_service_worker
    expect(page.locator("#main")).to_be_visible()  # still logged in, from IndexedDB
    expect(page.locator("#category option").first).to_be_attached()  # the cached bundle
    expect(page.locator("#net")).to_have_class(re.compile(r"\boff\b"))
    page.click("#lang")
    expect(page.locator("#tabs button[data-tab=cases]")).to_have_text("Cases")
    screenshot(page, "field-app-offline-en")

    token = page.evaluate("() => GM.db.get('token')")
    context.set_offline(False)
    page.click("#tabs button[data-tab=outbox]")
    page.click("#logout")  # revokes the device token, forgets it on the phone
    expect(page.locator("#login")).to_be_visible()
    assert page.evaluate("() => GM.db.get('token')") is None
    revoked = context.request.get(
        f"{live.url}/api/v1/devices", headers={"Authorization": f"Bearer {token}"}
    )
    assert revoked.status == 401
    context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_offline_reports_and_a_patrol_arrive_once_each_when_back_online(
    chromium_browser: Browser, live: Live, tmp_path: Path
) -> None:
    context = phone(chromium_browser, live)
    page = context.new_page()
    log_in_app(page, live)
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    context.set_offline(True)
    tag = "offline-" + format(random.Random(1).getrandbits(32), "x")
    page.select_option("#category", "street_vending")
    expect(page.locator("#photo-hint")).to_be_visible()  # 占道经营 needs a photo
    for n in range(3):
        photo = tmp_path / f"photo{n}.jpg"
        photo.write_bytes(jpeg((2400, 1800)))  # shrunk on the phone to 1600 px
        report(page, f"{tag} 第{n}处 井盖缺失", photo)
    lon, lat = worker_place(live)
    page.click("#tabs button[data-tab=patrol]")
    page.click("#patrol-toggle")
    for step in range(1, 7):  # ~30 m a step: each fix is kept
        east = lon + step * 0.0003
        context.set_geolocation({"longitude": east, "latitude": lat, "accuracy": 5})
        page.wait_for_function(TRACK_REACHES_JS, arg=east - 0.0001)
    page.click("#patrol-toggle")
    waiting = outbox_items(page)
    track = page.evaluate("() => GM.db.all('track').then(t => t.length)")
    assert [i["kind"] for i in waiting].count("report") == 3
    assert [i["kind"] for i in waiting].count("point") == track >= 6
    reports = [i for i in waiting if i["kind"] == "report"]
    captured = {i["payload"]["description"]: i["captured_at"] for i in reports}
    assert cases_by(live, tag) == []  # nothing left the phone
    screenshot(page, "field-app-offline-patrol")

    context.set_offline(False)  # the "online" event sends the outbox
    wait_until_sent(page)
    found = cases_by(live, tag)
    assert sorted(c.description for c in found) == sorted(captured)  # each once
    for case in found:
        assert case.reported_at == datetime.fromisoformat(captured[case.description])
        (photo,) = live.store.attachments_of(case.case_id)
        assert (photo.width, photo.height) == (1600, 1200)  # shrunk on the phone from 2400×1800
    points = live.store.patrol_points(persons=[live.logins["grid worker"]])
    assert len(points[points["lon"] > lon + 0.0001]) == 6  # each step once
    assert len(points) == track
    assert len(page.locator("#outbox li.refused").all()) == 0
    context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_flaky_network_loses_no_report_and_duplicates_none(
    chromium_browser: Browser, live: Live
) -> None:
    # page.route sees no request a service worker handles: the outbox is the page's, so the
    # worker is blocked here (the offline test above runs with it)
    context = phone(chromium_browser, live, service_workers="block")
    page = context.new_page()
    log_in_app(page, live)
    rng = random.Random(20)
    dropped = {"before": 0, "after": 0}

    def flaky(route: Route) -> None:
        if rng.random() >= 0.2:
            route.continue_()
        elif rng.random() < 0.5:  # lost on the way to the server
            dropped["before"] += 1
            route.abort()
        else:  # the server has it, the answer is lost: the resend must not make a second case
            dropped["after"] += 1
            route.fetch()
            route.abort()

    page.route(re.compile(r"/api/v1/"), flaky)
    tag = "flaky-" + format(rng.getrandbits(32), "x")
    texts = [f"{tag} 第{n}处 噪声扰民" for n in range(30)]
    page.select_option("#category", "noise_nuisance")  # a category that needs no photo
    expect(page.locator("#photo-hint")).to_be_hidden()
    for text in texts:
        report(page, text)
    wait_until_sent(page, rounds=200)
    assert dropped["before"] > 0
    assert dropped["after"] > 0
    found = cases_by(live, tag)
    assert sorted(c.description for c in found) == sorted(texts)  # 0 lost, 0 duplicated
    assert page.locator("#outbox li.refused").count() == 0
    context.close()


def case_for_worker(live: Live, text: str) -> tuple[str, int]:
    """A case dispatched to the demo grid worker, with a photo: its id and number."""
    services = services_of(live.app)
    now = services.now()
    worker = caller_for(services.roster, live.logins["grid worker"], now)
    operator = caller_for(services.roster, live.logins["operator"], now)
    lon, lat = worker_place(live)
    done = submit_report(
        services, operator, category="street_vending", description=text, lon=lon, lat=lat
    )
    case = done.case
    if case.state is CaseState.REPORTED:
        case = act_as(services, operator, case.case_id, Action.REGISTER, comment="立案")
    if case.state is CaseState.REGISTERED:
        case = act_as(
            services,
            operator,
            case.case_id,
            Action.DISPATCH,
            comment="派遣",
            assignee_id=worker.actor.actor_id,
        )
    assert case.state is CaseState.DISPATCHED, case.state
    attach_photo(services, operator, case.case_id, jpeg())
    return case.case_id, done.number


@pytest.mark.browser
@pytest.mark.slow
def test_a_case_signed_for_and_reported_back_offline_moves_on_once_back_online(
    chromium_browser: Browser, live: Live, tmp_path: Path
) -> None:
    text = "签收测试 <b>不是标记</b>"
    case_id, number = case_for_worker(live, text)
    context = phone(chromium_browser, live)
    page = context.new_page()
    log_in_app(page, live)
    page.click("#tabs button[data-tab=cases]")
    card = page.locator("#cases li", has_text=f"#{number} ")
    expect(card).to_contain_text(text)  # as text: the <b> is not markup
    expect(card.locator(".due")).to_contain_text("剩余")
    expect(card.locator(".photos img")).to_have_count(1)
    card.locator(".photos img").evaluate("img => img.decode()")  # fetched with the token
    context.set_offline(True)
    act(page, card, "accept", "已签收，马上处理")
    expect(card).to_contain_text("待发送")
    screenshot(page, "field-app-case-offline")
    assert live.store.case(case_id).state is CaseState.DISPATCHED
    context.set_offline(False)
    wait_until_sent(page)
    assert live.store.case(case_id).state is CaseState.ACCEPTED
    accepts = [e for e in live.store.trail(case_id) if e.action == Action.ACCEPT.value]
    assert len(accepts) == 1

    # the bundle comes back with the next steps: start work, then report back with a photo
    act(page, card, "start", "开始处置")
    wait_until_sent(page)
    assert live.store.case(case_id).state is CaseState.IN_PROGRESS
    page.click("#tabs button[data-tab=cases]")
    context.set_offline(True)
    after = tmp_path / "after.jpg"
    after.write_bytes(jpeg((1200, 900)))
    act(page, card, "handle", "已清理完毕", photo=after)
    context.set_offline(False)
    wait_until_sent(page)
    assert live.store.case(case_id).state is CaseState.HANDLED
    assert len(live.store.attachments_of(case_id)) == 2  # the operator's and the after-photo
    context.close()


def act(page: Page, card: Any, action: str, comment: str, photo: Path | None = None) -> None:
    """Press one of a case's action buttons and fill its form."""
    page.click("#tabs button[data-tab=cases]")
    card.locator(f"button[data-action={action}]").click()
    page.fill("#action-form textarea[name=comment]", comment)
    if photo is not None:
        page.set_input_files("#action-form input[name=photo]", str(photo))
    page.click("#action-form button[type=submit]")
    expect(card.locator("button[data-action]")).to_have_count(0)  # waiting to be sent
