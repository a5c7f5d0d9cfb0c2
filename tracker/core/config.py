"""Settings, layered: defaults < TOML file < environment < command-line overrides."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import platformdirs

from tracker.core.clock import parse_instant, zone
from tracker.core.errors import ConfigError, InvalidInput
from tracker.core.rules import shown


def default_db_url() -> str:
    path = Path(platformdirs.user_data_dir("tracker")) / "tracker.db"
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class Settings:
    """Every setting, declared once. Environment names are TRACKER_<NAME upper-cased>."""

    db: str = ""
    tz: str = ""
    now: str | None = None
    base_url: str = ""  # none set: tracker.core.addresses falls back to where `tracker serve` last listened
    refresh: str = "PT1H"
    feed_gzip: bool = False
    secret: str | None = None
    catchup_grace_hours: int = 48
    link_days: int = 30
    header_timeout: int = 10  # seconds for a client to send a request head (README "Slow and idle clients")
    body_timeout: int = 30
    keepalive_timeout: int = 5
    max_connections: int = 4096
    send_timeout: int = 30
    worker_lease: int = 30  # seconds a sender stays "alive" without renewing (README "Several workers")
    channels: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.tz)


def load_settings(
    environ: dict[str, str] | None = None, path: str | None = None, overrides: dict | None = None
) -> Settings:
    """Build Settings from defaults, the TOML file at `path`, `environ`, then `overrides` (non-None only)."""
    import tzlocal

    environ = os.environ if environ is None else environ
    values: dict = {"db": default_db_url(), "tz": environ.get("TZ") or tzlocal.get_localzone_name()}
    values.update(_layers(environ, path, overrides))
    settings = replace(Settings(), **{k: _coerce(k, v) for k, v in values.items()})
    origin = partial(_origin, path=path, environ=environ, overrides=overrides or {})
    try:
        settings.zone  # noqa: B018 - validate the zone name once, up front
    except InvalidInput as e:
        raise ConfigError(f"{origin('tz')}: {e}") from None
    if settings.now:  # checked here, so that the error names where the bad instant came from
        try:
            parse_instant(settings.now, settings.zone)
        except InvalidInput as e:
            raise ConfigError(f"{origin('now')}: {e}") from None
    if settings.refresh != Settings.refresh:  # the default is valid; checking it would cost every command icalendar
        refresh_interval(settings)
    return settings


def _layers(environ: Mapping[str, str], path: str | None, overrides: dict | None) -> dict:
    """The values the TOML file, the environment and the overrides give, each layer over the one before."""
    names = {f.name for f in fields(Settings)} - {"channels"}
    values = _read_toml(Path(path), names) if path else {}
    values.update({n: environ[f"TRACKER_{n.upper()}"] for n in names if f"TRACKER_{n.upper()}" in environ})
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return values


def db_url(environ: Mapping[str, str] | None = None, path: str | None = None, override: str | None = None) -> str:
    """The database URL load_settings would give, without the rest of the settings (shell completion needs
    only this, and fast). :raises ConfigError: as load_settings for the TOML file or the URL's type."""
    values = _layers(os.environ if environ is None else environ, path, {"db": override})
    return _coerce("db", values["db"]) if "db" in values else default_db_url()


def _origin(name: str, path: str | None, environ: Mapping[str, str], overrides: dict) -> str:
    """Where the value of setting `name` came from, as the user gave it: the option, the variable or the file."""
    if overrides.get(name) is not None:
        return f"--{name}"
    if f"TRACKER_{name.upper()}" in environ:
        return f"TRACKER_{name.upper()}"
    return f"{path}: {name}" if path else f"setting {name}"


RANGES = {
    "catchup_grace_hours": (0, 24 * 365),
    "link_days": (1, 365),
    "header_timeout": (1, 3600),
    "body_timeout": (1, 3600),
    "keepalive_timeout": (1, 3600),
    "max_connections": (16, 1_000_000),
    "send_timeout": (1, 3600),
    "worker_lease": (2, 3600),
}


def with_options(settings: Settings, **options: object) -> Settings:
    """`settings` with a command's own options that are settings too (serve --base-url), each checked by the
    rule every layer meets; an option of None leaves its setting as it is.
    :raises ConfigError: naming the option."""
    checked = {name: _coerce(name, value, f"--{name.replace('_', '-')}") for name, value in options.items()
               if value is not None}  # fmt: skip
    return replace(settings, **checked)


def _coerce(name: str, value: object, where: str = "") -> object:
    """Environment values arrive as text; booleans are spelled 1/0, true/false, yes/no, on/off. Every value
    ends up of its setting's type (and whole numbers in their range), whichever layer gave it; an error names
    `where` it came from (default: the setting)."""
    where = where or f"setting {name}"
    default = getattr(Settings, name, None)
    if name == "channels":
        return value
    if isinstance(default, bool):
        lowered = str(value).strip().lower()
        if not isinstance(value, bool) and lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(f"{where}: expected true or false, not {shown(value)}")
        return value if isinstance(value, bool) else lowered in ("1", "true", "yes", "on")
    if isinstance(default, int):
        low, high = RANGES[name]
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"{where}: expected a whole number from {low} to {high}, not {shown(value)}")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected text, not {shown(value)}")
    if name == "base_url" and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        raise ConfigError(f"{where}: an http:// or https:// URL, not {shown(value)}")
    return value


def refresh_interval(settings: Settings) -> timedelta:
    """The REFRESH-INTERVAL / X-PUBLISHED-TTL of every feed."""
    from icalendar.prop import vDuration  # only to read this one setting: icalendar costs more than the rest

    try:
        value = vDuration.from_ical(settings.refresh)
    except ValueError:
        raise ConfigError(f"setting refresh: not an ISO-8601 duration: {shown(settings.refresh)} (e.g. PT1H)") from None
    if not timedelta(minutes=1) <= value <= timedelta(days=7):
        raise ConfigError("setting refresh: from one minute (PT1M) to a week (P7D)")
    return value


def _read_toml(path: Path, names: set[str]) -> dict:
    if path.exists() and not path.is_file():  # a pipe or a device could be read forever
        raise ConfigError(f"{path}: cannot read config file: not a regular file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config file: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except (tomllib.TOMLDecodeError, RecursionError) as e:  # tomllib recurses into nested arrays and tables
        raise ConfigError(f"{path}: {e if isinstance(e, tomllib.TOMLDecodeError) else 'nested too deeply'}") from None
    if not isinstance(data.get("tracker", {}), dict):
        raise ConfigError(f"{path}: [tracker] must be a table of settings")
    section = dict(data.get("tracker", {}))
    unknown = sorted(set(section) - names) + sorted(set(data) - {"tracker", "channels"})
    if unknown:
        raise ConfigError(f"{path}: unknown setting or table {unknown[0]!r}")
    if "secret" in section:
        raise ConfigError(f"{path}: secret: secrets come only from the environment (TRACKER_SECRET)")
    channels = data.get("channels", {})
    if not isinstance(channels, dict) or not all(isinstance(v, dict) for v in channels.values()):
        raise ConfigError(f"{path}: [channels.<name>] tables expected (email, webhook, console, desktop)")
    return section | {"channels": channels}
