"""The rule language of segments: nested ``and`` / ``or`` / ``not`` groups over
leaves, validated with pydantic (unknown fields refused, bounded numbers and
nesting), stored as JSON on ``Segment.rules``.

    {"op": "and", "rules": [
        {"type": "profile", "field": "city", "op": "in", "value": ["上海"]},
        {"type": "commerce", "metric": "gmv", "op": "gte", "value": 500, "days": 90},
        {"type": "event", "event": "product_view", "mode": "did", "count": 3, "days": 7,
         "where": [{"property": "category", "op": "eq", "value": "12"}]},
        {"op": "not", "rule": {"type": "rfm", "r": [1, 2]}}
    ]}

Money is in yuan in the JSON (``gmv``, ``aov``: 199.5), fen inside. Dates are
ISO ``YYYY-MM-DD`` in the business time zone. ``days`` windows end now.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.utils.translation import gettext as _
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from miniops.core.errors import InvalidInput

MAX_DEPTH = 6  # groups inside groups
MAX_LEAVES = 40
MAX_CHILDREN = 20
MAX_DAYS = 3650
MAX_COUNT = 100_000
MAX_VALUES = 200
MAX_JSON = 20_000  # characters

Days = Annotated[int, Field(ge=1, le=MAX_DAYS)]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]
Id = Annotated[int, Field(ge=1, le=2**62)]
Text = Annotated[str, Field(min_length=1, max_length=64)]
Compare = Literal["eq", "ne", "gt", "gte", "lt", "lte"]
Score = Annotated[int, Field(ge=1, le=5)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DateRange(_Strict):
    """``within_days``: the last D days; ``before_days``: earlier than D days ago;
    ``after`` / ``before``: dates (inclusive / exclusive)."""

    within_days: Days | None = None
    before_days: Days | None = None
    after: dt.date | None = None
    before: dt.date | None = None

    @model_validator(mode="after")
    def _one(self) -> DateRange:
        if not any(
            v is not None for v in (self.within_days, self.before_days, self.after, self.before)
        ):
            raise ValueError("empty date range")
        return self


# --- profile -------------------------------------------------------------------------------
class LevelLeaf(_Strict):
    type: Literal["profile"]
    field: Literal["level"]
    op: Literal["in", "not_in"] = "in"
    value: Annotated[list[Id], Field(min_length=1, max_length=MAX_VALUES)]


class TagsLeaf(_Strict):
    type: Literal["profile"]
    field: Literal["tags"]
    op: Literal["any", "all", "none"] = "any"
    value: Annotated[list[Id], Field(min_length=1, max_length=MAX_VALUES)]


class ChoiceLeaf(_Strict):
    """Channel, city or province of the default address."""

    type: Literal["profile"]
    field: Literal["channel", "city", "province"]
    op: Literal["in", "not_in"] = "in"
    value: Annotated[
        list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=MAX_VALUES)
    ]


class GenderLeaf(_Strict):
    type: Literal["profile"]
    field: Literal["gender"]
    op: Literal["in"] = "in"
    value: Annotated[list[Annotated[int, Field(ge=0, le=2)]], Field(min_length=1, max_length=3)]


class BirthdayLeaf(_Strict):
    type: Literal["profile"]
    field: Literal["birthday_month"]
    op: Literal["in"] = "in"
    value: Annotated[list[Annotated[int, Field(ge=1, le=12)]], Field(min_length=1, max_length=12)]


class RegisteredLeaf(_Strict):
    type: Literal["profile"]
    field: Literal["registered"]
    op: Literal["range"] = "range"
    value: DateRange


class PointsLeaf(_Strict):
    type: Literal["profile"]
    field: Literal["points"]
    op: Compare
    value: Annotated[int, Field(ge=0, le=10**12)]


ProfileLeaf = Annotated[
    LevelLeaf | TagsLeaf | ChoiceLeaf | GenderLeaf | BirthdayLeaf | RegisteredLeaf | PointsLeaf,
    Field(discriminator="field"),
]


# --- commerce ------------------------------------------------------------------------------
class MetricLeaf(_Strict):
    """Paid orders of the member (``paid_at`` set), optionally in the last ``days``:
    ``orders`` (count), ``gmv`` (paid amount, yuan), ``aov`` (gmv / orders; a
    member without orders has none and matches no comparison)."""

    type: Literal["commerce"]
    metric: Literal["orders", "gmv", "aov"]
    op: Compare
    value: Annotated[Decimal, Field(ge=0, le=10**10, decimal_places=2)]
    days: Days | None = None


class LastOrderLeaf(_Strict):
    type: Literal["commerce"]
    metric: Literal["last_order"]
    op: Literal["range"] = "range"
    value: DateRange


class BoughtLeaf(_Strict):
    """Bought (a paid order line of) any of the products or any product of the
    categories, optionally in the last ``days``."""

    type: Literal["commerce"]
    metric: Literal["bought"]
    products: Annotated[list[Id], Field(max_length=MAX_VALUES)] = []
    categories: Annotated[list[Id], Field(max_length=MAX_VALUES)] = []
    days: Days | None = None

    @model_validator(mode="after")
    def _some(self) -> BoughtLeaf:
        if not self.products and not self.categories:
            raise ValueError("name products or categories")
        return self


class CouponLeaf(_Strict):
    """Holds (unused) or used a coupon, of the given templates or of any."""

    type: Literal["commerce"]
    metric: Literal["coupon"]
    state: Literal["held", "used"]
    templates: Annotated[list[Id], Field(max_length=MAX_VALUES)] = []


class RefundedLeaf(_Strict):
    type: Literal["commerce"]
    metric: Literal["refunded"]
    days: Days | None = None


CommerceLeaf = Annotated[
    MetricLeaf | LastOrderLeaf | BoughtLeaf | CouponLeaf | RefundedLeaf,
    Field(discriminator="metric"),
]


# --- behaviour -----------------------------------------------------------------------------
class PropertyFilter(_Strict):
    property: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
    op: Literal["eq", "ne", "in"] = "eq"
    value: (
        Annotated[str, Field(max_length=200)]
        | Annotated[
            list[Annotated[str, Field(max_length=200)]], Field(min_length=1, max_length=MAX_VALUES)
        ]
    )


class EventLeaf(_Strict):
    """From the analytics events (the Parquet lake, with DuckDB):

    * ``did``: at least ``count`` times in the last ``days``;
    * ``did_not``: fewer than ``count`` times (default 1: never) in the last ``days``;
    * ``first_time``: did it in the last ``days`` and never before;
    * ``stopped``: did it before the last ``days`` and not since.
    """

    type: Literal["event"]
    event: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    mode: Literal["did", "did_not", "first_time", "stopped"] = "did"
    count: Count = 1
    days: Days = 30
    where: Annotated[list[PropertyFilter], Field(max_length=5)] = []


class RfmLeaf(_Strict):
    """RFM quintiles (1–5, 5 best: most recent, most orders, most spent), of
    members with a paid order; each given bound is ``[low, high]``."""

    type: Literal["rfm"]
    r: tuple[Score, Score] | None = None
    f: tuple[Score, Score] | None = None
    m: tuple[Score, Score] | None = None

    @model_validator(mode="after")
    def _some(self) -> RfmLeaf:
        if self.r is None and self.f is None and self.m is None:
            raise ValueError("name r, f or m")
        for bound in (self.r, self.f, self.m):
            if bound is not None and bound[0] > bound[1]:
                raise ValueError("low above high")
        return self


# --- groups --------------------------------------------------------------------------------
class AndNode(_Strict):
    op: Literal["and"]
    rules: Annotated[list[Node], Field(min_length=1, max_length=MAX_CHILDREN)]


class OrNode(_Strict):
    op: Literal["or"]
    rules: Annotated[list[Node], Field(min_length=1, max_length=MAX_CHILDREN)]


class NotNode(_Strict):
    op: Literal["not"]
    rule: Node


Group = Annotated[AndNode | OrNode | NotNode, Field(discriminator="op")]
Leaf = Annotated[ProfileLeaf | CommerceLeaf | EventLeaf | RfmLeaf, Field(discriminator="type")]


def _node_kind(value: Any) -> str:
    if isinstance(value, dict):
        return (
            "group" if "type" not in value and value.get("op") in {"and", "or", "not"} else "leaf"
        )
    return "group" if isinstance(value, (AndNode, OrNode, NotNode)) else "leaf"


Node = Annotated[
    Annotated[Group, Tag("group")] | Annotated[Leaf, Tag("leaf")],
    Discriminator(_node_kind),
]
for _model in (AndNode, OrNode, NotNode):
    _model.model_rebuild()

_adapter: TypeAdapter[Any] = TypeAdapter(Node)


def _shape(raw: Any) -> None:
    """Depth and size checked before pydantic sees the tree (no recursion on a
    rule nested a thousand deep)."""
    stack: list[tuple[Any, int]] = [(raw, 0)]
    leaves = 0
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict):
            continue
        if "op" in node and node.get("op") in {"and", "or", "not"} and "type" not in node:
            if depth >= MAX_DEPTH:
                raise InvalidInput(
                    _("Rules are nested too deep (at most %(limit)s groups inside each other).")
                    % {"limit": MAX_DEPTH},
                    code="rules_too_deep",
                    fields={"rules": _("nested too deep")},
                )
            children = node.get("rules") if node.get("op") != "not" else [node.get("rule")]
            if isinstance(children, list):
                stack.extend((child, depth + 1) for child in children)
        else:
            leaves += 1
    if leaves > MAX_LEAVES:
        raise InvalidInput(
            _("A segment has at most %(limit)s conditions.") % {"limit": MAX_LEAVES},
            code="rules_too_many",
            fields={"rules": _("too many conditions")},
        )


_TAGS = {
    "group",
    "leaf",
    "and",
    "or",
    "not",
    "profile",
    "commerce",
    "event",
    "rfm",
    "level",
    "tags",
    "channel",
    "city",
    "province",
    "gender",
    "birthday_month",
    "registered",
    "points",
    "orders",
    "gmv",
    "aov",
    "last_order",
    "bought",
    "coupon",
    "refunded",
}


def _where(loc: tuple[Any, ...]) -> str:
    parts = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in _TAGS or "[" in str(item):
            continue
        else:
            parts.append(f".{item}")
    return "rules" + "".join(parts)


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return _("unknown field")
    if kind == "missing":
        return _("required")
    if kind in {"greater_than_equal", "greater_than"}:
        return _("must be at least %(limit)s") % {"limit": ctx.get("ge", ctx.get("gt"))}
    if kind in {"less_than_equal", "less_than"}:
        return _("must be at most %(limit)s") % {"limit": ctx.get("le", ctx.get("lt"))}
    if kind in {"literal_error", "union_tag_invalid", "union_tag_not_found"}:
        return _("not one of the allowed values")
    if kind in {"too_long", "too_short"}:
        return _("wrong number of items or characters")
    if kind.startswith("int") or kind.startswith("decimal"):
        return _("must be a number")
    if kind.startswith("date"):
        return _("must be a date (YYYY-MM-DD)")
    if kind == "string_pattern_mismatch":
        return _("contains characters that are not allowed")
    if kind == "value_error":
        return _("invalid: %(reason)s") % {"reason": str(ctx.get("error", ""))}
    return _("invalid")


def parse(raw: Any) -> Any:
    """The validated rule tree, or ``InvalidInput`` naming each wrong place
    (``fields``: ``{"rules[0].days": "must be at most 3650"}``)."""
    if isinstance(raw, str):
        if len(raw) > MAX_JSON:
            raise InvalidInput(_("The rules are too long."), code="rules_too_long")
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            raise InvalidInput(
                _("The rules are not valid JSON."),
                code="rules_json",
                fields={"rules": _("not JSON")},
            ) from None
    if not isinstance(raw, dict):
        raise InvalidInput(
            _("The rules must be an object."), code="rules_invalid", fields={"rules": _("invalid")}
        )
    _shape(raw)
    try:
        return _adapter.validate_python(raw)
    except ValidationError as exc:
        fields: dict[str, str] = {}
        for error in exc.errors():
            fields.setdefault(_where(tuple(error.get("loc", ()))), _message(dict(error)))
            if len(fields) >= 10:
                break
        summary = "; ".join(f"{where}: {message}" for where, message in fields.items())
        raise InvalidInput(
            _("The rules are not valid: %(errors)s") % {"errors": summary},
            code="rules_invalid",
            fields=fields,
        ) from None
    except RecursionError:
        raise InvalidInput(_("Rules are nested too deep."), code="rules_too_deep") from None


def dump(node: Any) -> dict[str, Any]:
    return dict(_adapter.dump_python(node, mode="json", exclude_defaults=False))


def walk(node: Any) -> list[Any]:
    """Every leaf of the tree."""
    out: list[Any] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (AndNode, OrNode)):
            stack.extend(current.rules)
        elif isinstance(current, NotNode):
            stack.append(current.rule)
        else:
            out.append(current)
    return out


def json_schema() -> dict[str, Any]:
    """For the console's rule builder and ``docs/api.md``."""
    return dict(_adapter.json_schema())


def today_window(days: int, now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(days=days)
