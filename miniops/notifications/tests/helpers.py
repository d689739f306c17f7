"""Test helpers: the shared factories under short names."""

from __future__ import annotations

from miniops.testing.factories import consent, message_template

template = message_template

__all__ = ["consent", "template"]
