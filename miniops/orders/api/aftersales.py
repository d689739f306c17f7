"""After-sale requests and image uploads."""

from typing import Any

from django.http import HttpRequest
from ninja import File, UploadedFile
from ninja.pagination import paginate
from ninja.responses import Status

from miniops.core import media
from miniops.core.errors import NotFound
from miniops.core.openapi import errors
from miniops.core.pagination import Pagination
from miniops.core.schemas import ID
from miniops.members.apiauth import me_of, member
from miniops.orders import services
from miniops.orders.api.common import _own_order, router
from miniops.orders.api.schemas import AfterSaleIn, AfterSaleOut, ReturnShipmentIn, UploadOut
from miniops.orders.models import AfterSale


# --- after-sales ---------------------------------------------------------------------------------
@router.post(
    "/orders/{order_id}/after-sales",
    response={201: AfterSaleOut, **errors(409)},
    auth=member(),
)
def request_after_sale(
    request: HttpRequest, payload: AfterSaleIn, order_id: int = ID
) -> Status[AfterSale]:
    order = _own_order(request, order_id)
    after_sale = services.request_after_sale(
        order=order,
        member=me_of(request),
        kind=payload.kind,
        reason=payload.reason,
        lines=[line.dict() for line in payload.lines],
        description=payload.description,
        images=payload.images,
    )
    return Status(201, after_sale)


def _own_after_sale(request: HttpRequest, after_sale_id: int) -> AfterSale:
    after_sale = (
        AfterSale.objects.filter(pk=after_sale_id, member=me_of(request))
        .select_related("order")
        .first()
    )
    if after_sale is None:
        raise NotFound()
    return after_sale


@router.get("/after-sales", response=list[AfterSaleOut], auth=member())
@paginate(Pagination)
def list_after_sales(request: HttpRequest) -> Any:
    return AfterSale.objects.filter(member=me_of(request)).order_by("-created_at")


@router.get("/after-sales/{after_sale_id}", response=AfterSaleOut, auth=member())
def get_after_sale(request: HttpRequest, after_sale_id: int = ID) -> AfterSale:
    return _own_after_sale(request, after_sale_id)


@router.post(
    "/after-sales/{after_sale_id}/return-shipment",
    response={200: AfterSaleOut, **errors(409)},
    auth=member(),
)
def ship_return(
    request: HttpRequest, payload: ReturnShipmentIn, after_sale_id: int = ID
) -> AfterSale:
    return services.ship_return(
        after_sale=_own_after_sale(request, after_sale_id),
        member=me_of(request),
        carrier=payload.carrier.upper(),
        tracking_no=payload.tracking_no,
    )


@router.post(
    "/after-sales/{after_sale_id}/withdraw",
    response={200: AfterSaleOut, **errors(409)},
    auth=member(),
)
def withdraw(request: HttpRequest, after_sale_id: int = ID) -> AfterSale:
    return services.withdraw(
        after_sale=_own_after_sale(request, after_sale_id), member=me_of(request)
    )


@router.post(
    "/uploads/images",
    response={201: UploadOut},
    auth=member(),
    summary="Upload a photo (after-sales)",
)
def upload_image(request: HttpRequest, file: File[UploadedFile]) -> Status[dict[str, str]]:
    """JPEG, PNG, WebP or GIF up to 5 MB; re-encoded before it is stored."""
    name = media.save_image(file, folder=f"uploads/members/{me_of(request).pk}")
    return Status(201, {"url": media.public_url(name) or ""})
