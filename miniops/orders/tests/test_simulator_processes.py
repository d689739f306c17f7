"""The payment simulator is one WeChat for every process of an installation.

The demo seeder (or a web worker) asks for a refund and the background worker, in
another process, delivers WeChat's notice. When the simulator kept its trades in
each process's local memory, the worker's ``complete_refund`` raised ``KeyError``
and the seeded refunds stayed "processing" for ever.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from miniops.orders import wechatpay
from miniops.orders.providers import PaymentSimulator

# Another Python process with the same settings (the test run's var/ and Redis).
OTHER_PROCESS = """
import json, sys
import django
django.setup()
from miniops.orders.providers import PaymentSimulator
headers, body = PaymentSimulator().complete_refund(sys.argv[1])
print(json.dumps({"headers": dict(headers), "body": body.decode()}))
"""


def _in_another_process(out_refund_no: str) -> tuple[dict[str, str], bytes]:
    result = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, out_refund_no],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "miniops.settings"},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    return answer["headers"], answer["body"].encode()


def test_a_refund_asked_for_here_is_completed_by_another_process() -> None:
    simulator = PaymentSimulator()
    simulator.create_jsapi(
        out_trade_no="PAYPROC0001",
        amount=5000,
        description="demo",
        openid="oSIMprocess",
        expire_at=timezone.now() + timedelta(minutes=30),
    )
    simulator.pay("PAYPROC0001")
    simulator.refund(
        out_trade_no="PAYPROC0001",
        out_refund_no="RPROC0001",
        amount=2000,
        total=5000,
        reason="group did not fill",
    )

    headers, body = _in_another_process("RPROC0001")

    # WeChat's notice, signed and encrypted by the other process, verifies here ...
    notice = wechatpay.verify_notice(
        headers=headers,
        body=body,
        platform_keys=simulator.platform_keys(),
        apiv3_key=simulator.apiv3_key(),
    )
    assert notice.event_type == "REFUND.SUCCESS"
    assert notice.resource["out_refund_no"] == "RPROC0001"
    assert notice.resource["out_trade_no"] == "PAYPROC0001"
    assert notice.resource["amount"]["refund"] == 2000
    # ... and what it wrote is what this process's simulator answers now.
    assert simulator.query_refund("RPROC0001").status == "SUCCESS"
    assert simulator.query("PAYPROC0001").state == "REFUND"
