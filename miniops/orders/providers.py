"""Payment providers: WeChat Pay v3 JSAPI (real, through wechatpayv3) and a local
simulator that signs and encrypts notices exactly as WeChat does, with its own
key pair, so tests and the demo run the real verification code."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.cache import caches
from django.utils import timezone

from miniops.core.providers import ProviderSlot
from miniops.orders import wechatpay


class PaymentError(Exception):
    """The provider could not be reached or refused the call."""


class AlreadyPaid(PaymentError):
    """Closing failed because the trade was paid (WeChat's ORDERPAID)."""


@dataclass(frozen=True)
class TradeState:
    state: str  # SUCCESS, NOTPAY, CLOSED, REFUND, PAYERROR, USERPAYING
    amount: int = 0
    transaction_id: str = ""
    payer_openid: str = ""
    success_time: str = ""


@dataclass(frozen=True)
class RefundResult:
    status: str  # PROCESSING, SUCCESS, ABNORMAL, CLOSED
    refund_id: str = ""


class PaymentProvider(Protocol):
    app_id: str
    mch_id: str

    def platform_keys(self) -> dict[str, rsa.RSAPublicKey]: ...
    def apiv3_key(self) -> bytes: ...
    def create_jsapi(
        self, *, out_trade_no: str, amount: int, description: str, openid: str, expire_at: datetime
    ) -> str: ...
    def payment_params(self, prepay_id: str) -> dict[str, str]: ...
    def query(self, out_trade_no: str) -> TradeState: ...
    def close(self, out_trade_no: str) -> None: ...
    def refund(
        self, *, out_trade_no: str, out_refund_no: str, amount: int, total: int, reason: str
    ) -> RefundResult: ...
    def query_refund(self, out_refund_no: str) -> RefundResult: ...


# --- the real thing -----------------------------------------------------------------------
class WeChatPayClient:
    """WeChat Pay API v3 through wechatpayv3. Configuration in ``WECHATPAY_*``."""

    def __init__(self) -> None:
        self.app_id = settings.WECHATPAY_APP_ID
        self.mch_id = settings.WECHATPAY_MCH_ID
        self._keys = {
            serial.upper(): wechatpay.load_public_key(Path(path).read_bytes())
            for serial, path in settings.WECHATPAY_PLATFORM_KEYS.items()
        }

    @cached_property
    def _client(self) -> Any:
        from wechatpayv3 import WeChatPay, WeChatPayType

        public_key = public_key_id = None
        if settings.WECHATPAY_PUBLIC_KEY_FILE:
            public_key = Path(settings.WECHATPAY_PUBLIC_KEY_FILE).read_text()
            public_key_id = settings.WECHATPAY_PUBLIC_KEY_ID
        return WeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=self.mch_id,
            private_key=Path(settings.WECHATPAY_MCH_PRIVATE_KEY_FILE).read_text(),
            cert_serial_no=settings.WECHATPAY_MCH_CERT_SERIAL,
            appid=self.app_id,
            apiv3_key=settings.WECHATPAY_APIV3_KEY,
            notify_url=settings.WECHATPAY_NOTIFY_URL,
            public_key=public_key,
            public_key_id=public_key_id,
            timeout=(3, 5),
        )

    @cached_property
    def _private_key(self) -> rsa.RSAPrivateKey:
        return wechatpay.load_private_key(
            Path(settings.WECHATPAY_MCH_PRIVATE_KEY_FILE).read_bytes()
        )

    def platform_keys(self) -> dict[str, rsa.RSAPublicKey]:
        return self._keys

    def apiv3_key(self) -> bytes:
        return settings.WECHATPAY_APIV3_KEY.encode()

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            code, message = getattr(self._client, method)(**kwargs)
        except Exception as exc:  # network errors surface as exceptions in wechatpayv3
            raise PaymentError(str(exc)) from exc
        body = json.loads(message) if message else {}
        if code == 400 and body.get("code") == "ORDERPAID":
            raise AlreadyPaid(body.get("message", "ORDERPAID"))
        if code >= 300:
            raise PaymentError(f"{code}: {body.get('code')} {body.get('message')}")
        return dict(body)

    def create_jsapi(
        self, *, out_trade_no: str, amount: int, description: str, openid: str, expire_at: datetime
    ) -> str:
        body = self._call(
            "pay",
            description=description[:127],
            out_trade_no=out_trade_no,
            amount={"total": amount, "currency": "CNY"},
            payer={"openid": openid},
            time_expire=expire_at.astimezone(timezone.get_fixed_timezone(480)).isoformat(
                timespec="seconds"
            ),
        )
        return str(body["prepay_id"])

    def payment_params(self, prepay_id: str) -> dict[str, str]:
        return wechatpay.request_payment_params(
            app_id=self.app_id, prepay_id=prepay_id, private_key=self._private_key
        )

    def query(self, out_trade_no: str) -> TradeState:
        body = self._call("query", out_trade_no=out_trade_no)
        return TradeState(
            state=str(body.get("trade_state", "")),
            amount=int((body.get("amount") or {}).get("total", 0)),
            transaction_id=str(body.get("transaction_id", "")),
            payer_openid=str((body.get("payer") or {}).get("openid", "")),
            success_time=str(body.get("success_time", "")),
        )

    def close(self, out_trade_no: str) -> None:
        self._call("close", out_trade_no=out_trade_no)

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, amount: int, total: int, reason: str
    ) -> RefundResult:
        body = self._call(
            "refund",
            out_refund_no=out_refund_no,
            out_trade_no=out_trade_no,
            amount={"refund": amount, "total": total, "currency": "CNY"},
            reason=reason[:80] or None,
        )
        return RefundResult(
            status=str(body.get("status", "PROCESSING")), refund_id=str(body.get("refund_id", ""))
        )

    def query_refund(self, out_refund_no: str) -> RefundResult:
        body = self._call("query_refund", out_refund_no=out_refund_no)
        return RefundResult(
            status=str(body.get("status", "")), refund_id=str(body.get("refund_id", ""))
        )


