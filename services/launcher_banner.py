"""What the launcher prints once everything is up: where things are and the keys in force.

The keys come from the workspace registry (the JetStream KV the dashboard writes when
it rotates one), never from secrets.json, which holds only the first generated ones.
The admin password is printed once, on the start that generated it.
"""

from __future__ import annotations

import asyncio
import logging

from shared.bus import Bus
from shared.settings import Settings
from shared.subjects import Subjects
from shared.workspaces import DEFAULT_WORKSPACE_ID, Workspace

log = logging.getLogger("parley.launcher")

PASSWORD_SETTING = "PARLEY_ADMIN_PASSWORD"  # noqa: S105 - a setting name


async def _read_default_workspace(settings: Settings, nats_url: str) -> Workspace:
    bus = Bus(nats_url, Subjects(settings.subject_prefix), "launcher")
    await bus.connect(first_attempt_timeout=5)
    try:
        assert bus.js is not None
        kv = await bus.js.key_value(bus.subjects.workspaces_bucket)
        stored = (await kv.get(DEFAULT_WORKSPACE_ID)).value
        if stored is None:
            raise LookupError("the default workspace has no value")
        return Workspace.from_json(stored)
    finally:
        await bus.close()


def default_workspace(settings: Settings, nats_url: str) -> Workspace | None:
    try:
        return asyncio.run(_read_default_workspace(settings, nats_url))
    except Exception as exc:  # noqa: BLE001 - the banner says the keys are unknown instead
        log.warning("could not read the default workspace's keys: %r", exc)
        return None


def _keys(workspace: Workspace | None, dashboard: str) -> str:
    if workspace is None:
        return f"    (could not be read now: see {dashboard}/settings)"
    return (
        f"    write key         {workspace.write_key}\n"
        f"    secret key        {workspace.secret_key}\n"
        f"    identity secret   {workspace.identity_secret}"
    )


def _password(settings: Settings, env: dict[str, str]) -> str:
    if PASSWORD_SETTING in settings.generated_secrets:
        return f"{settings.admin_password}   (generated now; also saved in secrets.json)"
    if env.get(PASSWORD_SETTING):
        return "(the PARLEY_ADMIN_PASSWORD you set)"
    return f"(the generated password is in {settings.data_dir / 'secrets.json'})"


def banner(settings: Settings, env: dict[str, str]) -> str:
    gw, dash = settings.public_url, settings.dashboard_url
    demo = f"  Widget demo site   {gw}/demo/\n" if settings.demo else ""
    workspace = default_workspace(settings, env["NATS_URL"])
    mail = settings.mail
    relay = "relay of PARLEY_SMTP_URL" if mail.smtp_url else f"mail catcher: {dash}/mail"
    return f"""
  Parley is running.                      (Ctrl-C stops everything)

{demo}  Dashboard          {dash}/
    sign in           {settings.admin_email}
    password          {_password(settings, env)}
  Ingest API         {gw}/v1/         (Segment-compatible; OpenAPI at {gw}/v1/openapi.json)
  Widget script      {gw}/widget.js
  Email              {relay}; replies by SMTP to {mail.inbound_host}:{mail.inbound_port}

  Default workspace keys (in force now; rotate them in the dashboard's settings)
{_keys(workspace, dash)}

  NATS   {env.get("NATS_URL")}
  Mongo  {env.get("MONGO_URL")}
  Data   {settings.data_dir}
"""
