"""`P.chat.load`: chat tells every gateway how long visitor messages wait to be stored.

Published by chat (services/chat/load.py) when it turns busy or calm and every
`REPEAT_EVERY` seconds while busy; a gateway forgets a busy word not repeated
within `STALE_AFTER` (services/gateway/visitor/busy.py).
"""

from __future__ import annotations

import msgspec

REPEAT_EVERY = 2.0
STALE_AFTER = 3 * REPEAT_EVERY


class ChatLoadWord(msgspec.Struct, frozen=True):
    busy: bool
    delay: float  # seconds the oldest message of chat's latest batch waited