# --- the simulator ----------------------------------------------------------------------------
_sim_lock = threading.Lock()


class PaymentSimulator:
    """WeChat Pay, simulated. Keys live under ``var/`` and trades and refunds in
    the ``simulators`` cache (Redis, or files under ``var/``), so every process of
    one installation sees the same WeChat: a refund asked for by the demo seeder
    or a web worker is completed by the background worker."""

    mch_id = "1900000109"
    TTL = 7 * 24 * 3600

    def __init__(self) -> None:
        self.app_id = settings.WECHATPAY_APP_ID or "wx00000000sim0000"
        folder = Path(settings.VAR_DIR) / "wechatpay-simulator"
        folder.mkdir(exist_ok=True)
        with _sim_lock:
            self._platform = self._key(folder / "platform.pem")
            self._merchant = self._key(folder / "merchant.pem")
            apiv3 = folder / "apiv3.key"
            if not apiv3.exists():
                apiv3.write_text(secrets.token_hex(16))
                apiv3.chmod(0o600)
            self._apiv3 = apiv3.read_text().strip().encode()
        public = self._platform.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.serial = hashlib.sha1(public).hexdigest().upper()  # noqa: S324 - an identifier

    @staticmethod
    def _key(path: Path) -> rsa.RSAPrivateKey:
        if not path.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            path.chmod(0o600)
        return wechatpay.load_private_key(path.read_bytes())

    # provider interface
    def platform_keys(self) -> dict[str, rsa.RSAPublicKey]:
        return {self.serial: self._platform.public_key()}

    def apiv3_key(self) -> bytes:
        return self._apiv3

    @property
    def _store(self) -> Any:
        return caches["simulators"]

    def _trade(self, out_trade_no: str) -> dict[str, Any] | None:
        value = self._store.get(f"wxsim:trade:{out_trade_no}")
        return dict(value) if value else None

    def _save(self, out_trade_no: str, trade: dict[str, Any]) -> None:
        self._store.set(f"wxsim:trade:{out_trade_no}", trade, timeout=self.TTL)

    def create_jsapi(
        self, *, out_trade_no: str, amount: int, description: str, openid: str, expire_at: datetime
    ) -> str:
        existing = self._trade(out_trade_no)
        if existing and existing["state"] != "NOTPAY":
            raise PaymentError("trade exists")
        prepay_id = f"wx{secrets.token_hex(14)}"
        self._save(
            out_trade_no,
            {"state": "NOTPAY", "amount": amount, "openid": openid, "prepay_id": prepay_id},
        )
        return prepay_id

    def payment_params(self, prepay_id: str) -> dict[str, str]:
        return wechatpay.request_payment_params(
            app_id=self.app_id, prepay_id=prepay_id, private_key=self._merchant
        )

    def query(self, out_trade_no: str) -> TradeState:
        trade = self._trade(out_trade_no)
        if trade is None:
            raise PaymentError("ORDERNOTEXIST")
        return TradeState(
            state=trade["state"],
            amount=trade["amount"],
            transaction_id=trade.get("transaction_id", ""),
            payer_openid=trade.get("openid", ""),
            success_time=trade.get("success_time", ""),
        )

    def close(self, out_trade_no: str) -> None:
        trade = self._trade(out_trade_no)
        if trade is None:
            return
        if trade["state"] == "SUCCESS":
            raise AlreadyPaid("ORDERPAID")
        trade["state"] = "CLOSED"
        self._save(out_trade_no, trade)

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, amount: int, total: int, reason: str
    ) -> RefundResult:
        trade = self._trade(out_trade_no)
        if trade is None or trade["state"] not in {"SUCCESS", "REFUND"}:
            raise PaymentError("trade not paid")
        refunds = self._store.get(f"wxsim:refunds:{out_trade_no}") or {}
        if out_refund_no in refunds:  # idempotent by out_refund_no
            return RefundResult(
                status=refunds[out_refund_no]["status"],
                refund_id=refunds[out_refund_no]["refund_id"],
            )
        if sum(r["amount"] for r in refunds.values()) + amount > trade["amount"]:
            raise PaymentError("NOT_ENOUGH")
        refund_id = f"50{secrets.randbelow(10**26):026d}"
        refunds[out_refund_no] = {
            "status": "PROCESSING",
            "refund_id": refund_id,
            "amount": amount,
            "total": total,
        }
        self._store.set(f"wxsim:refunds:{out_trade_no}", refunds, timeout=self.TTL)
        self._store.set(f"wxsim:refund:{out_refund_no}", out_trade_no, timeout=self.TTL)
        trade["state"] = "REFUND"
        self._save(out_trade_no, trade)
        return RefundResult(status="PROCESSING", refund_id=refund_id)

    def query_refund(self, out_refund_no: str) -> RefundResult:
        out_trade_no = self._store.get(f"wxsim:refund:{out_refund_no}")
        refunds = self._store.get(f"wxsim:refunds:{out_trade_no}") or {}
        if out_refund_no not in refunds:
            raise PaymentError("RESOURCE_NOT_EXISTS")
        return RefundResult(
            status=refunds[out_refund_no]["status"], refund_id=refunds[out_refund_no]["refund_id"]
        )

    # what WeChat would do on its side
    def pay(
        self, out_trade_no: str, *, amount: int | None = None, timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The buyer pays: the trade succeeds and WeChat sends its signed notice,
        returned as (headers, body) for delivery to the notify endpoint."""
        trade = self._trade(out_trade_no)
        if trade is None or trade["state"] == "CLOSED":
            raise PaymentError("trade closed")
        if trade["state"] != "SUCCESS":
            trade.update(
                state="SUCCESS",
                transaction_id=f"4200{secrets.randbelow(10**24):024d}",
                success_time=timezone.now()
                .astimezone(timezone.get_fixed_timezone(480))
                .isoformat(timespec="seconds"),
            )
            self._save(out_trade_no, trade)
        resource = {
            "mchid": self.mch_id,
            "appid": self.app_id,
            "out_trade_no": out_trade_no,
            "transaction_id": trade["transaction_id"],
            "trade_type": "JSAPI",
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "success_time": trade["success_time"],
            "payer": {"openid": trade["openid"]},
            "amount": {
                "total": trade["amount"] if amount is None else amount,
                "payer_total": trade["amount"],
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        }
        return self.notice("TRANSACTION.SUCCESS", resource, timestamp=timestamp)

    def complete_refund(
        self, out_refund_no: str, *, status: str = "SUCCESS"
    ) -> tuple[dict[str, str], bytes]:
        out_trade_no = self._store.get(f"wxsim:refund:{out_refund_no}")
        refunds = self._store.get(f"wxsim:refunds:{out_trade_no}") or {}
        refund = refunds[out_refund_no]
        refund["status"] = status
        self._store.set(f"wxsim:refunds:{out_trade_no}", refunds, timeout=self.TTL)
        trade = self._trade(out_trade_no) or {}
        resource = {
            "mchid": self.mch_id,
            "out_trade_no": out_trade_no,
            "transaction_id": trade.get("transaction_id", ""),
            "out_refund_no": out_refund_no,
            "refund_id": refund["refund_id"],
            "refund_status": status,
            "success_time": timezone.now().isoformat(timespec="seconds"),
            "amount": {
                "total": refund["total"],
                "refund": refund["amount"],
                "payer_total": refund["total"],
                "payer_refund": refund["amount"],
            },
        }
        return self.notice(f"REFUND.{status}", resource)

    def notice(
        self, event_type: str, resource: dict[str, Any], *, timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        return wechatpay.signed_notice(
            event_type=event_type,
            resource=resource,
            platform_key=self._platform,
            serial=self.serial,
            apiv3_key=self._apiv3,
            timestamp=timestamp,
        )

    def now(self) -> float:
        return time.time()


payment_provider: ProviderSlot[PaymentProvider] = ProviderSlot(
    "wechat_pay",
    interface=PaymentProvider,
    live="miniops.orders.providers.WeChatPayClient",
    simulator="miniops.orders.providers.PaymentSimulator",
)
