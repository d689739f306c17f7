"""The WeChat Pay notify endpoint: only a notice signed by an allow-listed platform
key, fresh, decryptable and matching the order changes anything; everything else is
a 4xx (never a 500) and leaves the order unpaid and the payment open."""

from __future__ import annotations

import base64
import json
import socket
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from miniops.catalog.models import Product
from miniops.orders import wechatpay
from miniops.orders.models import (
    Order,
    OrderEvent,
    OrderStatus,
    Payment,
    PaymentAnomaly,
    PaymentStatus,
)
from miniops.orders.tests.helpers import (
    deliver,
    error_of,
    paid_events,
    provider,
    row,
    unpaid_order_with_payment,
)

pytestmark = pytest.mark.django_db

UNKNOWN_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def trade() -> dict[str, Any]:
    """An unpaid order with an open trade, and snapshots to compare with."""
    order, payment = unpaid_order_with_payment()
    return {
        "order": order,
        "payment": payment,
        "order_row": row(Order, order.pk),
        "payment_row": row(Payment, payment.pk),
        "events": OrderEvent.objects.filter(order=order).count(),
    }


def resource_for(payment: Payment, **changes: Any) -> dict[str, Any]:
    sim = provider()
    resource = {
        "mchid": sim.mch_id,
        "appid": sim.app_id,
        "out_trade_no": payment.out_trade_no,
        "transaction_id": "4200001234202611250000000001",
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "success_time": "2026-11-25T10:00:00+08:00",
        "payer": {"openid": "oTEST"},
        "amount": {"total": payment.amount, "payer_total": payment.amount, "currency": "CNY"},
    }
    resource.update(changes)
    return resource


def signed_by_platform(body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """Headers WeChat would send for ``body`` (a correct signature by the platform key)."""
    sim = provider()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
    return {
        "Wechatpay-Timestamp": stamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": base64.b64encode(
            sim._platform.sign(
                f"{stamp}\n{nonce}\n".encode() + body + b"\n", padding.PKCS1v15(), hashes.SHA256()
            )
        ).decode(),
        "Wechatpay-Serial": sim.serial,
        "Wechatpay-Signature-Type": wechatpay.SIGNATURE_TYPE,
    }


def assert_refused(response: Any, trade: dict[str, Any], *, status: int | None = None) -> None:
    assert 400 <= response.status_code < 500, response.content
    if status is not None:
        assert response.status_code == status, response.content
    assert error_of(response)["code"] == "notice_rejected"
    assert row(Order, trade["order"].pk) == trade["order_row"]
    assert row(Payment, trade["payment"].pk) == trade["payment_row"]
    assert Order.objects.get(pk=trade["order"].pk).status == OrderStatus.UNPAID
    assert Payment.objects.get(pk=trade["payment"].pk).status == PaymentStatus.CREATED
    assert OrderEvent.objects.filter(order=trade["order"]).count() == trade["events"]


