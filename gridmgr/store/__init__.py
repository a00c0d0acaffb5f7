"""The store: cases, their events and the ledger in SQL (SQLite embedded, PostgreSQL at scale).

Every table is reached through one object, :class:`Store`, opened with :func:`open_store`; its
engine and connections never leave this package. Each area's methods live beside that area's
rows and queries, in a mixin: cases (:mod:`~gridmgr.store.casestore`,
:mod:`~gridmgr.store.caseevents`, the work queues and search of
:mod:`~gridmgr.store.casesearch`, the desk's invariant queries of
:mod:`~gridmgr.store.deskstore`), the ledger, intake, the notification outbox, attachments,
patrols, reference data, inspections, the monthly assessment and its appeals, accounts, failed
logins, API credentials, the access log, reporters' contacts, and the coordination of nodes
sharing the database (job locks). Every state change is one transaction that writes the
change and its ledger event together
(:meth:`Store.report`, :meth:`Store.apply`, :meth:`Store.record` …), so no caller can forget the
ledger and no crash can separate them.
"""

from __future__ import annotations

from gridmgr.errors import CaseNotFoundError, ConcurrentUpdateError, StoreError
from gridmgr.store.accesslog import AccessLogMethods, CaseRead
from gridmgr.store.accounts import Account, AccountMethods
from gridmgr.store.appealstore import (
    Appeal,
    AppealConflictError,
    AppealDecision,
    AppealMethods,
    AppealNotFoundError,
)
from gridmgr.store.assessstore import (
    AssessmentClosedError,
    AssessmentMethods,
    ClosedAssessment,
    Contest,
)
from gridmgr.store.attachments import AttachmentMethods, AttachmentRow
from gridmgr.store.caseevents import CaseEventMethods, TrailEntry, new_case_id
from gridmgr.store.casesearch import WORK_QUEUES, CaseRow, CaseSearchMethods, WorkQueue
from gridmgr.store.casestore import CaseFilter, CaseMethods, CaseStats, CellLoad
from gridmgr.store.contacts import ContactMethods, StoredContact
from gridmgr.store.coordination import CoordinationMethods, JobLock
from gridmgr.store.deskstore import DeskMethods, InvariantCount
from gridmgr.store.engine import check_engine, database_url, make_engine
from gridmgr.store.fieldstore import ClientRequest, FieldMethods
from gridmgr.store.inspectionstore import DrawRecord, InspectionMethods, PlanRecord, VisitRecord
from gridmgr.store.intakestore import IntakeInfo, IntakeMethods, IntakeReads
from gridmgr.store.ledgerstore import LedgerMethods, StoredVerification
from gridmgr.store.logins import LoginFailure, LoginMethods
from gridmgr.store.merklestore import ConsistencyProof, InclusionProof, MerkleMethods
from gridmgr.store.migrate import check_schema, upgrade
from gridmgr.store.outboxstore import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Notification,
    OutboxMethods,
)
from gridmgr.store.patrolstore import PatrolBatch, PatrolMethods
from gridmgr.store.ratelimits import RateLimitMethods
from gridmgr.store.reference import ReferenceMethods, StoredReference, SyncResult
from gridmgr.store.snapshotstore import SnapshotMark, SnapshotMethods, StateEvent
from gridmgr.store.statechanges import StateChangeMethods
from gridmgr.store.tokens import Credential, StoredCredential, TokenMethods

__all__ = [
    "WORK_QUEUES",
    "Account",
    "Appeal",
    "AppealConflictError",
    "AppealDecision",
    "AppealNotFoundError",
    "AssessmentClosedError",
    "AttachmentRow",
    "CaseFilter",
    "CaseNotFoundError",
    "CaseRead",
    "CaseRow",
    "CaseStats",
    "CellLoad",
    "ClientRequest",
    "ClosedAssessment",
    "ConcurrentUpdateError",
    "ConsistencyProof",
    "Contest",
    "Credential",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryStatus",
    "DrawRecord",
    "InclusionProof",
    "IntakeInfo",
    "IntakeReads",
    "InvariantCount",
    "JobLock",
    "LoginFailure",
    "Notification",
    "PatrolBatch",
    "PlanRecord",
    "SnapshotMark",
    "StateEvent",
    "Store",
    "StoreError",
    "StoredContact",
    "StoredCredential",
    "StoredReference",
    "StoredVerification",
    "SyncResult",
    "TrailEntry",
    "VisitRecord",
    "WorkQueue",
    "database_url",
    "new_case_id",
    "open_store",
]


class Store(
    CaseEventMethods,
    CaseMethods,
    DeskMethods,
    CaseSearchMethods,
    LedgerMethods,
    MerkleMethods,
    IntakeMethods,
    OutboxMethods,
    AttachmentMethods,
    PatrolMethods,
    ReferenceMethods,
    InspectionMethods,
    AccountMethods,
    LoginMethods,
    TokenMethods,
    AccessLogMethods,
    StateChangeMethods,
    SnapshotMethods,
    ContactMethods,
    CoordinationMethods,
    RateLimitMethods,
    AssessmentMethods,
    FieldMethods,
    AppealMethods,
):
    """Every table of one database, behind methods; built by :func:`open_store`.

    The methods come from one mixin per area of the store (see the module docstring); all share
    the engine and the transactions of :class:`gridmgr.store.transactions.StoreBase`.
    """


def open_store(url: str, *, create: bool = False, check: bool = True) -> Store:
    """Open the database at ``url`` (see :func:`database_url`).

    ``create`` creates or upgrades the schema; otherwise the schema must be current. ``check``
    refuses unsafe durability settings (:func:`gridmgr.store.engine.check_engine`).
    """
    engine = make_engine(url)
    try:
        if check:
            check_engine(engine)
        if create:
            upgrade(engine)
        check_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)
