"""Every write of segments: definitions, overrides, recomputes (the versioned
swap), the live preview, and the input-change marks."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core import audit
from miniops.core.audit import acting_as
from miniops.core.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from miniops.core.masking import mask_name
from miniops.core.permissions import P, require, require_if_operator
from miniops.members.models import Member
from miniops.segments import compiler, hooks
from miniops.segments import rules as r
from miniops.segments.models import (
    SNAPSHOT_VERSION,
    ChangeKind,
    LeafSet,
    MemberRfm,
    OverrideMode,
    Segment,
    SegmentChange,
    SegmentKind,
    SegmentMembership,
    SegmentOverride,
    SegmentRun,
)

logger = logging.getLogger("miniops.segments")

PREVIEW_TIMEOUT_S = float(getattr(settings, "MINIOPS_SEGMENT_PREVIEW_TIMEOUT", 5.0))
RFM_MAX_AGE = timedelta(minutes=10)
LEAFSET_MAX_AGE = timedelta(hours=1)
MAX_ERRORS = 20  # a segment failing this often in a row is left to an operator


# --- the live preview ----------------------------------------------------------------------
@dataclass
class Preview:
    count: int | None
    sample: list[dict[str, Any]] = field(default_factory=list)
    elapsed_ms: float = 0.0
    error: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    lake_ms: float = 0.0


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Stop a query running longer than ``seconds``: ``statement_timeout`` on
    PostgreSQL (inside the caller's transaction), a progress handler on SQLite."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {int(seconds * 1000)}")
        _no_jit()
        yield
        return
    connection.ensure_connection()
    raw = connection.connection
    deadline = time.monotonic() + seconds
    raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)


def _no_jit() -> None:
    """PostgreSQL's JIT compiles a segment query for longer than it runs (1.4 s
    of 1.6 s at 20,000 members): off for the current transaction."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")


@contextlib.contextmanager
def _hash_joins(cursor: Any) -> Iterator[None]:
    """PostgreSQL, for one statement computing a whole segment: no nested loops.
    A behaviour leaf is ``IN (unnest(…))``, which the planner guesses at 10 rows,
    so it probed the members' and orders' indexes once per leaf member (87,261 +
    58,198 probes, 4.9 s at 10M events under load); with hash joins the same
    count took 0.96 s. Set back afterwards: the diff's small anti-joins and
    deletes want their index probes."""
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        yield
        return
    cursor.execute("SET LOCAL enable_nestloop = off")
    yield  # a failed statement aborts the transaction, and the setting with it
    cursor.execute("SET LOCAL enable_nestloop = on")


def _ensure_rfm(node: Any) -> None:
    if not compiler.uses_rfm(node):
        return
    latest = (
        MemberRfm.objects.order_by("-computed_at").values_list("computed_at", flat=True).first()
    )
    if latest is None or timezone.now() - latest > RFM_MAX_AGE:
        compiler.refresh_rfm()


def _sample_rows(members: Iterable[Member]) -> list[dict[str, Any]]:
    return [
        {
            "id": member.pk,
            "nickname": mask_name(member.nickname) if member.nickname else f"#{member.pk}",
            "city": member.city,
            "registered_at": member.registered_at,
        }
        for member in members
    ]


def preview(rules: Any, *, actor: Any, sample: int = 20) -> Preview:
    """How many members the rules match now, with up to ``sample`` of them
    (nicknames masked), and how long it took; a wrong rule or a query over its
    time limit comes back as ``error`` (and ``fields``), never silently empty.
    Writes nothing but the behaviour leaf cache."""
    require_if_operator(actor, P.SEGMENTS_VIEW)
    started = time.perf_counter()
    try:
        node = r.parse(rules)
    except InvalidInput as exc:
        return Preview(
            count=None,
            error=str(exc.message),
            fields={k: str(v) for k, v in exc.fields.items()},
        )
    ctx = compiler.Context()
    try:
        _ensure_rfm(node)
        queryset = compiler.members(node, ctx)
        with transaction.atomic(), _time_limit(PREVIEW_TIMEOUT_S):
            total = queryset.count()
            rows = list(queryset.order_by("-pk")[: max(0, min(sample, 50))]) if sample else []
    except (OperationalError, DatabaseError) as exc:
        logger.info("segment preview stopped: %s", exc)
        return Preview(
            count=None,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            error=_("The query took longer than %(seconds)s s and was stopped; narrow the rules.")
            % {"seconds": int(PREVIEW_TIMEOUT_S)},
        )
    except Exception as exc:  # DuckDB errors (a lake being rewritten) and the like
        logger.exception("segment preview failed")
        return Preview(
            count=None,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            error=_("The count could not be computed: %(error)s") % {"error": str(exc)[:200]},
        )
    return Preview(
        count=total,
        sample=_sample_rows(rows),
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        lake_ms=round(ctx.lake_ms, 1),
    )


