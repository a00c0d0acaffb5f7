"""The database schema (SQLAlchemy Core): grids, roster, catalog, cases, files, patrols,
inspections, notifications, ledger.

Rows here are storage, not domain objects: :mod:`gridmgr.store` converts between the two. Times
are stored in UTC (:class:`UTCDateTime`); geometries are PostGIS ``geometry(…, 4326)`` columns on
PostgreSQL, so GIS staff can open cells and cases in QGIS, and WKB blobs on SQLite.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    column,
    false,
    table,
)

from gridmgr.store.columns import NAMING as NAMING
from gridmgr.store.columns import GeometryColumn as GeometryColumn
from gridmgr.store.columns import UTCDateTime as UTCDateTime
from gridmgr.store.columns import id_column as _id
from gridmgr.store.columns import metadata as metadata
from gridmgr.store.ledgertables import LEDGER_COLUMNS as LEDGER_COLUMNS
from gridmgr.store.ledgertables import ledger as ledger
from gridmgr.store.ledgertables import ledger_merkle as ledger_merkle
from gridmgr.store.ledgertables import ledger_tree_heads as ledger_tree_heads
from gridmgr.store.ledgertables import ledger_verifications as ledger_verifications
from gridmgr.store.ledgertables import replay_snapshots as replay_snapshots

grid_generations = Table(
    "grid_generations",
    metadata,
    Column("generation_id", String(80), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("checksum", String(64), nullable=False),
    Column("metric_crs", String(40), nullable=False),
    Column("county_code", String(12), nullable=False),
    Column("is_current", Boolean, nullable=False, default=False),
    Column("imported_at", UTCDateTime, nullable=False),
    Column("meta", JSON, nullable=False),
)

cells = Table(
    "cells",
    metadata,
    Column(
        "generation_id", String(80), ForeignKey("grid_generations.generation_id"), primary_key=True
    ),
    Column("code", String(20), primary_key=True),
    Column("parent_code", String(20)),
    Column("tier", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("name_en", String(200), nullable=False, default=""),
    Column("geom", GeometryColumn("MULTIPOLYGON"), nullable=False),
    CheckConstraint("tier IN (1, 2, 3)", name="tier"),
)

units = Table(
    "units",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("towns", Text, nullable=False, default=""),
)

persons = Table(
    "persons",
    metadata,
    Column("person_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("phone", String(40), nullable=False, default=""),
    Column("unit_id", String(64), ForeignKey("units.unit_id")),
    Column("capacity", Integer, nullable=False, default=1),
)

assignments = Table(
    "assignments",
    metadata,
    _id(),
    Column("person_id", String(64), ForeignKey("persons.person_id"), nullable=False),
    Column("post_kind", String(20), nullable=False),
    Column("place", String(64), nullable=False, default=""),
    Column("role", String(10), nullable=False),
    Column("valid_from", UTCDateTime, nullable=False),
    Column("valid_to", UTCDateTime),
    Index(None, "post_kind", "place", "role"),
    Index(None, "person_id"),
)

absences = Table(
    "absences",
    metadata,
    _id(),
    Column("person_id", String(64), ForeignKey("persons.person_id"), nullable=False),
    Column("start", UTCDateTime, nullable=False),
    Column("end", UTCDateTime, nullable=False),
    Column("reason", String(200), nullable=False, default=""),
)

categories = Table(
    "categories",
    metadata,
    Column("code", String(48), primary_key=True),
    Column("name_zh", String(100), nullable=False),
    Column("position", Integer, nullable=False),
    Column("row", JSON, nullable=False),  # the catalog file's row, as written by catalog_to_rows
)

# The calendar overrides in force (shipped and the city's, merged): 0016.
calendar_days = Table(
    "calendar_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("is_workday", Boolean, nullable=False),
    Column("name", String(100)),
)

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(32), primary_key=True),
    Column("number", BigInteger, nullable=False, unique=True),
    Column("category", String(48), nullable=False),
    Column("state", String(16), nullable=False),
    Column("queue", String(16), nullable=False),
    Column("reported_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("reporter", String(100), nullable=False),
    Column("description", Text, nullable=False),
    Column("lon", Float),
    Column("lat", Float),
    Column("location", GeometryColumn("POINT")),
    Column("cell", String(20)),
    Column("tier2", String(20)),
    Column("tier1", String(20)),
    Column("generation_id", String(80), nullable=False),
    Column("assignee_id", String(64)),
    Column("assignee_post", String(100)),
    Column("assignee_name", String(200)),
    Column("handler", String(64)),
    Column("stage", String(10)),
    Column("stage_started_at", UTCDateTime),
    Column("due_at", UTCDateTime),
    Column("stage_seq", Integer, nullable=False, default=0),
    Column("escalation_level", Integer, nullable=False, default=0),
    Column("escalated_stage_seq", Integer),
    Column("reopen_count", Integer, nullable=False, default=0),
    Column("return_count", Integer, nullable=False, default=0),
    Column("deferrals", Integer, nullable=False, default=0),
    Column("rating", Integer),
    Column("version", Integer, nullable=False),
    # intake (migration 0003): how the report came in, and where it went
    Column("channel", String(16), nullable=False, server_default="grid_worker"),
    Column("source_id", String(100)),  # the sending system's id: (channel, source_id) is unique
    Column("address", Text),  # as reported, for reports without usable coordinates
    Column("merged_into", String(32)),  # the master case of a merged duplicate
    # deferral requests (migration 0004): approved deferrals of the running stage, and the
    # request awaiting the approver the rules picked (its deadline is not yet in force)
    Column("stage_deferrals", Integer, nullable=False, server_default="0"),
    Column("defer_approver_id", String(64)),
    Column("defer_approver_post", String(100)),
    Column("defer_approver_name", String(200)),
    Column("defer_requested_by", String(64)),
    Column("defer_requested_at", UTCDateTime),
    Column("defer_due_before", UTCDateTime),
    Column("defer_due_at", UTCDateTime),
    Column("defer_reason", Text),
    Column("defer_version", Integer),
    # the named person answering for the running stage now, and his rung of the 督办 ladder
    Column("holder_id", String(64)),
    Column("holder_post", String(100)),
    Column("holder_name", String(200)),
    Column("rung", Integer, nullable=False, server_default="0"),
    Column("card", String(8)),
    Index(None, "defer_approver_id"),
    # the desk's index: open cases by deadline, covering every column of the invariant check
    Index(None, "state", "due_at", "queue", "stage", "card", "holder_id", "cell"),
    Index(None, "cell"),
    Index(None, "tier1", "state"),
    Index(None, "assignee_id", "state"),
    Index(None, "holder_id", "state"),
    Index(None, "assignee_post", "state"),  # a unit's inbox (migration 0009)
    Index(None, "reported_at"),
    Index(None, "channel", "source_id", unique=True),
    Index(None, "category", "lon", "lat"),  # the duplicate lookup: per category, a lon band
    Index(None, "merged_into"),
)

# the case search (migration 0008) lives beside the metadata, in each backend's own kind of
# index: a pg_trgm GIN index on an expression, and an FTS5 virtual table kept by triggers
SEARCH_WORDS = (
    "coalesce(description, '') || ' ' || coalesce(address, '') || ' ' || "
    "coalesce(holder_name, '') || ' ' || coalesce(assignee_name, '')"
)
"""The words of a case, as PostgreSQL's trigram index ``ix_cases_search_trgm`` has them: a
query uses that index only when it names this very expression."""
SEARCH_INDEX = "ix_cases_search_trgm"
case_search = table("case_search", column("rowid"), column("words"))
"""SQLite's FTS5 table of the same words, one row per case (rowid = its number), kept in step
by triggers on ``cases``; FTS5 keeps its index in tables named ``case_search_*``."""

case_events = Table(
    "case_events",
    metadata,
    _id(),
    Column("case_id", String(32), ForeignKey("cases.case_id"), nullable=False),
    Column("ledger_seq", BigInteger, ForeignKey("ledger.seq"), nullable=False, unique=True),
    Column("action", String(16), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("comment", Text, nullable=False),
    Column("details", JSON, nullable=False),
    Index(None, "case_id", "id"),
)

attachments = Table(
    "attachments",
    metadata,
    Column("attachment_id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.case_id"), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content_type", String(40), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("width", Integer),
    Column("height", Integer),
    Column("gps_lon", Float),
    Column("gps_lat", Float),
    Column("path", String(300), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "case_id"),
)

patrol_points = Table(
    "patrol_points",
    metadata,
    _id(),
    Column("person_id", String(64), ForeignKey("persons.person_id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("accuracy_m", Float),
    Column("location", GeometryColumn("POINT"), nullable=False),
    Column("cell", String(32)),  # the tier-3 cell (migration 0013; NULL outside the grid)
    # the phone's id of the point (migration 0014): a resent point is stored once
    Column("client_id", String(64)),
    Index(None, "person_id", "at"),
    Index(None, "person_id", "client_id", unique=True),
    Index(None, "at"),
    Index(None, "cell", "at"),
)

patrol_coverage = Table(
    "patrol_coverage",
    metadata,
    # the 10 m pixels of a cell covered on a Beijing day (gridmgr.patrolpixels), kept up to
    # date as points are stored, so N days' coverage is a union of N bitmaps per cell
    Column("cell", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("origin_x", Integer, nullable=False),
    Column("origin_y", Integer, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("pixels", LargeBinary, nullable=False),
    Column("points", Integer, nullable=False),
    Column("last_at", UTCDateTime),
    Index(None, "day"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(16), primary_key=True),
    Column("kind", String(10), nullable=False),  # "person" (Bearer), "apikey" (Open311), "display"
    Column("subject", String(100), nullable=False),  # a person id, or a partner system's name
    Column("secret_hash", String(64), nullable=False),
    Column("label", String(200), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    # what an Open311 api_key reads (migration 0007): "public", or "partner" (restricted too)
    Column("scope", String(16), nullable=False, server_default="public"),
    Index(None, "subject"),
)

client_requests = Table(  # migration 0014: a field app's writes, each stored once
    "client_requests",
    metadata,
    # (person, the app's id of the write) is the key: a resend finds the first write and its reply
    Column("person_id", String(64), primary_key=True),
    Column("client_id", String(64), primary_key=True),
    Column("kind", String(24), nullable=False),  # "report", or the action ("accept", "handle" …)
    Column("case_id", String(32), nullable=False),
    Column("ledger_seq", BigInteger),  # the ledger event of the write
    Column("created_at", UTCDateTime, nullable=False),
    Column("reply", JSON),  # the first reply, sent again to a resend (NULL until it is kept)
)

device_contacts = Table(  # migration 0014: when each device token was last used
    "device_contacts",
    metadata,
    Column("token_id", String(16), primary_key=True),
    Column("person_id", String(64), nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Index(None, "person_id"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("person_id", String(64), primary_key=True),  # a roster person (no FK: rosters reload)
    Column("password_hash", String(200), nullable=False),  # argon2id, never the password
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    # bumped by a logout, "log out everywhere" and a password change: older session cookies end
    Column("session_epoch", Integer, nullable=False, default=0, server_default="0"),
    # made by demo mode with the public demo password (cleared when the password is set)
    Column("demo", Boolean, nullable=False, default=False, server_default=false()),
)

login_failures = Table(  # append-only: the database refuses UPDATE and DELETE (migration 0005)
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("person_id", String(64), nullable=False),  # as typed (may name nobody)
    Column("address", String(64), nullable=False),  # the client's address
    Index(None, "person_id", "at"),
    Index(None, "address", "at"),
    Index(None, "at"),
)

access_log = Table(  # append-only: the database refuses UPDATE and DELETE (migration 0007)
    "access_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("reader", String(100), nullable=False),  # an actor id: a person, or apikey:<id>
    Column("reader_name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("door", String(16), nullable=False),  # api, dashboard, open311
    Column("case_id", String(32), nullable=False),
    Column("cell", String(20)),  # the case's cell when read: managers list within their scope
    Column("tier", String(16), nullable=False),  # the category's publication tier then
    Index(None, "case_id", "at"),
    Index(None, "reader", "at"),
    Index(None, "cell"),
)

reporter_contacts = Table(  # the reporter's callback contact (migration 0007), Fernet-encrypted
    "reporter_contacts",
    metadata,
    Column("case_id", String(32), ForeignKey("cases.case_id"), primary_key=True),
    Column("kind", String(8), nullable=False),  # phone or email
    Column("ciphertext", Text),  # NULL once erased
    Column("consent", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("erased_at", UTCDateTime),
    Index(None, "erased_at"),
)

# -- double-random inspections (双随机一公开) ----------------------------------------------

inspection_snapshots = Table(
    "inspection_snapshots",
    metadata,
    Column("snapshot_hash", String(64), primary_key=True),
    Column("kind", String(10), nullable=False),  # "registry" or "pool"
    Column("generation", Integer, nullable=False),  # the newest of a kind is the current one
    Column("rows", Integer, nullable=False),
    Column("source", String(300), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("content", LargeBinary, nullable=False),  # zlib-compressed canonical CSV
    CheckConstraint("kind IN ('registry', 'pool')", name="kind"),
    Index(None, "kind", "generation"),
)

inspection_plans = Table(
    "inspection_plans",
    metadata,
    Column("plan_id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("plan_hash", String(64), nullable=False, unique=True),
    Column("body", JSON, nullable=False),  # the plan's canonical JSON value
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(100), nullable=False),
)

inspection_draws = Table(
    "inspection_draws",
    metadata,
    Column("draw_id", String(40), primary_key=True),
    Column("plan_id", String(40), ForeignKey("inspection_plans.plan_id"), nullable=False),
    Column("commitment", String(64), nullable=False, unique=True),
    Column("registry_hash", String(64), nullable=False),
    Column("pool_hash", String(64), nullable=False),
    Column("state", String(12), nullable=False),  # committed, drawn, revealed
    Column("committed_at", UTCDateTime, nullable=False),
    Column("committed_by", String(100), nullable=False),
    Column("drawn_at", UTCDateTime),
    Column("result", JSON),
    Column("result_hash", String(64)),
    Column("seed", String(64)),  # revealed only after the draw
    Column("revealed_at", UTCDateTime),
    CheckConstraint("state IN ('committed', 'drawn', 'revealed')", name="state"),
    Index(None, "plan_id"),
)

inspection_visits = Table(
    "inspection_visits",
    metadata,
    Column("draw_id", String(40), ForeignKey("inspection_draws.draw_id"), primary_key=True),
    Column("visit_no", Integer, primary_key=True),
    Column("target_id", String(64), nullable=False),
    Column("cell", String(20), nullable=False),
    Column("tier1", String(20), nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("departments", Text, nullable=False),  # ";"-separated
    Column("officers", Text, nullable=False),  # ";"-separated officer ids
    Index(None, "draw_id", "tier1"),
    Index(None, "target_id"),
)

inspection_results = Table(
    "inspection_results",
    metadata,
    _id(),
    Column("draw_id", String(40), nullable=False),
    Column("visit_no", Integer, nullable=False),
    Column("department", String(64), nullable=False),
    Column("item", String(200), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("ledger_seq", BigInteger, ForeignKey("ledger.seq"), nullable=False, unique=True),
    Column("case_id", String(32)),  # the 整改 case a finding with issues opened (migration 0009)
    ForeignKeyConstraint(
        ["draw_id", "visit_no"], ["inspection_visits.draw_id", "inspection_visits.visit_no"]
    ),
    UniqueConstraint("draw_id", "visit_no", "department", "item"),
    Index(None, "case_id"),
)

# -- notifications: the transactional outbox (migration 0003) ---------------------------------

notifications = Table(
    "notifications",
    metadata,
    _id(),
    Column("case_id", String(32), ForeignKey("cases.case_id"), nullable=False),
    Column("recipient", String(100), nullable=False),  # a person id, or "command_center"
    Column("trigger", String(16), nullable=False),
    Column("dedup_key", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", JSON, nullable=False),
    Column("read_at", UTCDateTime),
    Index(None, "recipient", "id"),
    Index(None, "case_id"),
)

notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    _id(),
    Column("notification_id", Integer, ForeignKey("notifications.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(12), nullable=False),  # pending, delivered, skipped
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("delivered_at", UTCDateTime),
    # a node's claim (migration 0010): while ``lease_until`` is ahead, no other node sends it
    Column("claimed_by", String(100)),
    Column("lease_until", UTCDateTime),
    UniqueConstraint("notification_id", "channel"),
    Index(None, "status", "next_attempt_at"),
)

notification_attempts = Table(
    "notification_attempts",
    metadata,
    _id(),
    Column("delivery_id", Integer, ForeignKey("notification_deliveries.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", Text),
    Index(None, "delivery_id"),
)

reference_versions = Table(
    "reference_versions",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("checksum", String(64), nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)
"""A counter per kind of reference data (grid, roster, catalog; calendar from 0016), bumped in
the transaction that changes it, so every node can poll one small row to see a change (0010)."""

# -- the monthly assessment (考核) --------------------------------------------------------------

assessments = Table(  # append-only (migration 0011): a closed month never changes
    "assessments",
    metadata,
    Column("month", String(7), primary_key=True),  # YYYY-MM
    Column("version", Integer, primary_key=True),  # 1, then one more per corrected scorecard
    Column("closed_at", UTCDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("digest", String(64), nullable=False),  # SHA-256 of the canonical scorecard JSON
    Column("supersedes", Integer),  # the version this one corrects (an upheld appeal)
    Column("reason", Text),
    Column("body", JSON, nullable=False),  # the scorecard: config, rows, missed reports
    Column("ledger_seq", BigInteger, ForeignKey("ledger.seq"), nullable=False, unique=True),
)
missed_report_contests = Table(  # append-only (migration 0011): a worker's word stays recorded
    "missed_report_contests",
    metadata,
    _id(),
    Column("case_id", String(32), ForeignKey("cases.case_id"), nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("comment", Text, nullable=False),
    Column("ledger_seq", BigInteger, ForeignKey("ledger.seq"), nullable=False, unique=True),
    Column("client_id", String(64)),  # the sender's id: a resend records nothing twice
    Index(None, "case_id"),
    Index(None, "person_id", "client_id", unique=True),
)
assessment_appeals = Table(  # append-only (migration 0017): an appeal (申诉) of a closed month
    "assessment_appeals",
    metadata,
    Column("appeal_id", String(32), primary_key=True),  # AP202611-001
    Column("month", String(7), nullable=False),
    Column("version", Integer, nullable=False),  # the closed version appealed
    Column("level", String(16), nullable=False),  # worker, community, town
    Column("unit", String(64), nullable=False),  # a person id or a cell code
    Column("indicator", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("person_id", String(64), nullable=False),  # who appeals
    Column("filed_at", UTCDateTime, nullable=False),
    Column("decider_id", String(64), nullable=False),  # the manager it waits for
    Column("due_at", UTCDateTime, nullable=False),  # when it must be decided
    Column("client_id", String(64)),
    Column("ledger_seq", BigInteger, ForeignKey("ledger.seq"), nullable=False, unique=True),
    Index(None, "person_id", "client_id", unique=True),
)
assessment_appeal_decisions = Table(  # append-only (migration 0017): one decision an appeal
    "assessment_appeal_decisions",
    metadata,
    Column("appeal_id", String(32), ForeignKey("assessment_appeals.appeal_id"), primary_key=True),
    Column("upheld", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    Column("person_id", String(64), nullable=False),  # the manager who decided
    Column("decided_at", UTCDateTime, nullable=False),
    Column("new_version", Integer),  # the corrected scorecard an upheld appeal published
    Column("ledger_seq", BigInteger, ForeignKey("ledger.seq"), nullable=False, unique=True),
)

# Rate-limit counters shared by every node (migration 0016): one fixed window per key.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("expires_at", Float, nullable=False),  # the window's end, seconds since the epoch
    Column("count", Integer, nullable=False),
    Index(None, "expires_at"),
)
