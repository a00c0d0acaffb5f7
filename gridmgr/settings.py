"""Settings: one immutable value built at the entry point and passed to every factory."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import platformdirs

from gridmgr.errors import GridMgrError
from gridmgr.responsibility.sla import Span, parse_spans

DEFAULT_WORKING_HOURS = "08:30-12:00,13:30-17:30"


class SettingsError(GridMgrError, ValueError):
    """A setting has a value gridmgr cannot use."""


MIN_WEBHOOK_SECRET_LENGTH = 16
MIN_LEASE_S, MAX_LEASE_S = 10.0, 3600.0
"""The range of ``GRIDMGR_DELIVERY_LEASE_S``: above two channel timeouts, below an hour."""


@dataclass(frozen=True)
class WebhookSettings:
    """Where notices are POSTed as signed JSON (``GRIDMGR_WEBHOOK_URL``), and the secret that signs
    them (``GRIDMGR_WEBHOOK_SECRET``, at least 16 characters; kept out of repr)."""

    url: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise SettingsError(
                f"GRIDMGR_WEBHOOK_URL={self.url!r} must start with http:// or https://"
            )
        if len(self.secret) < MIN_WEBHOOK_SECRET_LENGTH:
            raise SettingsError(
                f"the webhook secret must have at least {MIN_WEBHOOK_SECRET_LENGTH} characters "
                f"(GRIDMGR_WEBHOOK_SECRET, required with GRIDMGR_WEBHOOK_URL); it has "
                f"{len(self.secret)}"
            )


@dataclass(frozen=True)
class SmtpSettings:
    """The SMTP server notices are e-mailed through (``GRIDMGR_SMTP_HOST``, ``GRIDMGR_SMTP_PORT``
    (25), ``GRIDMGR_SMTP_FROM``, ``GRIDMGR_SMTP_TO`` (a template with ``{person_id}``), optional
    ``GRIDMGR_SMTP_USER`` / ``GRIDMGR_SMTP_PASSWORD``, ``GRIDMGR_SMTP_STARTTLS``)."""

    host: str
    sender: str
    to: str
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False

    def __post_init__(self) -> None:
        if not self.sender or "{person_id}" not in self.to:
            raise SettingsError(
                "with GRIDMGR_SMTP_HOST set GRIDMGR_SMTP_FROM (the sender) and GRIDMGR_SMTP_TO, "
                "a template such as {person_id}@notify.example.cn"
            )
        _port(self.port, "GRIDMGR_SMTP_PORT")


@dataclass(frozen=True)
class DeliverySettings:
    """The external channels notices are delivered to; none by default (in-app notices only)."""

    webhook: WebhookSettings | None = None
    smtp: SmtpSettings | None = None
    lease_s: float = 120.0
    """How long a node's claim on a delivery lasts (``GRIDMGR_DELIVERY_LEASE_S``, seconds,
    default 120): a node that dies mid-pass lets go of its unsent deliveries after it. Shorter
    hands them over sooner; a pass stops sending at half its lease, so it must outlast a few
    channel timeouts (at least 10 s)."""

    def __post_init__(self) -> None:
        if not MIN_LEASE_S <= self.lease_s <= MAX_LEASE_S:
            raise SettingsError(
                f"GRIDMGR_DELIVERY_LEASE_S must be {MIN_LEASE_S:g}..{MAX_LEASE_S:g} seconds, "
                f"got {self.lease_s:g}"
            )


@dataclass(frozen=True)
class Settings:
    """Where gridmgr keeps its data and how it serves.

    Built once from the environment by :meth:`from_env` (the only place gridmgr reads it);
    ``GRIDMGR_DATA_DIR``, ``GRIDMGR_HOST``, ``GRIDMGR_PORT`` and ``GRIDMGR_WORKING_HOURS`` (e.g.
    ``08:30-12:00,13:30-17:30``, the default) override the defaults; the other variables are
    named with their fields.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8050
    working_hours: str = DEFAULT_WORKING_HOURS
    demo: bool = True
    """Demo mode (``GRIDMGR_DEMO``, default on): a generated session key is acceptable."""
    secure_cookies: bool = False
    """Session cookies only over HTTPS (``GRIDMGR_SECURE_COOKIES``; turn on behind TLS)."""
    trusted_proxy: str | None = None
    """The address of the reverse proxy in front of this node (``GRIDMGR_TRUSTED_PROXY``, e.g.
    nginx's ``10.0.0.5``): requests from it are taken to come from the client its
    ``X-Forwarded-For`` names, over the scheme its ``X-Forwarded-Proto`` names, so per-address
    limits, the login throttle and the records of reads see clients, not the proxy. Unset: the
    headers are ignored (anyone could send them)."""
    rate_limit_token: str = "6000 per minute"
    """Requests one API token may make (``GRIDMGR_RATE_LIMIT_TOKEN``; flask-limiter syntax)."""
    rate_limit_ip: str = "20000 per minute"
    """Requests one client address may make, whatever its tokens (``GRIDMGR_RATE_LIMIT_IP``)."""
    rate_limit_api_key: str = "600 per minute"
    """Open311 reports (``POST requests``) one partner ``api_key`` may send, from whatever
    addresses (``GRIDMGR_RATE_LIMIT_API_KEY``); the address limit applies as well."""
    rate_limit_storage: str | None = None
    """Where the rate limits are counted (``GRIDMGR_RATE_LIMIT_STORAGE``): ``database`` (shared
    by every node and worker), ``memory`` (each process its own); ``None``: the database on
    PostgreSQL, memory on SQLite."""
    full_verify_hours: float = 24.0
    """Hours between two end-to-end verifications of the ledger (``GRIDMGR_FULL_VERIFY_HOURS``);
    in between, each pass verifies only the new events."""
    simulate: bool | None = None
    """Run the demo simulator in ``serve`` (``GRIDMGR_SIMULATE``); ``None``: in demo mode on a
    new database, or one the simulator made."""
    simulate_speed: float = 1.0
    """The demo simulator's speed factor (``GRIDMGR_SIMULATE_SPEED``)."""
    auto_merge_score: float | None = None
    """Merge a new report into its best probable duplicate automatically when the score is at
    least this (``GRIDMGR_AUTO_MERGE_SCORE``, 0 < s ≤ 1); unset (the default): never, only
    suggest."""
    tile_url: str | None = None
    """A raster tile URL for the dashboard's basemap (``GRIDMGR_TILE_URL``, with ``{z}``,
    ``{x}``, ``{y}``); unset, the map shows only our own layers and needs no internet."""
    db: str | None = field(default=None, repr=False)
    """The database (``GRIDMGR_DB``): a SQLite file or a SQLAlchemy URL; unset, ``gridmgr.sqlite``
    in the data folder. A command's ``--db`` wins over it. Kept out of repr (a URL may hold a
    password)."""
    secret_key: str | None = field(default=None, repr=False)
    """The key that signs session cookies (``GRIDMGR_SECRET_KEY``); unset, demo mode keeps a
    generated one in the data folder and ``serve --no-demo`` refuses to start."""
    due_within_hours: float = 2.0
    """Working hours before a stage's deadline at which its assignee is warned
    (``GRIDMGR_NOTIFY_DUE_WITHIN_HOURS``, default 2; 0: never)."""
    ladder_spans: str = "2h,4h,1d"
    """How long each rung of the 督办 ladder gives its person, in working time
    (``GRIDMGR_LADDER_SPANS``: the first rung, the second, …; the last serves every higher
    rung)."""
    digest_days: int = 3
    """A leader's daily digest lists the open cases in his scope untouched for this many working
    days (``GRIDMGR_DIGEST_DAYS``)."""
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    """The webhook and e-mail channels notices are delivered to (``GRIDMGR_WEBHOOK_*``,
    ``GRIDMGR_SMTP_*``; see :class:`WebhookSettings`, :class:`SmtpSettings`)."""
    contact_key: str | None = field(default=None, repr=False)
    """The Fernet key (``GRIDMGR_CONTACT_KEY``: 32 bytes, URL-safe base64) that encrypts the
    reporters' callback contacts at rest; unset, no contact is kept. Kept out of repr."""
    signing_key: str | None = field(default=None, repr=False)
    """The Ed25519 key that signs the ledger's tree heads (``GRIDMGR_SIGNING_KEY``): a PEM file's
    path, or the 32-byte private key in base64; unset, demo mode keeps a generated one in the data
    folder and outside demo mode `gridmgr ledger checkpoint` refuses to sign. Kept out of repr."""
    checkpoint_minutes: float = 15.0
    """Minutes between the scheduled checkpoints (``GRIDMGR_CHECKPOINT_MINUTES``, default 15; 0:
    none): one node signs a tree head when the ledger grew, and keeps the Merkle cache warm."""
    contact_retention_days: int = 90
    """Days after a case closes before its reporter's contact is erased
    (``GRIDMGR_CONTACT_RETENTION_DAYS``, default 90)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``env`` (default: ``os.environ``), then explicit ``overrides`` (``None``
        values are ignored); :class:`SettingsError` names a bad value and how to fix it."""
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "data_dir": Path(env.get("GRIDMGR_DATA_DIR") or platformdirs.user_data_dir("gridmgr")),
            "host": env.get("GRIDMGR_HOST", "127.0.0.1"),
            "port": env.get("GRIDMGR_PORT", "8050"),
            "working_hours": env.get("GRIDMGR_WORKING_HOURS", DEFAULT_WORKING_HOURS),
            "demo": env.get("GRIDMGR_DEMO", "1"),
            "secure_cookies": env.get("GRIDMGR_SECURE_COOKIES", "0"),
            "trusted_proxy": env.get("GRIDMGR_TRUSTED_PROXY", "").strip() or None,
            "rate_limit_token": env.get("GRIDMGR_RATE_LIMIT_TOKEN", "6000 per minute"),
            "rate_limit_ip": env.get("GRIDMGR_RATE_LIMIT_IP", "20000 per minute"),
            "rate_limit_api_key": env.get("GRIDMGR_RATE_LIMIT_API_KEY", "600 per minute"),
            "rate_limit_storage": env.get("GRIDMGR_RATE_LIMIT_STORAGE") or None,
            "full_verify_hours": env.get("GRIDMGR_FULL_VERIFY_HOURS", "24"),
            "tile_url": env.get("GRIDMGR_TILE_URL") or None,
            "simulate": env.get("GRIDMGR_SIMULATE") or None,
            "simulate_speed": env.get("GRIDMGR_SIMULATE_SPEED", "1"),
            "auto_merge_score": env.get("GRIDMGR_AUTO_MERGE_SCORE") or None,
            "db": env.get("GRIDMGR_DB", "").strip() or None,
            "secret_key": env.get("GRIDMGR_SECRET_KEY", "").strip() or None,
            "due_within_hours": env.get("GRIDMGR_NOTIFY_DUE_WITHIN_HOURS", "2"),
            "ladder_spans": env.get("GRIDMGR_LADDER_SPANS", "2h,4h,1d"),
            "digest_days": env.get("GRIDMGR_DIGEST_DAYS", "3"),
            "delivery": _delivery(env),
            "contact_key": env.get("GRIDMGR_CONTACT_KEY", "").strip() or None,
            "contact_retention_days": env.get("GRIDMGR_CONTACT_RETENTION_DAYS", "90"),
            "signing_key": env.get("GRIDMGR_SIGNING_KEY", "").strip() or None,
            "checkpoint_minutes": env.get("GRIDMGR_CHECKPOINT_MINUTES", "15"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls._checked(values)

    def with_overrides(self, **overrides: object) -> Settings:
        """These settings with ``overrides`` (a command's options; ``None`` keeps the value),
        checked as :meth:`from_env` checks the environment.

        >>> Settings(data_dir=Path("/d")).with_overrides(port=8080, host=None).port
        8080
        """
        values: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return type(self)._checked(values)

    @classmethod
    def _checked(cls, values: Mapping[str, object]) -> Settings:
        """Settings from raw ``values`` (text from the environment, or typed), each checked."""
        port = _port(values["port"], "port")
        try:
            speed = float(str(values["simulate_speed"]))
        except ValueError:
            speed = float("nan")
        if not (0 < speed < 1e6):
            got = values["simulate_speed"]
            raise SettingsError(f"GRIDMGR_SIMULATE_SPEED must be a positive number, got {got!r}")
        simulate = values.get("simulate")
        from gridmgr.responsibility.calendar import parse_working_hours

        try:
            hours = str(parse_working_hours(str(values["working_hours"])))
        except GridMgrError as exc:
            raise SettingsError(f"GRIDMGR_WORKING_HOURS: {exc}") from None
        delivery = values.get("delivery") or DeliverySettings()
        if not isinstance(delivery, DeliverySettings):
            raise SettingsError(f"delivery must be DeliverySettings, got {type(delivery).__name__}")
        db, secret_key = values.get("db"), values.get("secret_key")
        return cls(
            data_dir=Path(str(values["data_dir"])).expanduser(),
            host=str(values["host"]),
            port=port,
            working_hours=hours,
            demo=_flag(values["demo"], "GRIDMGR_DEMO"),
            secure_cookies=_flag(values["secure_cookies"], "GRIDMGR_SECURE_COOKIES"),
            trusted_proxy=_proxy(values.get("trusted_proxy")),
            rate_limit_token=_rate(values["rate_limit_token"], "GRIDMGR_RATE_LIMIT_TOKEN"),
            rate_limit_ip=_rate(values["rate_limit_ip"], "GRIDMGR_RATE_LIMIT_IP"),
            rate_limit_api_key=_rate(
                values.get("rate_limit_api_key", "600 per minute"), "GRIDMGR_RATE_LIMIT_API_KEY"
            ),
            rate_limit_storage=_limit_storage(values.get("rate_limit_storage")),
            full_verify_hours=_full_verify_hours(values.get("full_verify_hours", 24.0)),
            tile_url=_tile_url(values.get("tile_url")),
            simulate=None if simulate is None else _flag(simulate, "GRIDMGR_SIMULATE"),
            simulate_speed=speed,
            auto_merge_score=_score(values.get("auto_merge_score")),
            db=None if db is None else str(db),
            secret_key=None if secret_key is None else str(secret_key),
            due_within_hours=_due_within(values.get("due_within_hours", 2.0)),
            ladder_spans=_ladder(values.get("ladder_spans", "2h,4h,1d")),
            digest_days=_digest_days(values.get("digest_days", 3)),
            delivery=delivery,
            contact_key=_contact_key(values.get("contact_key")),
            contact_retention_days=_retention(values.get("contact_retention_days", 90)),
            signing_key=None if values.get("signing_key") is None else str(values["signing_key"]),
            checkpoint_minutes=_checkpoint_minutes(values.get("checkpoint_minutes", 15.0)),
        )

    @property
    def ladder(self) -> tuple[Span, ...]:
        """The 督办 ladder's rung spans (:attr:`ladder_spans`, parsed)."""
        return parse_spans(self.ladder_spans)

    @property
    def grids_dir(self) -> Path:
        """Where imported grid generations are kept, one GeoPackage each."""
        return self.data_dir / "grids"

    @property
    def roster_dir(self) -> Path:
        """Where the current roster's CSV files are kept."""
        return self.data_dir / "roster"

    @property
    def catalog_path(self) -> Path:
        """A city's own matter catalog; when absent, the shipped one is used."""
        return self.data_dir / "catalog.csv"

    @property
    def powers_dir(self) -> Path:
        """A city's own power catalog (powers.csv, devolution.csv); when absent, the shipped one."""
        return self.data_dir / "powers"

    @property
    def calendar_overrides_path(self) -> Path:
        """A city's own calendar overrides, merged over the shipped ones."""
        return self.data_dir / "calendar-overrides.csv"


def _proxy(value: object) -> str | None:
    """A checked ``GRIDMGR_TRUSTED_PROXY``: one IP address (``None`` when unset).

    >>> _proxy("10.0.0.5"), _proxy(None)
    ('10.0.0.5', None)
    """
    if value is None or not str(value).strip():
        return None
    import ipaddress

    text = str(value).strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise SettingsError(
            f"GRIDMGR_TRUSTED_PROXY must be the reverse proxy's IP address, e.g. 10.0.0.5; "
            f"got {text!r}"
        ) from None


def _contact_key(value: object) -> str | None:
    """A Fernet key: 32 bytes in URL-safe base64 (44 characters).

    >>> _contact_key(None) is None, len(_contact_key("A" * 43 + "=") or "")
    (True, 44)
    """
    if value is None:
        return None
    text = str(value).strip()
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        raise SettingsError(
            "GRIDMGR_CONTACT_KEY must be a Fernet key (32 bytes, URL-safe base64), e.g. the "
            "output of `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`"
        )
    return text


def _retention(value: object) -> int:
    try:
        days = int(str(value))
    except ValueError:
        days = 0
    if not 1 <= days <= 3650:
        raise SettingsError(
            f"GRIDMGR_CONTACT_RETENTION_DAYS must be a whole number of days from 1 to 3650, "
            f"got {value!r}"
        )
    return days


def _score(value: object) -> float | None:
    """A checked ``GRIDMGR_AUTO_MERGE_SCORE`` (``None`` when unset).

    >>> _score("0.9"), _score(None)
    (0.9, None)
    """
    if value is None or not str(value).strip():
        return None
    try:
        score = float(str(value))
    except ValueError:
        score = float("nan")
    if not 0 < score <= 1:
        raise SettingsError(
            f"GRIDMGR_AUTO_MERGE_SCORE must be a score in (0, 1], e.g. 0.9; got {value!r}"
        )
    return score


def _rate(value: object, name: str) -> str:
    """A rate limit in flask-limiter's syntax ("600 per minute", "10/second"), checked."""
    from limits import parse_many

    text = str(value)
    try:
        parse_many(text)
    except ValueError:
        raise SettingsError(
            f"{name}={text!r} is not a rate limit; write e.g. '600 per minute' or '10/second'"
        ) from None
    return text


def _flag(value: object, name: str) -> bool:
    """An on/off setting: 1/true/yes/on or 0/false/no/off; anything else is refused."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={value!r}: write 1 or 0 (also true/false, yes/no, on/off)")


def _tile_url(value: object) -> str | None:
    """A checked ``GRIDMGR_TILE_URL`` (``None`` when unset).

    >>> _tile_url("https://tiles.example/{z}/{x}/{y}.png")
    'https://tiles.example/{z}/{x}/{y}.png'
    >>> _tile_url("ftp://x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gridmgr.settings.SettingsError: GRIDMGR_TILE_URL must be an http(s) URL ...; got 'ftp://x'
    """
    if value is None or not str(value).strip():
        return None
    url = str(value).strip()
    if not url.startswith(("https://", "http://")) or not all(
        k in url for k in ("{z}", "{x}", "{y}")
    ):
        raise SettingsError(
            "GRIDMGR_TILE_URL must be an http(s) URL with {z}, {x} and {y}, e.g. "
            f"https://tile.example.org/{{z}}/{{x}}/{{y}}.png; got {url!r}"
        )
    return url


def _port(value: object, name: str) -> int:
    """A checked TCP port.

    >>> _port("8050", "port")
    8050
    >>> _port("0", "GRIDMGR_SMTP_PORT")
    Traceback (most recent call last):
    ...
    gridmgr.settings.SettingsError: GRIDMGR_SMTP_PORT must be 1..65535, got 0
    """
    try:
        port = int(str(value))
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {value!r}") from None
    if not 0 < port < 65536:
        raise SettingsError(f"{name} must be 1..65535, got {port}")
    return port


def _due_within(value: object) -> float:
    """A checked ``GRIDMGR_NOTIFY_DUE_WITHIN_HOURS``: working hours, 0 for never.

    >>> _due_within("2"), _due_within("0"), _due_within(1.5)
    (2.0, 0.0, 1.5)
    """
    try:
        hours = float(str(value))
    except ValueError:
        hours = float("nan")
    if not 0 <= hours < 1e6:
        raise SettingsError(
            "GRIDMGR_NOTIFY_DUE_WITHIN_HOURS must be a number of working hours, e.g. 2 "
            f"(0: never warn); got {value!r}"
        )
    return hours


def _delivery(env: Mapping[str, str]) -> DeliverySettings:
    """The notification channels ``env`` configures (``GRIDMGR_WEBHOOK_*``, ``GRIDMGR_SMTP_*``).

    >>> _delivery({})
    DeliverySettings(webhook=None, smtp=None, lease_s=120.0)
    >>> _delivery({"GRIDMGR_SMTP_HOST": "mail", "GRIDMGR_SMTP_FROM": "gm@x.cn",
    ...            "GRIDMGR_SMTP_TO": "{person_id}@x.cn"}).smtp.port
    25
    """
    webhook = None
    url = env.get("GRIDMGR_WEBHOOK_URL", "").strip()
    if url:
        webhook = WebhookSettings(url, env.get("GRIDMGR_WEBHOOK_SECRET", ""))
    smtp = None
    host = env.get("GRIDMGR_SMTP_HOST", "").strip()
    if host:
        smtp = SmtpSettings(
            host,
            env.get("GRIDMGR_SMTP_FROM", "").strip(),
            env.get("GRIDMGR_SMTP_TO", "").strip(),
            port=_port(env.get("GRIDMGR_SMTP_PORT", "25"), "GRIDMGR_SMTP_PORT"),
            username=env.get("GRIDMGR_SMTP_USER") or None,
            password=env.get("GRIDMGR_SMTP_PASSWORD") or None,
            starttls=_flag(env.get("GRIDMGR_SMTP_STARTTLS", "0"), "GRIDMGR_SMTP_STARTTLS"),
        )
    text = env.get("GRIDMGR_DELIVERY_LEASE_S", "120")
    try:
        lease = float(text)
    except ValueError:
        raise SettingsError(
            f"GRIDMGR_DELIVERY_LEASE_S must be a number of seconds, e.g. 120; got {text!r}"
        ) from None
    return DeliverySettings(webhook, smtp, lease_s=lease)


def _ladder(value: object) -> str:
    try:
        return ",".join(str(span) for span in parse_spans(str(value)))
    except GridMgrError as exc:
        raise SettingsError(f"GRIDMGR_LADDER_SPANS: {exc}") from None


def _checkpoint_minutes(value: object) -> float:
    try:
        minutes = float(str(value))
    except ValueError:
        minutes = float("nan")
    if not 0 <= minutes <= 10_080:
        raise SettingsError(
            "GRIDMGR_CHECKPOINT_MINUTES must be minutes between signed tree heads, 0 (none) to "
            f"10080 (a week), got {value!r}"
        )
    return minutes


def _digest_days(value: object) -> int:
    try:
        days = int(str(value))
    except ValueError:
        days = 0
    if not 1 <= days <= 365:
        raise SettingsError(
            f"GRIDMGR_DIGEST_DAYS must be a whole number of working days 1..365, got {value!r}"
        )
    return days


def _limit_storage(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    if text not in ("database", "memory"):
        raise SettingsError(
            f"GRIDMGR_RATE_LIMIT_STORAGE must be database or memory, got {value!r}; leave it "
            "unset for the database on PostgreSQL and memory on SQLite"
        )
    return text


def _full_verify_hours(value: object) -> float:
    try:
        hours = float(str(value))
    except ValueError:
        hours = 0.0
    if not 0 < hours <= 24 * 31:
        raise SettingsError(
            f"GRIDMGR_FULL_VERIFY_HOURS must be a number of hours above 0, at most 744 (31 "
            f"days), got {value!r}"
        )
    return hours
