"""The column types of the schema: aware times stored in UTC, geometries stored as PostGIS
``geometry(…, 4326)`` on PostgreSQL and WKB on SQLite, and the naming convention of constraints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import shapely
from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Column, DateTime, Dialect, Integer, LargeBinary, MetaData
from sqlalchemy.types import TypeDecorator, TypeEngine

from gridmgr.errors import TimeError

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC; read back aware (UTC). Naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise TimeError(f"{value.isoformat()} has no timezone; the store keeps aware times")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sqlite_time_text(value: datetime) -> str:
    """The text a :class:`UTCDateTime` column holds on SQLite for the aware time ``value``
    (UTC, SQLAlchemy's ``DATETIME`` format), for inserts that bypass SQLAlchemy's per-row
    processing."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise TimeError(f"{value.isoformat()} has no timezone; the store keeps aware times")
    # "YYYY-MM-DD HH:MM:SS.ffffff+00:00" without its offset (isoformat is C; a day of
    # simulated walks formats 100,000 of these)
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


class GeometryColumn(TypeDecorator[Any]):
    """A shapely geometry: PostGIS ``geometry(kind, 4326)`` on PostgreSQL, WKB on SQLite."""

    impl = LargeBinary
    cache_ok = True
    # what geoalchemy2's DDL hooks read off a column type: no separate index, typmod columns
    spatial_index = False
    use_typmod = None

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def load_dialect_impl(self, dialect: Dialect | None) -> TypeEngine[Any]:
        geometry = Geometry(self.kind, srid=4326, spatial_index=False)
        if dialect is None:  # geoalchemy2 asks without a dialect when it sorts spatial columns
            return geometry
        if dialect.name == "postgresql":
            return dialect.type_descriptor(geometry)
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        # WKB bytes are taken as they are: a batch of points is encoded in one vectorized call
        wkb = value if isinstance(value, bytes) else shapely.to_wkb(value)
        if dialect.name == "postgresql":
            return WKBElement(wkb, srid=4326)
        return wkb

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, WKBElement):
            data = value.data
            return shapely.from_wkb(bytes(data) if not isinstance(data, str) else data)
        return shapely.from_wkb(bytes(value) if isinstance(value, memoryview) else value)


metadata = MetaData(naming_convention=NAMING)
"""The one schema's tables (:mod:`gridmgr.store.schema` and :mod:`gridmgr.store.ledgertables`)."""


def id_column(name: str = "id") -> Column[int]:
    """An integer primary key the database numbers."""
    return Column(name, Integer, primary_key=True, autoincrement=True)