# --- definitions ---------------------------------------------------------------------------
def _clean(name: str, refresh_minutes: int) -> str:
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise InvalidInput(fields={"name": _("Give the segment a name of 1 to 80 characters.")})
    if not 1 <= int(refresh_minutes) <= 10_080:
        raise InvalidInput(
            fields={"refresh_minutes": _("Between 1 minute and 7 days (10080 minutes).")}
        )
    return name


def create_segment(
    *,
    actor: Any,
    name: str,
    rules: Any,
    description: str = "",
    kind: str = SegmentKind.DYNAMIC,
    refresh_minutes: int = 15,
    compute: bool = True,
) -> Segment:
    """A new segment; its first membership is computed at once (a static
    segment's frozen snapshot is taken from the rules now)."""
    require_if_operator(actor, P.SEGMENTS_MANAGE)
    name = _clean(name, refresh_minutes)
    if kind not in SegmentKind.values:
        raise InvalidInput(fields={"kind": _("Dynamic or static.")})
    node = r.parse(rules)
    if Segment.objects.filter(name=name).exists():
        raise Conflict(_("A segment with this name exists."), fields={"name": _("taken")})
    try:
        with transaction.atomic(), acting_as(actor):
            segment = Segment.objects.create(
                name=name,
                description=(description or "")[:255],
                kind=kind,
                rules=r.dump(node),
                refresh_minutes=refresh_minutes,
                created_by=actor if getattr(actor, "is_operator", False) else None,
            )
            if kind == SegmentKind.STATIC:
                _write_snapshot(segment, node)
    except IntegrityError:  # the same name created at the same moment
        raise Conflict(_("A segment with this name exists."), fields={"name": _("taken")}) from None
    if compute:
        recompute(segment.pk, actor=None, reason="created")
        segment.refresh_from_db()
    return segment


def _write_snapshot(segment: Segment, node: Any) -> None:
    SegmentMembership.objects.filter(segment=segment, version=SNAPSHOT_VERSION).delete()
    _ensure_rfm(node)
    queryset = compiler.members(node).values_list("pk")
    _insert_select(segment.pk, SNAPSHOT_VERSION, queryset)


def update_segment(
    *,
    actor: Any,
    segment: Segment,
    name: str | None = None,
    description: str | None = None,
    rules: Any = None,
    refresh_minutes: int | None = None,
    is_active: bool | None = None,
) -> Segment:
    """Change a definition; new rules of a dynamic segment mark it for a
    recompute at the next scheduler tick (a static segment's rules describe its
    snapshot: changing them retakes it)."""
    require_if_operator(actor, P.SEGMENTS_MANAGE)
    with transaction.atomic(), acting_as(actor):
        segment = Segment.objects.select_for_update().get(pk=segment.pk)
        if name is not None or refresh_minutes is not None:
            segment.name = _clean(
                name if name is not None else segment.name,
                refresh_minutes if refresh_minutes is not None else segment.refresh_minutes,
            )
            if Segment.objects.filter(name=segment.name).exclude(pk=segment.pk).exists():
                raise Conflict(_("A segment with this name exists."), fields={"name": _("taken")})
        if refresh_minutes is not None:
            segment.refresh_minutes = refresh_minutes
        if description is not None:
            segment.description = description[:255]
        if is_active is not None:
            segment.is_active = is_active
        retake = False
        if rules is not None:
            node = r.parse(rules)
            dumped = r.dump(node)
            if dumped != segment.rules:
                segment.rules = dumped
                segment.dirty_since = segment.dirty_since or timezone.now()
                segment.error_count = 0
                retake = segment.is_static
        segment.save()
        if retake:
            _write_snapshot(segment, r.parse(segment.rules))
    return segment


def delete_segment(*, actor: Any, segment: Segment) -> None:
    require_if_operator(actor, P.SEGMENTS_MANAGE)
    with transaction.atomic(), acting_as(actor):
        segment.delete()


