"""Typed settings read from the environment (the README's settings table is the contract).

Keys for the default workspace and the first admin are generated on first use and
saved under the data dir, so every service of one deployment agrees on them and a
restart keeps them.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

SECRET_NAMES = (
    "PARLEY_WRITE_KEY",
    "PARLEY_SECRET_KEY",
    "PARLEY_IDENTITY_SECRET",
    "PARLEY_ADMIN_EMAIL",
    "PARLEY_ADMIN_PASSWORD",
    "PARLEY_TOKEN_SECRET",
)


def _generate(name: str) -> str:
    if name == "PARLEY_ADMIN_EMAIL":
        return "admin@parley.local"
    if name == "PARLEY_WRITE_KEY":
        return "wk_" + secrets.token_urlsafe(18)
    if name == "PARLEY_SECRET_KEY":
        return "sk_" + secrets.token_urlsafe(24)
    return secrets.token_urlsafe(24)


def load_or_create_secrets(data_dir: Path, env: Mapping[str, str]) -> dict[str, str]:
    """Values from the environment win; the rest come from (or go to) `secrets.json`."""
    path = data_dir / "secrets.json"
    data_dir.mkdir(parents=True, exist_ok=True)
    # Services of one deployment may start at the same moment: the lock makes the
    # first one generate the keys and the others read them.
    with (data_dir / ".secrets.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        missing = [n for n in SECRET_NAMES if not env.get(n) and not saved.get(n)]
        if missing:
            for name in missing:
                saved[name] = _generate(name)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(saved, indent=2))
            tmp.chmod(0o600)
            tmp.replace(path)
    return {n: env.get(n) or saved[n] for n in SECRET_NAMES}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in (env.get(name) or "").split(",") if p.strip())


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".data")
    host: str = "127.0.0.1"
    gateway_port: int = 8080
    dashboard_port: int = 8081
    identity_port: int = 8082
    chat_port: int = 8083
    nats_url: str = "nats://127.0.0.1:14222"
    mongo_url: str = "mongodb://127.0.0.1:27027/?directConnection=true"
    subject_prefix: str = "parley"
    db_prefix: str = "parley"
    public_url: str = "http://127.0.0.1:8080"
    dashboard_url: str = "http://127.0.0.1:8081"
    write_key: str = ""
    secret_key: str = ""
    identity_secret: str = ""
    token_secret: str = field(default="", repr=False)
    admin_email: str = "admin@parley.local"
    admin_password: str = field(default="", repr=False)
    allowed_origins: tuple[str, ...] = ()
    enforce_identity_verification: bool = False
    geoip_db: str = ""
    trusted_proxies: tuple[str, ...] = ()
    secure_cookies: bool = False
    stream_replicas: int = 1
    log_level: str = "INFO"
    audit_retention_days: int = 90

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("PARLEY_DATA_DIR") or ".data").resolve()
        keys = load_or_create_secrets(data_dir, env)
        host = env.get("PARLEY_HOST") or "127.0.0.1"
        gateway_port = _int(env, "PARLEY_GATEWAY_PORT", 8080)
        dashboard_port = _int(env, "PARLEY_DASHBOARD_PORT", 8081)
        return cls(
            data_dir=data_dir,
            host=host,
            gateway_port=gateway_port,
            dashboard_port=dashboard_port,
            identity_port=_int(env, "PARLEY_IDENTITY_PORT", 8082),
            chat_port=_int(env, "PARLEY_CHAT_PORT", 8083),
            nats_url=env.get("NATS_URL") or cls.nats_url,
            mongo_url=env.get("MONGO_URL") or cls.mongo_url,
            subject_prefix=env.get("PARLEY_SUBJECT_PREFIX") or "parley",
            db_prefix=env.get("PARLEY_DB_PREFIX") or "parley",
            public_url=(env.get("PARLEY_PUBLIC_URL") or f"http://127.0.0.1:{gateway_port}").rstrip(
                "/"
            ),
            dashboard_url=(
                env.get("PARLEY_DASHBOARD_URL") or f"http://127.0.0.1:{dashboard_port}"
            ).rstrip("/"),
            write_key=keys["PARLEY_WRITE_KEY"],
            secret_key=keys["PARLEY_SECRET_KEY"],
            identity_secret=keys["PARLEY_IDENTITY_SECRET"],
            token_secret=keys["PARLEY_TOKEN_SECRET"],
            admin_email=keys["PARLEY_ADMIN_EMAIL"].strip().lower(),
            admin_password=keys["PARLEY_ADMIN_PASSWORD"],
            allowed_origins=_list(env, "PARLEY_ALLOWED_ORIGINS"),
            enforce_identity_verification=_bool(env, "PARLEY_ENFORCE_IDENTITY_VERIFICATION", False),
            geoip_db=env.get("GEOIP_DB") or "",
            trusted_proxies=_list(env, "PARLEY_TRUSTED_PROXIES"),
            secure_cookies=_bool(env, "PARLEY_SECURE_COOKIES", False),
            stream_replicas=_int(env, "PARLEY_STREAM_REPLICAS", 1),
            log_level=(env.get("PARLEY_LOG_LEVEL") or "INFO").upper(),
            audit_retention_days=_positive(env, "PARLEY_AUDIT_RETENTION_DAYS", 90),
        )

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)

    def database_name(self, service: str) -> str:
        """Each service owns its own database; no service reads another's."""
        return f"{self.db_prefix}_{service}"
