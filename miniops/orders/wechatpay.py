"""WeChat Pay API v3 cryptography, shared by the real provider and the simulator.

* ``verify_notice``: a payment or refund notice is accepted only if its
  ``Wechatpay-Serial`` is on our allow-list of platform keys (an unknown serial is
  refused *without* fetching certificates: no outbound call happens on this
  path), its timestamp is within 300 s, and the RSA-SHA256 signature over
  ``"{timestamp}\\n{nonce}\\n{raw body}\\n"`` verifies. Then the resource is
  decrypted with AES-256-GCM under the API v3 key.
* ``request_payment_params``: the ``wx.requestPayment`` parameters, signed with
  the merchant key.

We implement verification here rather than through wechatpayv3's ``callback``,
which downloads platform certificates when it meets an unknown serial.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
MAX_SKEW_SECONDS = 300
_SERIAL = re.compile(r"^(?:[0-9A-Fa-f]{8,64}|PUB_KEY_ID_[0-9]{10,40})$")


class NoticeRejected(Exception):
    """A notice that must not be trusted; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Notice:
    id: str
    event_type: str
    resource: dict[str, Any]
    raw: dict[str, Any]


def _header(headers: Any, name: str) -> str:
    value = headers.get(name)
    if value is None:
        raise NoticeRejected(f"missing header {name}", status=400)
    value = str(value).strip()
    if not value or len(value) > 1024:
        raise NoticeRejected(f"bad header {name}", status=400)
    return value


def verify_notice(
    *,
    headers: Any,
    body: bytes,
    platform_keys: dict[str, rsa.RSAPublicKey],
    apiv3_key: bytes,
    now: float | None = None,
) -> Notice:
    signature_type = _header(headers, "Wechatpay-Signature-Type")
    if signature_type != SIGNATURE_TYPE:
        raise NoticeRejected("unsupported signature type", status=400)
    serial = _header(headers, "Wechatpay-Serial")
    if not _SERIAL.match(serial):
        raise NoticeRejected("malformed serial", status=400)
    timestamp_text = _header(headers, "Wechatpay-Timestamp")
    nonce = _header(headers, "Wechatpay-Nonce")
    signature_text = _header(headers, "Wechatpay-Signature")
    if not timestamp_text.isdigit() or len(timestamp_text) > 12:
        raise NoticeRejected("malformed timestamp", status=400)
    if abs((now or time.time()) - int(timestamp_text)) > MAX_SKEW_SECONDS:
        raise NoticeRejected("timestamp too far from now", status=400)
    key = platform_keys.get(serial.upper()) or platform_keys.get(serial)
    if key is None:
        raise NoticeRejected("unknown platform serial", status=401)
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except ValueError as exc:
        raise NoticeRejected("malformed signature", status=400) from exc
    message = f"{timestamp_text}\n{nonce}\n".encode() + body + b"\n"
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise NoticeRejected("bad signature", status=401) from exc
    try:
        payload = json.loads(body)
        encrypted = payload["resource"]
        resource = decrypt_resource(
            apiv3_key,
            nonce=encrypted["nonce"],
            ciphertext=encrypted["ciphertext"],
            associated_data=encrypted.get("associated_data", ""),
        )
        return Notice(
            id=str(payload.get("id", "")),
            event_type=str(payload["event_type"]),
            resource=resource,
            raw=payload,
        )
    except (ValueError, KeyError, TypeError, InvalidTag) as exc:
        raise NoticeRejected("cannot read the notice", status=400) from exc


def decrypt_resource(
    apiv3_key: bytes, *, nonce: str, ciphertext: str, associated_data: str
) -> dict[str, Any]:
    data = AESGCM(apiv3_key).decrypt(
        nonce.encode(), base64.b64decode(ciphertext), associated_data.encode()
    )
    value = json.loads(data)
    if not isinstance(value, dict):
        raise ValueError("resource is not an object")
    return value


def encrypt_resource(
    apiv3_key: bytes, plain: dict[str, Any], *, associated_data: str
) -> dict[str, str]:
    nonce = secrets.token_hex(6)
    data = AESGCM(apiv3_key).encrypt(
        nonce.encode(), json.dumps(plain).encode(), associated_data.encode()
    )
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(data).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
        "original_type": "transaction",
    }


def sign(private_key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(
        private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    ).decode()


def request_payment_params(
    *, app_id: str, prepay_id: str, private_key: rsa.RSAPrivateKey
) -> dict[str, str]:
    """What the mini-program passes to ``wx.requestPayment``."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(16)
    package = f"prepay_id={prepay_id}"
    pay_sign = sign(private_key, f"{app_id}\n{timestamp}\n{nonce}\n{package}\n")
    return {
        "timeStamp": timestamp,
        "nonceStr": nonce,
        "package": package,
        "signType": "RSA",
        "paySign": pay_sign,
    }


def signed_notice(
    *,
    event_type: str,
    resource: dict[str, Any],
    platform_key: rsa.RSAPrivateKey,
    serial: str,
    apiv3_key: bytes,
    timestamp: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """Build a notice exactly as WeChat sends it (the simulator and tests use this)."""
    body = json.dumps(
        {
            "id": secrets.token_hex(16),
            "create_time": time.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功" if event_type == "TRANSACTION.SUCCESS" else "退款",
            "resource": encrypt_resource(
                apiv3_key,
                resource,
                associated_data="transaction" if "TRANSACTION" in event_type else "refund",
            ),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    nonce = secrets.token_hex(16)
    signature = sign(platform_key, f"{stamp}\n{nonce}\n{body.decode()}\n")
    headers = {
        "Wechatpay-Timestamp": stamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
    }
    return headers, body


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """A platform public key, from a public key PEM or a certificate PEM."""
    key: Any
    if b"CERTIFICATE" in pem:
        from cryptography import x509

        key = x509.load_pem_x509_certificate(pem).public_key()
    else:
        key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA key")
    return key


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA key")
    return key