def snapshot(*, actor: Any, segment: Segment, name: str) -> Segment:
    """A static segment frozen from ``segment``'s current members (overrides
    included)."""
    require_if_operator(actor, P.SEGMENTS_MANAGE)
    name = _clean(name, 15)
    if Segment.objects.filter(name=name).exists():
        raise Conflict(_("A segment with this name exists."), fields={"name": _("taken")})
    with transaction.atomic():
        frozen = Segment.objects.create(
            name=name,
            description=_("Snapshot of %(name)s") % {"name": segment.name},
            kind=SegmentKind.STATIC,
            rules=segment.rules,
            created_by=actor if getattr(actor, "is_operator", False) else None,
        )
        from miniops.segments.selectors import member_ids

        source = Member.objects.filter(pk__in=member_ids(segment.pk)).values_list("pk")
        _insert_select(frozen.pk, SNAPSHOT_VERSION, source)
    recompute(frozen.pk, actor=None, reason="snapshot")
    frozen.refresh_from_db()
    return frozen


def set_override(
    *, actor: Any, segment: Segment, member_ids: Iterable[int], mode: str | None
) -> int:
    """Always include / always exclude members (``mode=None`` removes their
    override); the segment is recomputed right away. Returns how many changed."""
    require_if_operator(actor, P.SEGMENTS_MANAGE)
    if mode is not None and mode not in OverrideMode.values:
        raise InvalidInput(fields={"mode": _("Include, exclude or none.")})
    ids = list(Member.objects.filter(pk__in=list(member_ids)).values_list("pk", flat=True))
    if not ids:
        raise InvalidInput(fields={"members": _("No such members.")})
    if len(ids) > 10_000:
        raise InvalidInput(fields={"members": _("At most 10000 members at a time.")})
    with transaction.atomic():
        SegmentOverride.objects.filter(segment=segment, member_id__in=ids).delete()
        if mode is not None:
            SegmentOverride.objects.bulk_create(
                SegmentOverride(
                    segment=segment,
                    member_id=member_id,
                    mode=mode,
                    created_by=actor if getattr(actor, "is_operator", False) else None,
                )
                for member_id in ids
            )
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            instance=segment,
            changes={"overrides": [None, {"mode": mode or "none", "members": ids[:100]}]},
            additional={"count": len(ids)},
        )
    recompute(segment.pk, actor=None, reason="override")
    return len(ids)


# --- recompute: the versioned swap -------------------------------------------------------------
def _insert_select(segment_id: int, version: int, queryset: Any) -> int:
    """``INSERT … SELECT`` the member ids of ``queryset`` (one column) as
    membership rows: one statement, no row through Python. ``queryset`` is over
    members (any columns; only the primary key is taken)."""
    _no_jit()
    sql, params = (
        queryset.annotate(chosen_id=F("pk")).values_list("chosen_id").query.sql_with_params()
    )
    table = SegmentMembership._meta.db_table
    with connection.cursor() as cursor:
        with _hash_joins(cursor):
            cursor.execute(
                f"INSERT INTO {table} (segment_id, version, member_id) "  # noqa: S608 - identifiers from models, values bound
                f"SELECT %s, %s, chosen.chosen_id FROM ({sql}) AS chosen",
                [segment_id, version, *params],
            )
            inserted = int(cursor.rowcount or 0)
        return inserted


def _target(segment: Segment, ctx: compiler.Context) -> Any:
    """The query of the segment's next membership: its rules (or frozen
    snapshot), minus the excluded, plus the included."""
    if segment.is_static:
        base = Q(
            Exists(
                SegmentMembership.objects.filter(
                    segment_id=segment.pk, version=SNAPSHOT_VERSION, member_id=OuterRef("pk")
                )
            )
        )
    else:
        node = r.parse(segment.rules)
        _ensure_rfm(node)
        base = compiler.to_q(node, ctx)
    overrides = SegmentOverride.objects.filter(segment_id=segment.pk, member_id=OuterRef("pk"))
    include = Q(Exists(overrides.filter(mode=OverrideMode.INCLUDE)))
    exclude = Q(Exists(overrides.filter(mode=OverrideMode.EXCLUDE)))
    return Member.objects.filter((base & ~exclude) | include).order_by().values_list("pk")


