"""Settings: one immutable value built at the entry point and passed to every factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from gridmgr.errors import GridMgrError


class SettingsError(GridMgrError, ValueError):
    """A setting has a value gridmgr cannot use."""


@dataclass(frozen=True)
class Settings:
    """Where gridmgr keeps its data and how it serves.

    Built from the environment by :meth:`from_env`; ``GRIDMGR_DATA_DIR``, ``GRIDMGR_HOST`` and
    ``GRIDMGR_PORT`` override the defaults.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8050

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``env`` (default: ``os.environ``), then explicit ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "data_dir": Path(env.get("GRIDMGR_DATA_DIR") or platformdirs.user_data_dir("gridmgr")),
            "host": env.get("GRIDMGR_HOST", "127.0.0.1"),
            "port": env.get("GRIDMGR_PORT", "8050"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            port = int(str(values["port"]))
        except ValueError:
            raise SettingsError(f"port must be a number, got {values['port']!r}") from None
        if not 0 < port < 65536:
            raise SettingsError(f"port must be 1..65535, got {port}")
        return cls(
            data_dir=Path(str(values["data_dir"])).expanduser(), host=str(values["host"]), port=port
        )

    @property
    def grids_dir(self) -> Path:
        """Where imported grid generations are kept, one GeoPackage each."""
        return self.data_dir / "grids"
