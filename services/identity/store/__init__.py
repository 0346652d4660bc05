"""The identity service's database: the only door to it (see core.IdentityStore)."""

from services.identity.store.core import (
    INDEXES,
    Conflict,
    IdentityStore,
    by_workspace,
    derived_id,
    utcnow,
)

__all__ = ["INDEXES", "Conflict", "IdentityStore", "by_workspace", "derived_id", "utcnow"]