TARGET_TABLE = "segments_target_tmp"


def _write_diff(segment_id: int, new: int, query: Any, at: Any) -> tuple[int, int, int]:
    """Bring the segment's membership to the members of ``query`` by writing only
    the difference: the target set goes once into a temporary table, the members
    it adds are inserted as version ``new`` and recorded as entries, the members
    it drops are recorded as exits and deleted; members that stay are not
    touched. Returns (members, entered, exited). A whole-version rewrite cost a
    row (five indexes, two foreign-key checks) per member per run; the diff
    costs a row per change."""
    _no_jit()
    members = SegmentMembership._meta.db_table
    changes = SegmentChange._meta.db_table
    tmp = TARGET_TABLE
    sql, params = query.annotate(chosen_id=F("pk")).values_list("chosen_id").query.sql_with_params()
    current = f"m.segment_id = %s AND m.version >= {SNAPSHOT_VERSION + 1}"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {tmp}")
        cursor.execute(f"CREATE TEMPORARY TABLE {tmp} (member_id bigint PRIMARY KEY)")
        with _hash_joins(cursor):
            cursor.execute(
                f"INSERT INTO {tmp} (member_id) SELECT chosen.chosen_id FROM ({sql}) AS chosen",  # noqa: S608 - identifiers from models, values bound
                params,
            )
            total = int(cursor.rowcount or 0)
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {tmp}")
        cursor.execute(
            f"INSERT INTO {changes} (segment_id, member_id, kind, version, at) "  # noqa: S608 - identifiers from models, values bound
            f"SELECT %s, t.member_id, %s, %s, %s FROM {tmp} t WHERE NOT EXISTS "
            f"(SELECT 1 FROM {members} m WHERE {current} AND m.member_id = t.member_id)",
            [segment_id, ChangeKind.ENTERED.value, new, at, segment_id],
        )
        entered = int(cursor.rowcount or 0)
        cursor.execute(
            f"INSERT INTO {changes} (segment_id, member_id, kind, version, at) "  # noqa: S608 - identifiers from models, values bound
            f"SELECT %s, m.member_id, %s, %s, %s FROM {members} m WHERE {current} "
            f"AND NOT EXISTS (SELECT 1 FROM {tmp} t WHERE t.member_id = m.member_id)",
            [segment_id, ChangeKind.EXITED.value, new, at, segment_id],
        )
        exited = int(cursor.rowcount or 0)
        this_run = "c.segment_id = %s AND c.at = %s AND c.version = %s AND c.kind = %s"
        if exited:
            cursor.execute(
                f"DELETE FROM {members} WHERE segment_id = %s "  # noqa: S608 - identifiers from models, values bound
                f"AND version >= {SNAPSHOT_VERSION + 1} AND member_id IN "
                f"(SELECT c.member_id FROM {changes} c WHERE {this_run})",
                [segment_id, segment_id, at, new, ChangeKind.EXITED.value],
            )
        if entered:
            cursor.execute(
                f"INSERT INTO {members} (segment_id, version, member_id) "  # noqa: S608 - identifiers from models, values bound
                f"SELECT %s, %s, c.member_id FROM {changes} c WHERE {this_run}",
                [segment_id, new, segment_id, at, new, ChangeKind.ENTERED.value],
            )
        cursor.execute(f"DROP TABLE {tmp}")
    return total, entered, exited


