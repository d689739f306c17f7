"""Every write of the content app (see the modules for each area)."""

from miniops.content.services import items, lexicon, moderation, publishing, reviews

__all__ = ["items", "lexicon", "moderation", "publishing", "reviews"]
