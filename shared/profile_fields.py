"""The fields of a profile's visitor entries, as the profiles API returns them.

Part of the contract between identity (which shapes profiles) and the gateway
(whose OpenAPI document describes them): both read the names from here.
"""

from __future__ import annotations

# per device, beside its "id" and "distinct_ids"
VISITOR_FIELDS = (
    "last_visit",
    "first_seen",
    "country_code",
    "region",
    "city",
    "referring_domain",
    "initial_referring_domain",
    "user_agent",
    "browser",
    "os",
    "device",
)
# copied onto the profile from its most recently seen visitor
LOCATION_FIELDS = ("last_visit", "country_code", "region", "city", "referring_domain")
