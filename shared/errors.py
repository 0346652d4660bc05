"""Errors with a machine-readable code, shared by the bus and the HTTP edges."""

from __future__ import annotations


class ParleyError(Exception):
    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class PermanentError(ParleyError):
    """Input that can never be applied: dead-letter it, never retry it."""

    code = "invalid"


class BusError(ParleyError):
    """A request over the bus failed (no responder, timeout, or an error reply)."""

    code = "bus"


def _infrastructure_types() -> tuple[type[BaseException], ...]:
    from nats import errors as nats_errors
    from nats.js import errors as js_errors
    from pymongo.errors import ConnectionFailure

    return (
        ConnectionFailure,  # AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError, ...
        nats_errors.TimeoutError,
        nats_errors.NoRespondersError,
        nats_errors.ConnectionClosedError,
        nats_errors.ConnectionReconnectingError,
        nats_errors.ConnectionDrainingError,
        nats_errors.StaleConnectionError,
        nats_errors.OutboundBufferLimitError,
        nats_errors.NoServersError,
        js_errors.ServiceUnavailableError,
        js_errors.NoStreamResponseError,
        ConnectionError,
        TimeoutError,
    )


def is_infrastructure_error(exc: BaseException) -> bool:
    """True when `exc` says a server (database, NATS, another service) did not answer.

    Such a failure is not the fault of the message being handled: a consumer waits
    and retries it instead of counting it toward dead-lettering. Explicit causes
    (`raise ... from driver_error`) are followed, so a wrapped driver error still counts.
    """
    from pymongo.errors import PyMongoError

    types = _infrastructure_types()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, types):
            return True
        if isinstance(current, BusError) and current.code in ("timeout", "unavailable"):
            return True
        if isinstance(current, PyMongoError) and current.has_error_label("RetryableWriteError"):
            return True
        current = current.__cause__
    return False
