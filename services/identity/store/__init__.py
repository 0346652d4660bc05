"""The identity service's database: the only door to it (see core.IdentityStore)."""

from services.identity.store.core import (
    INDEXES,
    IdentityStore,
    StaleRead,
    by_workspace,
    derived_id,
)

__all__ = ["INDEXES", "StaleRead", "IdentityStore", "by_workspace", "derived_id"]