# --- the good notice ----------------------------------------------------------------------
def test_a_good_notice_pays_the_order_and_its_replay_changes_nothing(
    trade: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    # given a signed notice for the open trade
    order, payment = trade["order"], trade["payment"]
    headers, body = provider().pay(payment.out_trade_no)
    # when it is delivered
    with django_capture_on_commit_callbacks(execute=True):
        first = deliver(headers, body)
    # then the order is paid once, for the right amount
    assert first.status_code == 204, first.content
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.paid_amount == payment.amount == order.payable_amount
    assert payment.status == PaymentStatus.PAID
    assert payment.transaction_id
    assert paid_events(order) == 1
    product_id = order.items.get().product_id
    sales = Product.objects.filter(pk=product_id).values_list("sales_count", flat=True).get()
    snapshot = (row(Order, order.pk), row(Payment, payment.pk))
    events = OrderEvent.objects.filter(order=order).count()
    # when the same notice is delivered again, and a fresh re-send of it after that
    with django_capture_on_commit_callbacks(execute=True):
        again = deliver(headers, body)
        resent = deliver(*provider().pay(payment.out_trade_no))
    # then both are acknowledged and nothing changes
    assert 200 <= again.status_code < 300
    assert 200 <= resent.status_code < 300
    assert (row(Order, order.pk), row(Payment, payment.pk)) == snapshot
    assert OrderEvent.objects.filter(order=order).count() == events
    assert paid_events(order) == 1
    assert (
        Product.objects.filter(pk=product_id).values_list("sales_count", flat=True).get() == sales
    )
    assert not PaymentAnomaly.objects.exists()


def test_a_notice_290_seconds_old_is_still_accepted(trade: dict[str, Any]) -> None:
    # given a notice signed 290 s ago (inside the 300 s window)
    headers, body = provider().pay(trade["payment"].out_trade_no, timestamp=int(time.time()) - 290)
    # when
    response = deliver(headers, body)
    # then
    assert response.status_code == 204, response.content
    assert Order.objects.get(pk=trade["order"].pk).status == OrderStatus.PAID


# --- forgeries and damage -------------------------------------------------------------------
def test_a_notice_signed_by_another_key_is_refused(
    trade: dict[str, Any], other_key: rsa.RSAPrivateKey
) -> None:
    # given a well-formed notice signed with a key that is not WeChat's
    sim = provider()
    headers, body = wechatpay.signed_notice(
        event_type="TRANSACTION.SUCCESS",
        resource=resource_for(trade["payment"]),
        platform_key=other_key,
        serial=sim.serial,
        apiv3_key=sim.apiv3_key(),
    )
    # when
    response = deliver(headers, body)
    # then
    assert_refused(response, trade, status=401)


@pytest.mark.parametrize("where", ["start", "ciphertext", "end"])
def test_a_body_changed_after_signing_is_refused(trade: dict[str, Any], where: str) -> None:
    # given a genuine notice with one byte changed afterwards
    headers, body = provider().pay(trade["payment"].out_trade_no)
    tampered = bytearray(body)
    if where == "start":
        index = 0
    elif where == "end":
        index = len(tampered) - 1
    else:
        index = body.index(b'"ciphertext":"') + len(b'"ciphertext":"') + 10
    tampered[index] = ord("A") if tampered[index] != ord("A") else ord("B")
    assert bytes(tampered) != body
    # when
    response = deliver(headers, bytes(tampered))
    # then
    assert_refused(response, trade, status=401)


def test_a_signature_that_is_not_base64_is_refused(trade: dict[str, Any]) -> None:
    # given
    headers, body = provider().pay(trade["payment"].out_trade_no)
    headers["Wechatpay-Signature"] = "not base64 !!!"
    # when / then
    assert_refused(deliver(headers, body), trade)


def test_a_signature_of_another_message_is_refused(trade: dict[str, Any]) -> None:
    # given a genuine signature moved onto another genuine notice's headers (other nonce)
    headers, body = provider().pay(trade["payment"].out_trade_no)
    other_headers, _ = provider().pay(trade["payment"].out_trade_no)
    headers["Wechatpay-Signature"] = other_headers["Wechatpay-Signature"]
    # when / then
    assert_refused(deliver(headers, body), trade, status=401)


@pytest.mark.parametrize("skew", [-301, 301, -86400, 86400 * 365])
def test_a_notice_outside_the_time_window_is_refused(trade: dict[str, Any], skew: int) -> None:
    # given a correctly signed notice stamped `skew` seconds away from now
    headers, body = provider().pay(trade["payment"].out_trade_no, timestamp=int(time.time()) + skew)
    # when
    response = deliver(headers, body)
    # then
    assert_refused(response, trade, status=400)


@pytest.mark.parametrize("stamp", ["abc", "-5", "1e9", "12345678901234", " ", "１７００"])
def test_a_malformed_timestamp_is_refused(trade: dict[str, Any], stamp: str) -> None:
    # given
    headers, body = provider().pay(trade["payment"].out_trade_no)
    headers["Wechatpay-Timestamp"] = stamp
    # when / then
    assert_refused(deliver(headers, body), trade, status=400)


# --- the serial allow-list ---------------------------------------------------------------------
@pytest.fixture
def no_outbound(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) any attempt to reach the network beyond this machine."""
    import httpx
    import requests

    attempts: list[str] = []

    def refuse(what: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            attempts.append(f"{what} {args[1:2]!r}")
            raise AssertionError(f"outbound call: {what}")

        return call

    monkeypatch.setattr(httpx.Client, "send", refuse("httpx.Client.send"))
    monkeypatch.setattr(httpx.AsyncClient, "send", refuse("httpx.AsyncClient.send"))
    monkeypatch.setattr(requests.Session, "send", refuse("requests.Session.send"))
    local = {"127.0.0.1", "::1", "localhost"}
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and address[0] not in local:
            attempts.append(f"connect {address!r}")
            raise AssertionError(f"outbound connect to {address!r}")
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in local and host is not None:
            attempts.append(f"getaddrinfo {host!r}")
            raise AssertionError(f"outbound lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def test_an_unknown_serial_is_refused_without_any_outbound_call(
    trade: dict[str, Any], no_outbound: list[str]
) -> None:
    # given a notice correctly signed by the platform key but naming a serial we do not know
    sim = provider()
    assert UNKNOWN_SERIAL not in sim.platform_keys()
    headers, body = wechatpay.signed_notice(
        event_type="TRANSACTION.SUCCESS",
        resource=resource_for(trade["payment"]),
        platform_key=sim._platform,
        serial=UNKNOWN_SERIAL,
        apiv3_key=sim.apiv3_key(),
    )
    # when
    response = deliver(headers, body)
    # then it is refused, and nobody tried to fetch certificates for that serial
    assert_refused(response, trade, status=401)
    assert no_outbound == []


def test_the_serial_is_matched_case_insensitively(trade: dict[str, Any]) -> None:
    # given a genuine notice whose serial is written in lower case
    headers, body = provider().pay(trade["payment"].out_trade_no)
    headers["Wechatpay-Serial"] = headers["Wechatpay-Serial"].lower()
    # when / then it is the same key
    assert deliver(headers, body).status_code == 204


@pytest.mark.parametrize(
    "serial",
    [
        "not-a-serial",
        "ZZZZZZZZZZZZZZZZZZZZ",
        "../../etc/passwd",
        "ABC",  # too short
        "A" * 65,  # too long
        "5157F09E FDC096DE",
        "PUB_KEY_ID_abc",
        "https://evil.example/cert",
    ],
)
def test_a_malformed_serial_is_a_4xx(
    trade: dict[str, Any], serial: str, no_outbound: list[str]
) -> None:
    # given
    headers, body = provider().pay(trade["payment"].out_trade_no)
    headers["Wechatpay-Serial"] = serial
    # when / then
    assert_refused(deliver(headers, body), trade, status=400)
    assert no_outbound == []


# --- headers --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", [None, "", "WECHATPAY2-SHA256-RSA1024", "wechatpay2-sha256-rsa2048x", "HMAC-SHA256"]
)
def test_a_missing_or_wrong_signature_type_is_a_4xx(trade: dict[str, Any], value: Any) -> None:
    # given
    headers, body = provider().pay(trade["payment"].out_trade_no)
    if value is None:
        del headers["Wechatpay-Signature-Type"]
    else:
        headers["Wechatpay-Signature-Type"] = value
    # when / then
    assert_refused(deliver(headers, body), trade, status=400)


@pytest.mark.parametrize(
    "name",
    ["Wechatpay-Serial", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature"],
)
@pytest.mark.parametrize("how", ["missing", "empty", "too_long"])
def test_a_missing_or_empty_header_is_a_4xx(trade: dict[str, Any], name: str, how: str) -> None:
    # given
    headers, body = provider().pay(trade["payment"].out_trade_no)
    if how == "missing":
        del headers[name]
    elif how == "empty":
        headers[name] = ""
    else:
        headers[name] = "A" * 1025
    # when / then
    assert_refused(deliver(headers, body), trade, status=400)


# --- bodies ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [b"not json at all", b"", b"[]", b'"text"', b"{}", b'{"resource": "x"}', b"\xff\xfe"],
    ids=["text", "empty", "array", "string", "empty_object", "resource_string", "bad_utf8"],
)
def test_a_signed_body_that_is_not_a_notice_is_a_4xx(trade: dict[str, Any], body: bytes) -> None:
    # given a body that is signed correctly but is not a notice
    headers = signed_by_platform(body)
    # when / then
    assert_refused(deliver(headers, body), trade)


def test_an_unsigned_body_that_is_not_json_is_a_4xx(trade: dict[str, Any]) -> None:
    # given genuine headers on another body
    headers, _ = provider().pay(trade["payment"].out_trade_no)
    # when / then
    assert_refused(deliver(headers, b"<xml>not json</xml>"), trade, status=401)


def test_a_resource_encrypted_under_another_key_is_a_4xx(trade: dict[str, Any]) -> None:
    # given a correctly signed notice whose resource does not decrypt with our API v3 key
    sim = provider()
    headers, body = wechatpay.signed_notice(
        event_type="TRANSACTION.SUCCESS",
        resource=resource_for(trade["payment"]),
        platform_key=sim._platform,
        serial=sim.serial,
        apiv3_key=b"0123456789abcdef0123456789abcdef",
    )
    assert sim.apiv3_key() != b"0123456789abcdef0123456789abcdef"
    # when / then
    assert_refused(deliver(headers, body), trade, status=400)


@pytest.mark.parametrize(
    "damage", ["ciphertext", "nonce", "associated_data", "missing_nonce", "not_base64"]
)
def test_a_damaged_resource_is_a_4xx(trade: dict[str, Any], damage: str) -> None:
    # given a signed notice whose encrypted resource was altered before signing
    _, body = provider().pay(trade["payment"].out_trade_no)
    payload = json.loads(body)
    resource = payload["resource"]
    if damage == "ciphertext":
        raw = bytearray(base64.b64decode(resource["ciphertext"]))
        raw[0] ^= 0xFF
        resource["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    elif damage == "nonce":
        resource["nonce"] = "000000000000"
    elif damage == "associated_data":
        resource["associated_data"] = "refund"
    elif damage == "missing_nonce":
        del resource["nonce"]
    else:
        resource["ciphertext"] = "%%% not base64 %%%"
    body = json.dumps(payload).encode()
    # when / then
    assert_refused(deliver(signed_by_platform(body), body), trade, status=400)


def test_a_resource_that_is_not_an_object_is_a_4xx(trade: dict[str, Any]) -> None:
    # given a correctly signed and encrypted resource holding a JSON list
    sim = provider()
    encrypted = wechatpay.encrypt_resource(sim.apiv3_key(), [1, 2], associated_data="transaction")  # type: ignore[arg-type]
    body = json.dumps({"id": "x", "event_type": "TRANSACTION.SUCCESS", "resource": encrypted})
    # when / then
    assert_refused(deliver(signed_by_platform(body.encode()), body.encode()), trade, status=400)


# --- what the resource says ------------------------------------------------------------------
@pytest.mark.parametrize("field", ["mchid", "appid"])
def test_a_notice_for_another_merchant_or_app_is_refused(trade: dict[str, Any], field: str) -> None:
    # given a genuine notice naming another merchant (or app)
    resource = resource_for(trade["payment"], **{field: "1999999999"})
    headers, body = provider().notice("TRANSACTION.SUCCESS", resource)
    # when
    response = deliver(headers, body)
    # then
    assert_refused(response, trade, status=400)
    assert PaymentAnomaly.objects.filter(kind="merchant_mismatch").count() == 1


@pytest.mark.parametrize("delta", [-1, 1, None])
def test_an_amount_mismatch_is_refused_and_recorded(trade: dict[str, Any], delta: Any) -> None:
    # given a genuine notice for a different amount than the trade's
    payment = trade["payment"]
    amount = payment.amount + delta if delta is not None else 0
    headers, body = provider().pay(payment.out_trade_no, amount=amount)
    # when
    response = deliver(headers, body)
    # then it is refused and somebody will look at it
    assert_refused(response, trade, status=400)
    anomaly = PaymentAnomaly.objects.get(kind="amount_mismatch")
    assert anomaly.order_id == trade["order"].pk
    assert anomaly.out_trade_no == payment.out_trade_no
    assert anomaly.detail == {"expected": payment.amount, "got": amount}


@pytest.mark.parametrize("total", ["5000", 50.0, None, True])
def test_an_amount_that_is_not_an_integer_is_refused(trade: dict[str, Any], total: Any) -> None:
    # given
    resource = resource_for(trade["payment"], amount={"total": total})
    headers, body = provider().notice("TRANSACTION.SUCCESS", resource)
    # when / then
    assert_refused(deliver(headers, body), trade, status=400)


def test_a_notice_for_an_unknown_trade_is_refused(trade: dict[str, Any]) -> None:
    # given a genuine notice for a trade we never opened
    resource = resource_for(trade["payment"], out_trade_no="PAY2611250000000000000")
    headers, body = provider().notice("TRANSACTION.SUCCESS", resource)
    # when / then
    assert_refused(deliver(headers, body), trade, status=404)


@pytest.mark.parametrize("state", ["NOTPAY", "CLOSED", "PAYERROR", "USERPAYING", ""])
def test_a_notice_of_an_unsuccessful_trade_is_refused(trade: dict[str, Any], state: str) -> None:
    # given
    resource = resource_for(trade["payment"], trade_state=state)
    headers, body = provider().notice("TRANSACTION.SUCCESS", resource)
    # when / then
    assert_refused(deliver(headers, body), trade, status=400)


def test_a_notice_without_a_transaction_id_is_refused(trade: dict[str, Any]) -> None:
    # given
    resource = resource_for(trade["payment"], transaction_id="")
    headers, body = provider().notice("TRANSACTION.SUCCESS", resource)
    # when / then
    assert_refused(deliver(headers, body), trade, status=400)


@pytest.mark.parametrize("event_type", ["TRANSACTION.CLOSED", "SOMETHING.ELSE", ""])
def test_an_unexpected_event_type_is_refused(trade: dict[str, Any], event_type: str) -> None:
    # given
    headers, body = provider().notice(event_type, resource_for(trade["payment"]))
    # when / then
    assert_refused(deliver(headers, body), trade, status=400)


def test_a_transaction_id_already_recorded_on_another_payment_is_refused(
    trade: dict[str, Any],
) -> None:
    # given another order paid with transaction id T
    _, other = unpaid_order_with_payment()
    transaction_id = "4200009999202611250000000042"
    first = deliver(
        *provider().notice(
            "TRANSACTION.SUCCESS", resource_for(other, transaction_id=transaction_id)
        )
    )
    assert first.status_code == 204
    # when a notice for our trade claims the same transaction id
    headers, body = provider().notice(
        "TRANSACTION.SUCCESS", resource_for(trade["payment"], transaction_id=transaction_id)
    )
    response = deliver(headers, body)
    # then it is refused and recorded
    assert_refused(response, trade, status=400)
    assert PaymentAnomaly.objects.filter(kind="duplicate_transaction_id").count() == 1


def test_a_refund_notice_for_an_unknown_refund_is_404(trade: dict[str, Any]) -> None:
    # given
    headers, body = provider().notice(
        "REFUND.SUCCESS",
        {
            "out_refund_no": "R2611250000000000000",
            "refund_status": "SUCCESS",
            "amount": {"refund": 1},
        },
    )
    # when / then
    assert_refused(deliver(headers, body), trade, status=404)


def test_get_is_not_allowed_on_the_notify_endpoint() -> None:
    # given / when
    from django.test import Client

    response = Client().get("/api/v1/payments/wechat/notify")
    # then
    assert response.status_code == 405


# --- malformed resources signed by the platform key: refused, never a 500 -----------------------
@pytest.mark.parametrize(
    ("event_type", "changes"),
    [
        ("TRANSACTION.SUCCESS", {"payer": "oTEST"}),
        ("TRANSACTION.SUCCESS", {"amount": [5000]}),
        ("REFUND.SUCCESS", {"refund_status": "SUCCESS", "amount": {"refund": "abc"}}),
        ("REFUND.SUCCESS", {"refund_status": "SUCCESS", "amount": [1]}),
    ],
    ids=["payer_string", "amount_list", "refund_amount_text", "refund_amount_list"],
)
def test_a_signed_resource_with_fields_of_the_wrong_type_is_a_4xx(
    trade: dict[str, Any], event_type: str, changes: dict[str, Any]
) -> None:
    # given a notice signed by the platform key whose resource has a field of the wrong type
    resource = resource_for(trade["payment"], **changes)
    if event_type.startswith("REFUND"):
        resource["out_refund_no"] = "R2611250000000000000"
    headers, body = provider().notice(event_type, resource)
    # when
    response = deliver(headers, body)
    # then it is refused, never a server error
    assert_refused(response, trade, status=400)


def test_a_signed_notice_with_an_overlong_transaction_id_is_refused(
    trade: dict[str, Any],
) -> None:
    # given a genuine notice with a 100-character transaction id
    resource = resource_for(trade["payment"], transaction_id="4" * 100)
    headers, body = provider().notice("TRANSACTION.SUCCESS", resource)
    # when
    response = deliver(headers, body)
    # then it is refused (the column holds 64 characters), never a server error
    assert_refused(response, trade, status=400)
