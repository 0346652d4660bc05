"""Consumes identity events; owns persons, visitors, distinct ids, aliases and events."""
