"""The hotfn API client the commands use: httpx on the /v2 API (design.md §5).

Every transport or HTTP failure becomes a :class:`CliError` with one line that says
what happened and what to do: the server is not running (and how to start it), it
did not answer in time, or it refused the request (its own ``message``). Objects are
found by name the way Fn's CLI finds them: ``?name=`` for apps, ``?app_id=&name=``
for fns and triggers, then an exact name match on the first page.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx

from hotfn.cli.common import SETTINGS, CliError

Obj = dict[str, Any]
PAGE = 100  # the API's largest page


def server_message(response: httpx.Response) -> str:
    """The server's ``{"message": ...}``, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    text = response.text.strip().replace("\n", " ")
    return text[:300] or response.reason_phrase


class Api:
    """A client for one server; use as a context manager so the socket is closed."""

    def __init__(self, base_url: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = (base_url or SETTINGS.api_url).rstrip("/")
        headers = {"Authorization": f"Bearer {SETTINGS.token}"} if SETTINGS.token else {}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    def __enter__(self) -> Api:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- raw requests -------------------------------------------------------------

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; transport errors become a CliError, HTTP errors do not."""
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise CliError(
                f"cannot reach the hotfn server at {self.base_url} ({_reason(exc)}); "
                "start one with `hotfn start` or point --api-url / HOTFN_API_URL at it"
            ) from None
        except httpx.TimeoutException:
            raise CliError(
                f"the hotfn server at {self.base_url} did not answer {method} {path} in time"
            ) from None
        except httpx.InvalidURL as exc:
            raise CliError(f"bad server address {self.base_url!r}: {exc}", 2) from None
        except httpx.HTTPError as exc:
            raise CliError(f"request to {self.base_url}{path} failed: {exc}") from None

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A JSON request; a status of 400 or more is a CliError with the server's message."""
        response = self.send(method, path, **kwargs)
        if response.status_code >= 400:
            raise CliError(f"{server_message(response)} (HTTP {response.status_code})")
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"{self.base_url} answered {method} {path} with something that is not JSON; "
                "is it a hotfn (or Fn) server?"
            ) from None

    def items(self, path: str, **params: str) -> Iterator[Obj]:
        """Every item of a list endpoint, following ``next_cursor``."""
        query: dict[str, str | int] = {**params, "per_page": PAGE}
        while True:
            page = self.call("GET", path, params=query)
            yield from page.get("items", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor

    # -- finders ------------------------------------------------------------------

    def find_app(self, name: str) -> Obj | None:
        page = self.call("GET", "/v2/apps", params={"name": name})
        return next((a for a in page.get("items", []) if a.get("name") == name), None)

    def app(self, name: str) -> Obj:
        app = self.find_app(name)
        if app is None:
            raise CliError(
                f"app {name!r} not found; create it with `hotfn create app {name}`"
                " (or deploy with --create-app)"
            )
        return app

    def find_fn(self, app: Obj, name: str) -> Obj | None:
        page = self.call("GET", "/v2/fns", params={"app_id": app["id"], "name": name})
        return next((f for f in page.get("items", []) if f.get("name") == name), None)

    def fn(self, app_name: str, name: str) -> tuple[Obj, Obj]:
        app = self.app(app_name)
        fn = self.find_fn(app, name)
        if fn is None:
            raise CliError(
                f"function {name!r} not found in app {app_name!r}; "
                f"`hotfn list fns {app_name}` shows what is there"
            )
        return app, fn

    def find_trigger(self, app: Obj, fn: Obj | None, name: str) -> Obj | None:
        params = {"app_id": app["id"], "name": name}
        if fn is not None:
            params["fn_id"] = fn["id"]
        page = self.call("GET", "/v2/triggers", params=params)
        return next((t for t in page.get("items", []) if t.get("name") == name), None)

    def trigger(self, app_name: str, fn_name: str, name: str) -> tuple[Obj, Obj, Obj]:
        app, fn = self.fn(app_name, fn_name)
        trig = self.find_trigger(app, fn, name)
        if trig is None:
            raise CliError(
                f"trigger {name!r} not found on {app_name}/{fn_name}; "
                f"`hotfn list triggers {app_name} {fn_name}` shows what is there"
            )
        return app, fn, trig


def _reason(exc: httpx.ConnectError) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    return text or "connection failed"