def recompute(segment_id: int, *, actor: Any, reason: str = "manual") -> SegmentRun:
    """Move the segment to its next membership version — the entries inserted,
    the exits deleted, both recorded, the segment's ``version`` and count set, in
    one transaction (members who stay keep their row) — then run the hooks. A failure is
    kept on the segment (``last_error``, ``error_count``) and in its run row."""
    if actor is not None:
        require(actor, P.SEGMENTS_MANAGE)
    started_at = timezone.now()
    started = time.perf_counter()
    ctx = compiler.Context(now=started_at)
    try:
        with transaction.atomic():
            segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
            if segment is None:
                raise NotFound(code="segment_not_found")
            old = segment.version if segment.version > 0 else None
            new = segment.version + 1
            query = _target(segment, ctx)
            total, entered, exited = _write_diff(segment.pk, new, query, started_at)
            elapsed = int((time.perf_counter() - started) * 1000)
            Segment.objects.filter(pk=segment.pk).update(
                version=new,
                member_count=total,
                computed_at=started_at,
                compute_ms=elapsed,
                dirty_since=None,
                last_error="",
                error_count=0,
            )
            run = SegmentRun.objects.create(
                segment=segment,
                version=new,
                started_at=started_at,
                elapsed_ms=elapsed,
                member_count=total,
                entered=entered,
                exited=exited,
                reason=reason[:32],
            )
            if actor is not None:
                audit.record(
                    actor=actor,
                    action=audit.Action.UPDATE,
                    instance=segment,
                    changes={"version": [old or 0, new]},
                    additional={"recompute": reason, "members": total},
                )
            transaction.on_commit(lambda: _announce(segment.pk, new, started_at, entered, exited))
        return run
    except NotFound:
        raise
    except Exception as exc:
        if isinstance(exc, InvalidInput):
            message = str(exc.message)
        else:
            logger.exception("segment %s recompute failed", segment_id)
            message = f"{type(exc).__name__}: {str(exc)[:500]}"
        elapsed = int((time.perf_counter() - started) * 1000)
        with transaction.atomic():
            Segment.objects.filter(pk=segment_id).update(last_error=message, dirty_since=None)
            Segment.objects.filter(pk=segment_id).update(error_count=F("error_count") + 1)
            run = SegmentRun.objects.create(
                segment_id=segment_id,
                started_at=started_at,
                elapsed_ms=elapsed,
                reason=reason[:32],
                error=message,
            )
        if actor is not None:
            raise ServiceUnavailable(
                _("The segment could not be recomputed: %(error)s") % {"error": message}
            ) from exc
        return run


def _announce(segment_id: int, version: int, at: Any, entered: int, exited: int) -> None:
    for kind, count in ((ChangeKind.ENTERED, entered), (ChangeKind.EXITED, exited)):
        if not count:
            continue
        ids = list(
            SegmentChange.objects.filter(
                segment_id=segment_id, version=version, kind=kind
            ).values_list("member_id", flat=True)
        )
        hooks.run(kind.value, segment_id=segment_id, member_ids=ids, at=at)


def due(now: Any = None) -> list[int]:
    """Dynamic segments to recompute now: marked dirty, or older than their
    ``refresh_minutes``; oldest first; those failing ``MAX_ERRORS`` times in a row
    wait for an operator."""
    now = now or timezone.now()
    out = []
    candidates = Segment.objects.filter(
        is_active=True, kind=SegmentKind.DYNAMIC, error_count__lt=MAX_ERRORS
    ).order_by("computed_at", "pk")
    for pk, computed_at, minutes, dirty in candidates.values_list(
        "pk", "computed_at", "refresh_minutes", "dirty_since"
    ):
        if (
            dirty is not None
            or computed_at is None
            or now - computed_at >= timedelta(minutes=minutes)
        ):
            out.append(pk)
    return out


def recompute_due(*, limit: int = 100, deadline_s: float = 50.0) -> int:
    """The scheduler's tick (``tasks.recompute_segments``)."""
    started = time.monotonic()
    done = 0
    for pk in due()[:limit]:
        recompute(pk, actor=None, reason="schedule")
        done += 1
        if time.monotonic() - started > deadline_s:
            break
    prune_leafsets()
    return done


def prune_leafsets() -> int:
    cutoff = timezone.now() - LEAFSET_MAX_AGE
    deleted, _rows = LeafSet.objects.filter(created_at__lt=cutoff).delete()
    return int(deleted)


# --- input changes -----------------------------------------------------------------------------
_INPUT_MARKERS = {
    "orders": ('"commerce"', '"rfm"'),
    "tags": ('"tags"',),
    "level": ('"level"',),
    "profile": ('"profile"',),
}


def mark_dirty(inputs: str) -> int:
    """Mark the dynamic segments whose rules read ``inputs`` (orders, tags,
    level, profile) for a recompute at the next tick."""
    import json

    markers = _INPUT_MARKERS[inputs]
    ids = [
        pk
        for pk, rules in Segment.objects.filter(
            is_active=True, kind=SegmentKind.DYNAMIC, dirty_since__isnull=True
        ).values_list("pk", "rules")
        if any(marker in json.dumps(rules) for marker in markers)
    ]
    if ids:
        Segment.objects.filter(pk__in=ids, dirty_since__isnull=True).update(
            dirty_since=timezone.now()
        )
    return len(ids)
