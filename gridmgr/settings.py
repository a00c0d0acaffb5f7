"""Settings: one immutable value built at the entry point and passed to every factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from gridmgr.errors import GridMgrError

DEFAULT_WORKING_HOURS = "08:30-12:00,13:30-17:30"


class SettingsError(GridMgrError, ValueError):
    """A setting has a value gridmgr cannot use."""


@dataclass(frozen=True)
class Settings:
    """Where gridmgr keeps its data and how it serves.

    Built from the environment by :meth:`from_env`; ``GRIDMGR_DATA_DIR``, ``GRIDMGR_HOST``,
    ``GRIDMGR_PORT`` and ``GRIDMGR_WORKING_HOURS`` (e.g. ``08:30-12:00,13:30-17:30``, the
    default) override the defaults.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8050
    working_hours: str = DEFAULT_WORKING_HOURS
    demo: bool = True
    """Demo mode (``GRIDMGR_DEMO``, default on): a generated session key is acceptable."""
    secure_cookies: bool = False
    """Session cookies only over HTTPS (``GRIDMGR_SECURE_COOKIES``; turn on behind TLS)."""
    rate_limit_token: str = "6000 per minute"
    """Requests one API token may make (``GRIDMGR_RATE_LIMIT_TOKEN``; flask-limiter syntax)."""
    rate_limit_ip: str = "20000 per minute"
    """Requests one client address may make, whatever its tokens (``GRIDMGR_RATE_LIMIT_IP``)."""
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``env`` (default: ``os.environ``), then explicit ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "data_dir": Path(env.get("GRIDMGR_DATA_DIR") or platformdirs.user_data_dir("gridmgr")),
            "host": env.get("GRIDMGR_HOST", "127.0.0.1"),
            "port": env.get("GRIDMGR_PORT", "8050"),
            "working_hours": env.get("GRIDMGR_WORKING_HOURS", DEFAULT_WORKING_HOURS),
            "demo": env.get("GRIDMGR_DEMO", "1"),
            "secure_cookies": env.get("GRIDMGR_SECURE_COOKIES", "0"),
            "rate_limit_token": env.get("GRIDMGR_RATE_LIMIT_TOKEN", "6000 per minute"),
            "rate_limit_ip": env.get("GRIDMGR_RATE_LIMIT_IP", "20000 per minute"),
            "tile_url": env.get("GRIDMGR_TILE_URL") or None,
            "simulate": env.get("GRIDMGR_SIMULATE") or None,
            "simulate_speed": env.get("GRIDMGR_SIMULATE_SPEED", "1"),
            "auto_merge_score": env.get("GRIDMGR_AUTO_MERGE_SCORE") or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            port = int(str(values["port"]))
        except ValueError:
            raise SettingsError(f"port must be a number, got {values['port']!r}") from None
        if not 0 < port < 65536:
            raise SettingsError(f"port must be 1..65535, got {port}")
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
        return cls(
            data_dir=Path(str(values["data_dir"])).expanduser(),
            host=str(values["host"]),
            port=port,
            working_hours=hours,
            demo=_flag(values["demo"], "GRIDMGR_DEMO"),
            secure_cookies=_flag(values["secure_cookies"], "GRIDMGR_SECURE_COOKIES"),
            rate_limit_token=_rate(values["rate_limit_token"], "GRIDMGR_RATE_LIMIT_TOKEN"),
            rate_limit_ip=_rate(values["rate_limit_ip"], "GRIDMGR_RATE_LIMIT_IP"),
            tile_url=_tile_url(values.get("tile_url")),
            simulate=None if simulate is None else _flag(simulate, "GRIDMGR_SIMULATE"),
            simulate_speed=speed,
            auto_merge_score=_score(values.get("auto_merge_score")),
        )

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
    def calendar_overrides_path(self) -> Path:
        """A city's own calendar overrides, merged over the shipped ones."""
        return self.data_dir / "calendar-overrides.csv"


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
