"""WeChat's message push, shared by the apps that listen to it.

A mini-program has one push URL (``/api/v1/content/wechat/push``, which checks
the signature, the time stamp and the nonce). Its pushes are events
(``{"MsgType": "event", "Event": ...}``) and messages members write through the
contact button (``{"MsgType": "text" | "image" | "miniprogrampage", ...}``). An
app that wants some of them registers a handler for the ``Event`` name or the
``MsgType`` in its ``AppConfig.ready``; the endpoint hands over each verified
push it does not handle itself. A push nobody listens to is acknowledged and
dropped (WeChat would otherwise send it again three times).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any]], None]
_handlers: dict[str, Handler] = {}


def register(kind: str, handler: Handler) -> None:
    """``kind``: an ``Event`` name (``user_enter_tempsession``) or a ``MsgType``
    (``text``)."""
    _handlers[kind] = handler


def unregister(kind: str) -> None:
    _handlers.pop(kind, None)


def handler_for(body: dict[str, Any]) -> Handler | None:
    kind = body.get("MsgType")
    if kind == "event":
        kind = body.get("Event")
    return _handlers.get(kind) if isinstance(kind, str) else None


def dispatch(body: dict[str, Any]) -> bool:
    """Hand ``body`` to its handler; False when nobody listens to it."""
    handler = handler_for(body)
    if handler is None:
        return False
    handler(body)
    return True
