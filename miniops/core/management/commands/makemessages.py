"""Django's makemessages without fuzzy matching: msgmerge would otherwise guess a
translation for a new string from a similar old one ("Segments" -> "事件") and
mark it fuzzy, which gettext then ignores and reviewers miss."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    msgmerge_options = [*makemessages.Command.msgmerge_options, "--no-fuzzy-matching"]
