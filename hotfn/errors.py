"""The exception tree of hotfn.

Every error that can reach a caller is a :class:`HotfnError`. Each class carries the
HTTP status it becomes; the API turns them into ``{"message": ...}`` responses in one
place (``hotfn.api.errors``). Code below the API (store, agent, drivers) raises these
and never builds HTTP responses itself; the drivers convert Docker and aiohttp errors
into them, so nothing above a driver sees a third-party exception.

    HotfnError                      500  something hotfn did not expect
    ├── InvalidInput                400  the request is malformed or out of range
    ├── Unauthorized                401  a token is required or wrong
    ├── NotFound                    404  an object or its parent does not exist
    ├── MethodNotAllowed            405
    ├── Conflict                    409  a name is taken or an immutable field changed
    ├── RequestTimeout              408  the client stalled sending its body
    ├── PayloadTooLarge             413  a request body is over its limit
    ├── HeadersTooLarge             431  too many request headers, or too many bytes of them
    ├── ClientGone                  499  the client went away mid-call (nginx's code)
    └── CallError                        a call could not be completed
        ├── FunctionFailed          502  the function raised / exited non-zero
        ├── InvalidFunctionResponse 502  the container answered outside the contract
        ├── ResponseTooLarge        502  the function's response is over its limit
        ├── OutOfMemory             502  the container was killed by the OOM killer
        ├── ContainerInitFailed     502  the container never became ready
        ├── ImageNotFound           502  the engine does not have the image
        ├── ImagePullFailed         502  the registry did not deliver the image
        ├── TooBusy                 503  queue full; carries ``retry_after`` seconds
        ├── EngineUnavailable       503  the Docker Engine cannot be reached
        ├── ShuttingDown            503  the server is draining
        ├── StartTimeout            504  the container did not become ready in time
        └── FunctionTimeout         504  the call passed its deadline
"""

from __future__ import annotations


class HotfnError(Exception):
    """Base of every error hotfn reports to a caller."""

    status: int = 500
    default_message: str = "internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        """Extra response headers this error asks for (e.g. ``Retry-After``)."""
        return {}


class InvalidInput(HotfnError):
    status = 400
    default_message = "invalid input"


class Unauthorized(HotfnError):
    status = 401
    default_message = "a valid API token is required (Authorization: Bearer <token>)"


class NotFound(HotfnError):
    status = 404
    default_message = "not found"


class MethodNotAllowed(HotfnError):
    status = 405
    default_message = "method not allowed"


class Conflict(HotfnError):
    status = 409
    default_message = "conflict"


class RequestTimeout(HotfnError):
    status = 408
    default_message = "the request body stalled"

    def headers(self) -> dict[str, str]:
        # The body was not read to its end, so the connection cannot carry another
        # request; kept alive, a stalled client would hold its socket for uvicorn's
        # keep-alive timeout more (5 s past the idle timeout, measured by
        # bench/bench_stalled.py).
        return {"Connection": "close"}


class ClientGone(HotfnError):
    status = 499
    default_message = "the client went away"


class PayloadTooLarge(HotfnError):
    status = 413
    default_message = "payload too large"


class HeadersTooLarge(HotfnError):
    status = 431
    default_message = "request header fields too large"


class CallError(HotfnError):
    """A call could not be completed; the subclass says why."""

    status = 502
    default_message = "call failed"


class FunctionFailed(CallError):
    status = 502
    default_message = "function failed"


class InvalidFunctionResponse(CallError):
    status = 502
    default_message = "error receiving function response"


class ResponseTooLarge(CallError):
    """502 as Fn's ErrFunctionResponseTooBig: the function, not the caller, is at fault
    (413 is for a request body the caller sent)."""

    status = 502
    default_message = "function response too large"

    @classmethod
    def over(cls, limit: int) -> ResponseTooLarge:
        return cls(
            f"function response too large: over this fn's limit of {limit} bytes; raise "
            "it with the annotation hotfn.io/max-response-bytes"
        )


class OutOfMemory(CallError):
    status = 502
    default_message = "function ran out of memory"


class ContainerInitFailed(CallError):
    status = 502
    default_message = "container failed to initialize"


class ImageNotFound(CallError):
    status = 502
    default_message = "image not found"


class ImagePullFailed(CallError):
    """The image was not on the engine and pulling it failed; the message names the
    image and carries the registry's own reason. ``reason`` is a short label for
    metrics: not_found, unauthorized, unreachable, timeout or other."""

    status = 502
    default_message = "pulling the image failed"

    def __init__(self, message: str | None = None, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason


class TooBusy(CallError):
    status = 503
    default_message = "too many calls waiting for this function; retry later"

    def __init__(self, message: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class EngineUnavailable(CallError):
    status = 503
    default_message = "the Docker Engine is not reachable"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class ShuttingDown(CallError):
    status = 503
    default_message = "the server is shutting down"


class StartTimeout(CallError):
    status = 504
    default_message = "container initialization timed out"


class FunctionTimeout(CallError):
    status = 504
    default_message = "Timed out"
