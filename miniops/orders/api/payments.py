"""The WeChat Pay notify endpoint and the simulator's payment."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from miniops.core.apiauth import public
from miniops.core.errors import NotFound
from miniops.core.openapi import errors
from miniops.core.schemas import ID
from miniops.members.apiauth import member
from miniops.orders import selectors, services
from miniops.orders.api.common import _own_order, router
from miniops.orders.api.schemas import OrderOut
from miniops.orders.wechatpay import NoticeRejected


# --- payments -------------------------------------------------------------------------------------
@router.post(
    "/payments/wechat/notify",
    response={204: None, **errors(401, 404, 409)},
    auth=public(),
    summary="WeChat Pay notices",
)
def wechat_notify(request: HttpRequest) -> HttpResponse:
    """Verified (platform key allow-list, timestamp, RSA-SHA256 over the raw body),
    decrypted, checked against the order and recorded once; 204 only after that."""
    from miniops.core.responses import error_response

    try:
        services.handle_wechat_notice(headers=request.headers, body=request.body)
    except NoticeRejected as exc:
        return error_response(exc.status, "notice_rejected", str(exc))
    return HttpResponse(status=204)


@router.post(
    "/payments/simulator/orders/{order_id}/pay",
    response={200: OrderOut, **errors(409)},
    auth=member(),
    summary="Demo: pay in the simulator",
)
def simulator_pay(request: HttpRequest, order_id: int = ID) -> dict[str, Any]:
    """Only with MINIOPS_PROVIDER_MODE=simulator: the buyer pays; WeChat's signed
    notice goes through the real verification."""
    if settings.MINIOPS_PROVIDER_MODE != "simulator":
        raise NotFound()
    order = _own_order(request, order_id)
    services.simulate_payment(order=order)
    return selectors.order_detail(_own_order(request, order_id), timeline=True)
