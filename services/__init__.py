"""Parley's services; `python -m services` runs them all (see services/launcher.py)."""

SERVICE_NAMES = ("identity", "chat", "mail", "webhooks", "gateway", "dashboard")
