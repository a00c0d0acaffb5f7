"""Notifications: the outbox is written with the event, and delivered by webhook and e-mail."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from gridmgr.cases import Action, Actor, Role
from gridmgr.notifications import COMMAND_CENTER_INBOX
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.services.actions import act
from gridmgr.services.delivery import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryWorker,
    EmailChannel,
    WebhookChannel,
    channels_from_settings,
    deliver_pending,
    verify_signature,
)
from gridmgr.services.escalation import escalate_overdue, warn_due_soon
from gridmgr.services.notices import mark_notifications_read, notifications_for
from gridmgr.services.reports import report_incident
from gridmgr.settings import DeliverySettings, Settings, SmtpSettings, WebhookSettings
from gridmgr.store import Store, open_store
from tests.builders import tiny_context

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)
OPERATOR = Actor("op-1", Role.OPERATOR)
SECRET = "a-webhook-secret-of-32-characters"


def dispatched_case(store: Store, context: RoutingContext) -> tuple[str, str]:
    """A case reported, registered and dispatched at AT: (case id, assignee id)."""
    case_id = report_incident(
        store,
        context,
        reporter=OPERATOR,
        category="street_vending",
        at=AT,
        description="占道经营",
        lon=120.0625,
        lat=31.5625,
    ).case.case_id
    act(store, context, case_id, Action.REGISTER, actor=OPERATOR, at=AT, comment="立案")
    case = act(store, context, case_id, Action.DISPATCH, actor=OPERATOR, at=AT, comment="请签收")
    assert case.assignee is not None
    return case_id, case.assignee.person_id


def test_a_dispatch_writes_the_assignees_notice_in_its_transaction(store: Store) -> None:
    context = tiny_context()
    case_id, worker = dispatched_case(store, context)

    inbox = notifications_for(store, Actor(worker, Role.WORKER))
    assert [(n.case_id, n.trigger) for n in inbox] == [(case_id, "dispatched")]
    assert inbox[0].body["due_at"] is not None
    assert notifications_for(store, OPERATOR) == []
    assert (
        mark_notifications_read(
            store, Actor(worker, Role.WORKER), [inbox[0].notification_id], at=AT
        )
        == 1
    )
    assert notifications_for(store, Actor(worker, Role.WORKER), unread_only=True) == []


def test_an_event_that_fails_writes_no_notice(store: Store) -> None:
    context = tiny_context()
    case_id, _ = dispatched_case(store, context)
    with pytest.raises(Exception, match="dispatch"):
        act(store, context, case_id, Action.DISPATCH, actor=OPERATOR, at=AT, comment="again")
    notices = [s for s in store.deliveries_of(case_id) if s.channel == "in_app"]
    assert len(notices) == 1


def test_escalation_notifies_the_worker_and_the_one_above(store: Store) -> None:
    context = tiny_context()
    case_id, worker = dispatched_case(store, context)
    late = AT + timedelta(days=3)

    assert len(escalate_overdue(store, context, now=late)) == 1

    rows = [
        s
        for s in store.deliveries_of(case_id)
        if s.channel == "in_app" and s.trigger == "escalated"
    ]
    trail = store.trail(case_id)
    above = trail[-1].details["escalate_to"]["person_id"]
    assert {r.recipient for r in rows} == {worker, above}
    assert above != worker


def test_return_and_reopen_notify_the_center_and_the_assignee(store: Store) -> None:
    context = tiny_context()
    case_id, worker = dispatched_case(store, context)
    me = Actor(worker, Role.WORKER)
    act(store, context, case_id, Action.RETURN, actor=me, at=AT, comment="不属于本网格")
    assert [n.trigger for n in notifications_for(store, OPERATOR)] == ["returned"]
    assert (
        notifications_for(store, Actor("op-2", Role.OPERATOR))[0].recipient == COMMAND_CENTER_INBOX
    )

    act(store, context, case_id, Action.DISPATCH, actor=OPERATOR, at=AT, comment="再派")
    for action in (Action.ACCEPT, Action.START, Action.HANDLE):
        act(store, context, case_id, action, actor=me, at=AT, comment="处理")
    head = Actor("head-1", Role.HEAD)
    act(store, context, case_id, Action.REOPEN, actor=head, at=AT, comment="未处理完")
    triggers = [n.trigger for n in notifications_for(store, me)]
    assert triggers[0] == "reopened"
    assert triggers.count("dispatched") == 2


def test_a_stage_due_soon_is_warned_once(store: Store) -> None:
    context = tiny_context()
    case_id, worker = dispatched_case(store, context)
    due = store.case(case_id).due_at
    assert due is not None
    early = due - timedelta(minutes=30)

    assert warn_due_soon(store, context, now=early - timedelta(days=5), within_hours=1) == 0
    assert warn_due_soon(store, context, now=early, within_hours=1) == 1
    assert warn_due_soon(store, context, now=early, within_hours=1) == 0  # once per stage
    newest = notifications_for(store, Actor(worker, Role.WORKER))[0]
    assert newest.trigger == "due_soon"


# -- delivery -------------------------------------------------------------------------------


class Receiver:
    """A loopback webhook receiver: records what it got, answers ``status``."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.got.append((dict(self.headers), body))
                self.send_response(owner.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_a_notice_reaches_the_webhook_signed(store: Store, receiver: Receiver) -> None:
    case_id, worker = dispatched_case(store, tiny_context())
    hook = WebhookChannel(receiver.url, SECRET)

    report = deliver_pending(store, [hook], now=AT)

    assert (report.planned, report.delivered, report.failed) == (1, 1, 0)
    [(headers, body)] = receiver.got
    assert verify_signature(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify_signature(
        "another-secret-xxxxxxxx", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER]
    )
    assert case_id.encode() in body
    assert worker.encode() in body
    assert deliver_pending(store, [hook], now=AT).delivered == 0  # delivered once
    statuses = store.deliveries_of(case_id)
    assert {(s.channel, s.status) for s in statuses} == {
        ("in_app", "delivered"),
        ("webhook", "delivered"),
    }


def test_a_dead_webhook_blocks_nothing_and_is_retried_with_backoff(
    store: Store, receiver: Receiver
) -> None:
    context = tiny_context()
    dead = WebhookChannel(f"http://127.0.0.1:{free_port()}/hook", SECRET, timeout=1)
    case_id, _ = dispatched_case(store, context)
    first = deliver_pending(store, [dead], now=AT, base=timedelta(seconds=10))
    assert (first.delivered, first.failed) == (0, 1)
    # case handling goes on while the channel is dead
    act(store, context, case_id, Action.SUPERVISE, actor=OPERATOR, at=AT, comment="督办")
    assert deliver_pending(store, [dead], now=AT + timedelta(seconds=5)).failed == 0  # backing off
    second = deliver_pending(store, [dead], now=AT + timedelta(seconds=10))
    assert second.failed == 1
    [row] = [s for s in store.deliveries_of(case_id) if s.channel != "in_app"]
    attempts = len(store.delivery_attempts_of(case_id))
    assert (row.status, row.attempts, attempts) == ("pending", 2, 2)
    assert row.next_attempt_at is not None
    assert row.next_attempt_at == (AT + timedelta(seconds=30)).astimezone(
        row.next_attempt_at.tzinfo
    )

    receiver.status = 500
    alive = WebhookChannel(receiver.url, SECRET)
    assert deliver_pending(store, [alive], now=AT + timedelta(minutes=1)).failed == 1
    receiver.status = 200
    assert deliver_pending(store, [alive], now=AT + timedelta(minutes=5)).delivered == 1


def test_a_notice_committed_before_a_crash_is_delivered_by_the_next_worker(
    db_url: str, receiver: Receiver
) -> None:
    first = open_store(db_url, create=True)
    case_id, _ = dispatched_case(first, tiny_context())
    first.close()  # the process dies after the commit, before any delivery

    again = open_store(db_url)
    worker = DeliveryWorker(
        again, [WebhookChannel(receiver.url, SECRET)], clock=lambda: AT, every=0.05
    )
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not receiver.got and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
        again.close()
    assert len(receiver.got) == 1
    assert case_id.encode() in receiver.got[0][1]


def test_a_notice_reaches_the_smtp_sink(store: Store) -> None:
    from aiosmtpd.controller import Controller

    class Sink:
        def __init__(self) -> None:
            self.messages: list[tuple[str, list[str], bytes]] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            return "250 OK"

    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        case_id, worker = dispatched_case(store, tiny_context())
        mail = EmailChannel(
            "127.0.0.1", "gridmgr@jiangyin.test", "{person_id}@jiangyin.test", port=port
        )
        report = deliver_pending(store, [mail], now=AT)
    finally:
        controller.stop()
    assert report.delivered == 1
    [(sender, to, content)] = sink.messages
    assert sender == "gridmgr@jiangyin.test"
    assert to == [f"{worker}@jiangyin.test"]
    message = message_from_bytes(content)
    assert case_id in message.get_payload(decode=True).decode()  # type: ignore[union-attr]


def test_an_email_without_an_address_is_skipped_not_retried(store: Store) -> None:
    dispatched_case(store, tiny_context())
    mail = EmailChannel("127.0.0.1", "gridmgr@jiangyin.test", {}, port=free_port())
    report = deliver_pending(store, [mail], now=AT)
    assert (report.skipped, report.failed) == (1, 0)
    assert deliver_pending(store, [mail], now=AT + timedelta(days=1)).skipped == 0


def test_the_settings_configure_no_channel_by_default(tmp_path: Path) -> None:
    assert channels_from_settings(Settings(data_dir=tmp_path)) == []


def test_the_settings_configure_the_webhook_and_the_email_channels(tmp_path: Path) -> None:
    delivery = DeliverySettings(
        webhook=WebhookSettings("https://hooks.jiangyin.test/gm", SECRET),
        smtp=SmtpSettings(
            "mail.jiangyin.test",
            "gridmgr@jiangyin.test",
            "{person_id}@notify.jiangyin.test",
            port=587,
            username="gm",
            password="pw",
            starttls=True,
        ),
    )

    channels = channels_from_settings(Settings(data_dir=tmp_path, delivery=delivery))

    assert channels == [
        WebhookChannel("https://hooks.jiangyin.test/gm", SECRET),
        EmailChannel(
            "mail.jiangyin.test",
            "gridmgr@jiangyin.test",
            "{person_id}@notify.jiangyin.test",
            port=587,
            username="gm",
            password="pw",
            starttls=True,
        ),
    ]
