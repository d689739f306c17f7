"""Every write to members: sign-in and tokens, profile, addresses, favourites and
history, and operators' actions (block, tag, reveal personal data)."""

from __future__ import annotations

from miniops.members.services.common import (
    MAX_FAVOURITES,
    MAX_HISTORY,
    PHONE_RE,
    logger,
    platform_failure,
)
from miniops.members.services.favourites import (
    add_favourite,
    clear_history,
    prune_history,
    record_view,
    remove_favourite,
)
from miniops.members.services.operators import (
    block_member,
    reveal,
    tag_members,
    unblock_member,
)
from miniops.members.services.profile import (
    PROFILE_FIELDS,
    add_address,
    bind_phone,
    delete_address,
    update_address,
    update_profile,
)
from miniops.members.services.sessions import (
    Tokens,
    _open_session,
    login_with_wechat,
    refresh_tokens,
    revoke_all_sessions,
    revoke_session,
)

__all__ = [
    "MAX_FAVOURITES",
    "MAX_HISTORY",
    "PHONE_RE",
    "PROFILE_FIELDS",
    "Tokens",
    "_open_session",
    "add_address",
    "add_favourite",
    "bind_phone",
    "block_member",
    "clear_history",
    "delete_address",
    "logger",
    "login_with_wechat",
    "platform_failure",
    "prune_history",
    "record_view",
    "refresh_tokens",
    "remove_favourite",
    "reveal",
    "revoke_all_sessions",
    "revoke_session",
    "tag_members",
    "unblock_member",
    "update_address",
    "update_profile",
]
