"""NATS subject and stream names: the one place that spells them.

Convention: `<prefix>.<domain>.<entity>.<verb>`; events use past tense
(`identity.profile.merged`), requests the imperative (`identity.profile.get`).
The prefix isolates deployments (and tests) that share one NATS server.
Who owns what is written in docs/bus-contract.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Subjects:
    prefix: str = "parley"

    def _s(self, *tokens: str) -> str:
        return ".".join((self.prefix, *tokens))

    # --- JetStream streams (durable) -------------------------------------------------
    @property
    def events_stream(self) -> str:
        """Inbound identity events (identify/alias/track/page/group/email), for identity."""
        return f"{self.prefix.upper()}_EVENTS"

    def events(self, workspace_id: str, kind: str) -> str:
        return self._s("events", workspace_id, kind)

    @property
    def events_all(self) -> str:
        return self._s("events", ">")

    @property
    def chat_stream(self) -> str:
        """Inbound chat traffic from the gateway (visitor messages), for chat."""
        return f"{self.prefix.upper()}_CHAT"

    def chat_inbound(self, workspace_id: str) -> str:
        return self._s("chat", "inbound", workspace_id)

    @property
    def chat_inbound_all(self) -> str:
        return self._s("chat", "inbound", ">")

    @property
    def chat_facts_stream(self) -> str:
        """Facts chat publishes (an agent's reply stored, the visitor's seen mark), for mail."""
        return f"{self.prefix.upper()}_CHAT_FACTS"

    def chat_fact(self, kind: str) -> str:
        return self._s("chat", "fact", kind)

    @property
    def chat_facts_all(self) -> str:
        return self._s("chat", "fact", ">")

    @property
    def identity_stream(self) -> str:
        """Facts the identity service publishes (profile merged/promoted), for chat etc."""
        return f"{self.prefix.upper()}_IDENTITY"

    def identity_fact(self, kind: str) -> str:
        return self._s("identity", "fact", kind)

    @property
    def identity_facts_all(self) -> str:
        return self._s("identity", "fact", ">")

    @property
    def deadletter_stream(self) -> str:
        return f"{self.prefix.upper()}_DEADLETTER"

    def deadletter(self, consumer: str) -> str:
        return self._s("deadletter", consumer)

    @property
    def deadletter_all(self) -> str:
        return self._s("deadletter", ">")

    @property
    def audit_stream(self) -> str:
        """Audit records of services without a database (the gateway's refusals), for the dashboard."""
        return f"{self.prefix.upper()}_AUDIT"

    def audit(self, workspace_id: str, kind: str) -> str:
        return self._s("audit", workspace_id, kind)

    @property
    def audit_all(self) -> str:
        return self._s("audit", ">")

    # --- request/reply (core NATS) ---------------------------------------------------
    def request(self, service: str, verb: str) -> str:
        """e.g. request("identity", "profile.get") -> parley.identity.profile.get"""
        return self._s(service, *verb.split("."))

    # --- live fan-out (core NATS, at-most-once; durable state lives in the owners) ---
    def live_visitor(self, workspace_id: str, visitor_key: str) -> str:
        return self._s("live", "visitor", workspace_id, visitor_key)

    @property
    def live_visitor_all(self) -> str:
        """Every visitor's frames: one wildcard subscription per gateway process."""
        return self._s("live", "visitor", "*", "*")

    def live_agents(self, workspace_id: str) -> str:
        return self._s("live", "agents", workspace_id)

    def live_visitors(self, workspace_id: str) -> str:
        """Frames for every visitor socket of a workspace (presence)."""
        return self._s("live", "visitors", workspace_id)

    def visitor_connected(self, workspace_id: str, visitor_id: str) -> str:
        """Answered by every gateway process: whether it holds a socket of the visitor."""
        return self._s("gateway", "visitor", "connected", workspace_id, visitor_id)

    @property
    def visitor_connected_all(self) -> str:
        """The question above for every visitor: one wildcard subscription per gateway."""
        return self._s("gateway", "visitor", "connected", "*", "*")

    @property
    def live_visitors_all(self) -> str:
        """Every workspace's presence: one wildcard subscription per gateway process."""
        return self._s("live", "visitors", "*")

    @property
    def chat_load(self) -> str:
        """Chat says how long visitor messages wait to be stored (services/chat/load.py)."""
        return self._s("chat", "load")

    def debug_events(self, workspace_id: str) -> str:
        """The event debugger's feed of one workspace (shared/schema/debug_feed.py)."""
        return self._s("debug", "events", workspace_id)

    @property
    def debug_events_all(self) -> str:
        """Every workspace's debugger feed: one subscription per dashboard process."""
        return self._s("debug", "events", "*")

    @property
    def dashboard_sessions_ended(self) -> str:
        """A sign-out or a disabled agent: every dashboard replica closes those sockets."""
        return self._s("dashboard", "sessions", "ended")

    # --- workspace registry (JetStream key-value bucket) ------------------------------
    @property
    def workspaces_bucket(self) -> str:
        return f"{self.prefix}_workspaces"

    @property
    def suppressions_bucket(self) -> str:
        """Suppressed ids of deleted persons (shared/suppressions.py)."""
        return f"{self.prefix}_suppressions"
