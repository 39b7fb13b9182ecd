"""Turning request errors into gRPC statuses, with a rate-limited log of rejected requests."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import OrderedDict

import grpc

from ..artifacts import InvalidIdError
from ..errors import RequestError

logger = logging.getLogger("ltrnn.server.analysis")

# Client mistakes are logged at INFO, refusals for size, state or load at WARNING.
_INFO_CODES = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.CANCELLED,
)


class RejectionLog:
    """Logs each distinct (method, status, message) once per ``interval`` seconds.

    Identical rejections in between are counted, and the count is logged with the next
    line of the same rejection, so a client that repeats a bad request cannot flood the log.

    Parameters
    ----------
    interval : float, default=60.0
        Seconds during which a repeated rejection is only counted.
    max_entries : int, default=1024
        Distinct rejections remembered; the least recently logged are forgotten first.
    """

    def __init__(self, interval: float = 60.0, max_entries: int = 1024):
        self._interval = interval
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple, list] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, method: str, code: grpc.StatusCode, message: str) -> bool:
        """Log one rejection unless an identical one was logged recently; True if logged."""
        key = (method, code, message)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry[0] < self._interval:
                entry[1] += 1
                return False
            repeats = 0 if entry is None else entry[1]
            self._entries[key] = [now, 0]
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        level = logging.INFO if code in _INFO_CODES else logging.WARNING
        suffix = f" ({repeats} identical rejections since the last report)" if repeats else ""
        logger.log(level, "%s rejected with %s: %s%s", method, code.name, message, suffix)
        return True


def handle_request_errors(method):
    """Wrap a servicer method so request errors become gRPC statuses and are logged.

    RequestError keeps its code and an invalid id becomes INVALID_ARGUMENT. Any other
    exception is logged with its traceback and sent to the client as INTERNAL. The servicer needs a
    ``_rejections`` attribute (a :class:`RejectionLog`).
    """
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except RequestError as error:
            code, message = error.code, error.message
        except InvalidIdError as error:
            code, message = grpc.StatusCode.INVALID_ARGUMENT, str(error)
        except Exception as error:  # noqa: BLE001 - the client gets a status, the log the traceback
            logger.exception("%s failed", name)
            context.abort(
                grpc.StatusCode.INTERNAL,
                f"{name} failed inside the server ({type(error).__name__}); the server log has "
                "the details",
            )
        self._rejections.record(name, code, message)
        context.abort(code, message)

    return wrapper
