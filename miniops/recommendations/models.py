"""Recommendation models (docs/decisions, "recommender"): trained versions with their artefacts,
the precomputed neighbour and trending lists of each version, and the operator's
pins, exclusions and serving settings.

A training run writes a new ``ModelVersion`` with its ``ItemNeighbor`` and
``ProductScore`` rows, then makes it the active one in the same transaction; the
serving path reads only the active version, so a swap is atomic and the previous
versions stay for comparison until the retention task removes them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ModelVersion(models.Model):
    """One training run: what it was trained on, how long it took, and the ALS
    artefact (an ``npz`` of item factors) when ALS was trained."""

    trained_at = models.DateTimeField(_("trained at"))
    is_active = models.BooleanField(_("active"), default=False)
    interactions = models.PositiveIntegerField(_("interactions"), default=0)
    members = models.PositiveIntegerField(_("members"), default=0)
    products = models.PositiveIntegerField(_("products"), default=0)
    seconds = models.FloatField(_("training seconds"), default=0)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    #: ALS item factors and the product id of each row (numpy ``savez``); empty
    #: when too few interactions to train ALS.
    artefact = models.BinaryField(_("artefact"), blank=True, default=b"", editable=False)

    class Meta:
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        ordering = ["-trained_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="recs_one_active_version"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.pk}"


class NeighborKind(models.TextChoices):
    BOUGHT = "bought", _("Bought together")
    VIEWED = "viewed", _("Viewed together")


class ItemNeighbor(models.Model):
    """The top neighbours of a product in one version (item-kNN, BM25 weighting)."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="neighbors")
    product_id = models.BigIntegerField()
    neighbor_id = models.BigIntegerField()
    kind = models.CharField(max_length=8, choices=NeighborKind.choices)
    score = models.FloatField()
    rank = models.PositiveSmallIntegerField()

    class Meta:
        verbose_name = _("related product")
        verbose_name_plural = _("related products")
        indexes = [
            models.Index(fields=["version", "product_id", "kind", "rank"], name="recs_neighbor_idx")
        ]

    def __str__(self) -> str:
        return f"{self.product_id}→{self.neighbor_id}"


class ProductScore(models.Model):
    """Trending: interactions of the last seven days, decayed by age, per product
    (with its category, for "trending in …")."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="scores")
    product_id = models.BigIntegerField()
    category_id = models.BigIntegerField()
    score = models.FloatField()

    class Meta:
        verbose_name = _("trending score")
        verbose_name_plural = _("trending scores")
        indexes = [
            models.Index(fields=["version", "-score"], name="recs_score_idx"),
            models.Index(fields=["version", "category_id", "-score"], name="recs_score_cat_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.score:.3f}"


class RuleKind(models.TextChoices):
    PIN = "pin", _("Pin")
    EXCLUDE = "exclude", _("Exclude")


class Rule(models.Model):
    """An operator's pin (shown first on every list, while on sale and in stock)
    or exclusion (never recommended)."""

    product = models.ForeignKey(
        "catalog.Product", on_delete=models.CASCADE, related_name="+", verbose_name=_("product")
    )
    kind = models.CharField(_("kind"), max_length=8, choices=RuleKind.choices)
    position = models.PositiveSmallIntegerField(
        _("position"), default=1, help_text=_("For pins: 1 is the first place.")
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("recommendation rule")
        verbose_name_plural = _("recommendation rules")
        ordering = ["kind", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["product"], name="recs_rule_once")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.product}"


class RecsSettings(models.Model):
    """Serving settings (one row)."""

    category_cap = models.PositiveSmallIntegerField(
        _("at most per category in the top 10"), default=3
    )
    repurchase_days = models.PositiveSmallIntegerField(
        _("do not recommend consumables bought in the last (days)"), default=30
    )
    consumable_categories = models.ManyToManyField(
        "catalog.Category", blank=True, related_name="+", verbose_name=_("consumable categories")
    )
    experiment_enabled = models.BooleanField(
        _("A/B split: recommendations vs popularity only"), default=False
    )
    holdout_pct = models.PositiveSmallIntegerField(
        _("held out (popularity only), percent of visitors"),
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
    )

    class Meta:
        verbose_name = _("recommendation settings")
        verbose_name_plural = _("recommendation settings")

    def __str__(self) -> str:
        return str(_("recommendation settings"))


def _register_audit() -> None:
    from auditlog.registry import auditlog

    auditlog.register(Rule)
    auditlog.register(RecsSettings, m2m_fields={"consumable_categories"})
    auditlog.register(ModelVersion, exclude_fields=["artefact"])


_register_audit()
