"""Sharing's writes: links and codes (``links``), posters (``posters``),
attribution, rewards and their rules (``attribution``), and the reactions to
other apps (``hooks``)."""

from miniops.sharing.services.attribution import (
    attribute_order,
    attribute_registration,
    check,
    claw_back,
    grant,
    on_order_completed,
    release_due,
    rules,
    update_rules,
)
from miniops.sharing.services.links import minicode, own_link, parse_code, resolve, share
from miniops.sharing.services.posters import poster

__all__ = [
    "attribute_order",
    "attribute_registration",
    "check",
    "claw_back",
    "grant",
    "minicode",
    "on_order_completed",
    "own_link",
    "parse_code",
    "poster",
    "release_due",
    "resolve",
    "rules",
    "share",
    "update_rules",
]
