"""Console pages of customer service: the agent inbox, conversations, tickets,
quick replies, queues, agents, SLA policies and calendars."""

from miniops.support.admin import conversations, inbox, tickets, widgets

__all__ = ["conversations", "inbox", "tickets", "widgets"]
