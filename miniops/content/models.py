"""User content (posts, comments, product reviews), what members do with it (likes,
favourites, reports) and its moderation: one case per item in one review queue,
the signals that opened it, the decisions, appeals, the lexicon of the pre-screen
and the platform checks (ledger rows)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.core.ledger import LedgerEntry


class Kind(models.TextChoices):
    POST = "post", _("Post")
    COMMENT = "comment", _("Comment")
    REVIEW = "review", _("Product review")


class Status(models.TextChoices):
    PENDING = "pending", _("In review")
    PUBLISHED = "published", _("Published")
    REJECTED = "rejected", _("Rejected")
    REMOVED = "removed", _("Deleted by its author")


class Category(models.TextChoices):
    POLITICS = "politics", _("Politics")
    PORN = "porn", _("Pornography")
    GAMBLING = "gambling", _("Gambling")
    ADS = "ads", _("Ads and contact details")
    ABUSE = "abuse", _("Abuse")
    CUSTOM = "custom", _("Custom")


class LexiconAction(models.TextChoices):
    BLOCK = "block", _("Block")
    REVIEW = "review", _("Send to review")
    MASK = "mask", _("Publish with the word masked")
    ALLOW = "allow", _("Allow (cancels overlapping matches)")


class Topic(models.Model):
    name = models.CharField(_("name"), max_length=32, unique=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    sort = models.IntegerField(_("sort"), default=0)

    class Meta:
        verbose_name = _("topic")
        verbose_name_plural = _("topics")
        ordering = ["-sort", "id"]

    def __str__(self) -> str:
        return self.name


class ContentItem(models.Model):
    """What posts, comments and reviews share: an author, a text, a review state."""

    author = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("author")
    )
    text = models.TextField(_("text"))
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING
    )
    #: the reason shown to the author when refused (a template's text)
    reject_reason = models.CharField(_("reason for refusal"), max_length=200, blank=True)
    #: operators hide an item without deciding its review (it stays in its state)
    is_hidden = models.BooleanField(_("hidden"), default=False)
    #: bumped by every edit; platform checks belong to one revision
    revision = models.PositiveIntegerField(default=1)
    likes_count = models.PositiveIntegerField(_("likes"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def visible(self) -> bool:
        return self.status == Status.PUBLISHED and not self.is_hidden


class Post(ContentItem):
    images = models.JSONField(_("images"), default=list, blank=True)
    topics = models.ManyToManyField(
        Topic, blank=True, related_name="posts", verbose_name=_("topics")
    )
    comments_count = models.PositiveIntegerField(_("comments"), default=0)
    favourites_count = models.PositiveIntegerField(_("favourites"), default=0)
    #: log10(weighted interactions) + publication time / 45000 (Reddit's "hot"), kept
    #: up to date on every interaction so the feed sorts by an index
    hot_score = models.FloatField(default=0.0, db_index=True)
    is_pinned = models.BooleanField(_("pinned"), default=False)
    is_featured = models.BooleanField(_("featured"), default=False)

    class Meta:
        verbose_name = _("post")
        verbose_name_plural = _("posts")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-published_at", "-id"], name="post_feed_new_idx"),
            models.Index(fields=["author", "-created_at"], name="post_author_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.text[:30]}"


class Comment(ContentItem):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    #: a reply names the top-level comment it answers (one level only)
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="replies",
        verbose_name=_("in reply to"),
    )

    class Meta:
        verbose_name = _("comment")
        verbose_name_plural = _("comments")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["post", "parent", "created_at"], name="comment_post_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.text[:30]}"


class Review(ContentItem):
    """A product review by the buyer of a received order line; a follow-up names
    the review it follows (one each)."""

    order_item = models.ForeignKey(
        "orders.OrderItem", on_delete=models.CASCADE, related_name="+", verbose_name=_("order line")
    )
    product = models.ForeignKey(
        "catalog.Product", on_delete=models.CASCADE, related_name="+", verbose_name=_("product")
    )
    follows = models.OneToOneField(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="follow_up"
    )
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    images = models.JSONField(_("images"), default=list, blank=True)
    anonymous = models.BooleanField(_("anonymous"), default=False)

    class Meta:
        verbose_name = _("product review")
        verbose_name_plural = _("product reviews")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["product", "status", "-created_at"], name="review_product_idx")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["order_item"],
                condition=Q(follows__isnull=True),
                name="review_once_per_line",
            ),
            models.CheckConstraint(
                condition=Q(follows__isnull=False) | Q(rating__gte=1, rating__lte=5),
                name="review_rating_1_5",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.text[:30]}"


class Like(models.Model):
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    object_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("like")
        verbose_name_plural = _("likes")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "kind", "object_id"], name="content_like_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id} ♥ {self.kind} #{self.object_id}"


class Favourite(models.Model):
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("favourite")
        verbose_name_plural = _("favourites")
        constraints = [
            models.UniqueConstraint(fields=["member", "post"], name="content_favourite_once")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} ★ {self.post_id}"


class Report(models.Model):
    class Reason(models.TextChoices):
        SPAM = "spam", _("Spam or ads")
        ABUSE = "abuse", _("Abuse or harassment")
        PORN = "porn", _("Sexual content")
        ILLEGAL = "illegal", _("Illegal content")
        FAKE = "fake", _("Fake or misleading")
        OTHER = "other", _("Other")

    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("reporter")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    object_id = models.BigIntegerField(_("item"))
    reason = models.CharField(_("reason"), max_length=12, choices=Reason.choices)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "kind", "object_id"], name="content_report_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.object_id}: {self.get_reason_display()}"


# --- moderation ---------------------------------------------------------------------------
class CaseStatus(models.TextChoices):
    OPEN = "open", _("To review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class ModerationCase(models.Model):
    """One per item, re-opened (never duplicated) by a new signal or an appeal."""

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    object_id = models.BigIntegerField(_("item"))
    author = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("author")
    )
    excerpt = models.CharField(_("text"), max_length=300, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=CaseStatus.choices, default=CaseStatus.OPEN
    )
    score = models.IntegerField(_("score"), default=0, db_index=True)
    categories = models.JSONField(_("categories"), default=list, blank=True)
    reports_count = models.PositiveIntegerField(_("reports"), default=0)
    #: what opened the case last: prescreen, platform, report, timeout, provider_error, appeal
    trigger = models.CharField(_("why"), max_length=20, blank=True)
    opened_at = models.DateTimeField(_("in queue since"), default=timezone.now, db_index=True)
    claimed_by = models.ForeignKey(
        "accounts.Operator", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        "accounts.Operator",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    reason_code = models.CharField(_("reason"), max_length=32, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("review case")
        verbose_name_plural = _("review queue")
        ordering = ["-score", "opened_at", "id"]
        indexes = [models.Index(fields=["status", "-score", "opened_at"], name="case_queue_idx")]
        constraints = [
            models.UniqueConstraint(fields=["kind", "object_id"], name="case_once_per_item")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.object_id}"


class Signal(models.Model):
    """Why a case is in the queue: a lexicon hit, a platform verdict, a report."""

    case = models.ForeignKey(ModerationCase, on_delete=models.CASCADE, related_name="signals")
    source = models.CharField(_("source"), max_length=20)
    category = models.CharField(_("category"), max_length=12, blank=True)
    suggest = models.CharField(_("suggestion"), max_length=12, blank=True)
    label = models.CharField(_("label"), max_length=32, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("signal")
        verbose_name_plural = _("signals")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.source}: {self.label or self.category}"


class Decision(models.Model):
    """Every decision on a case, never edited: approve, reject, undo, appeal outcomes."""

    class Action(models.TextChoices):
        APPROVE = "approve", _("Approved")
        REJECT = "reject", _("Rejected")
        UNDO = "undo", _("Undone")
        UPHOLD = "uphold", _("Appeal refused (rejection upheld)")
        OVERTURN = "overturn", _("Appeal granted (rejection overturned)")

    case = models.ForeignKey(ModerationCase, on_delete=models.CASCADE, related_name="decisions")
    actor = models.ForeignKey(
        "accounts.Operator", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    action = models.CharField(max_length=12, choices=Action.choices)
    reason_code = models.CharField(max_length=32, blank=True)
    note = models.CharField(max_length=200, blank=True)
    #: (case status, item status) before, for undo
    before = models.JSONField(default=dict, blank=True)
    #: how long the case waited in the queue until this decision, in seconds
    waited_seconds = models.PositiveIntegerField(default=0)
    undone = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.case_id}"


class Appeal(models.Model):
    class State(models.TextChoices):
        OPEN = "open", _("Open")
        UPHELD = "upheld", _("Refused")
        OVERTURNED = "overturned", _("Granted")

    case = models.OneToOneField(ModerationCase, on_delete=models.CASCADE, related_name="appeal")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    text = models.CharField(_("appeal"), max_length=2000)
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    #: who rejected the item: the one operator who may not decide the appeal
    first_reviewer = models.ForeignKey(
        "accounts.Operator", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        "accounts.Operator", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("appeal")
        verbose_name_plural = _("appeals")

    def __str__(self) -> str:
        return gettext("Appeal %(case)s: %(state)s") % {
            "case": self.case_id,
            "state": self.get_state_display(),
        }


class LexiconEntry(models.Model):
    term = models.CharField(_("term"), max_length=64)
    #: the term as the matcher sees it (see content.prescreen.normalize)
    normalized = models.CharField(max_length=64, unique=True, editable=False)
    category = models.CharField(
        _("category"), max_length=12, choices=Category.choices, default=Category.CUSTOM
    )
    action = models.CharField(
        _("action"), max_length=8, choices=LexiconAction.choices, default=LexiconAction.REVIEW
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("lexicon entry")
        verbose_name_plural = _("lexicon")
        ordering = ["category", "term"]

    def __str__(self) -> str:
        return self.term


class PlatformCheck(LedgerEntry):
    """One request to WeChat's content security for one revision of an item: text
    (``msgSecCheck``, answered at once) or one image (``mediaCheckAsync``, answered
    later at the callback, matched by ``trace_id``)."""

    class Verdict(models.TextChoices):
        NONE = "", _("awaiting")
        PASS = "pass", _("pass")
        REVIEW = "review", _("review")
        RISKY = "risky", _("risky")
        ERROR = "error", _("platform failed")
        TIMEOUT = "timeout", _("no verdict in time")

    kind = models.CharField(max_length=12, choices=Kind.choices)
    object_id = models.BigIntegerField()
    revision = models.PositiveIntegerField(default=1)

    class Channel(models.TextChoices):
        TEXT = "text", _("text")
        MEDIA = "media", _("image")

    channel = models.CharField(max_length=8, choices=Channel.choices)
    media_url = models.CharField(max_length=500, blank=True)
    trace_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    verdict = models.CharField(max_length=8, choices=Verdict.choices, blank=True, default="")
    label = models.CharField(max_length=16, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta(LedgerEntry.Meta):
        verbose_name = _("platform check")
        verbose_name_plural = _("platform checks")
        indexes = [
            models.Index(fields=["state", "due_at"], name="check_claim_idx"),
            models.Index(fields=["kind", "object_id", "revision"], name="check_item_idx"),
        ]

    def __str__(self) -> str:
        return self.key


def _register_audit() -> None:
    from auditlog.registry import auditlog

    auditlog.register(Topic)
    auditlog.register(LexiconEntry)
    auditlog.register(Post, include_fields=["status", "is_hidden", "is_pinned", "is_featured"])
    auditlog.register(Comment, include_fields=["status", "is_hidden"])
    auditlog.register(Review, include_fields=["status", "is_hidden"])


_register_audit()
