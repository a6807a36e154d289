"""Settings read from the environment (hotfn/config.py)."""

from __future__ import annotations

import pytest

from hotfn.config import Settings
from hotfn.errors import InvalidInput


def test_the_engine_timeout_scale_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HOTFN_ENGINE_TIMEOUT_SCALE", raising=False)
    assert Settings.from_env().engine_timeout_scale == 1.0
    monkeypatch.setenv("HOTFN_ENGINE_TIMEOUT_SCALE", "2.5")
    assert Settings.from_env().engine_timeout_scale == 2.5


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "nan"])
def test_a_bad_engine_timeout_scale_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("HOTFN_ENGINE_TIMEOUT_SCALE", bad)
    with pytest.raises(InvalidInput) as caught:
        Settings.from_env()
    assert (
        caught.value.message == f"HOTFN_ENGINE_TIMEOUT_SCALE must be a number above 0, not {bad!r}"
    )


def test_a_unix_socket_replaces_the_address_and_stays_on_this_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HOTFN_UNIX_SOCKET", raising=False)
    assert Settings.from_env().listen_address == "127.0.0.1:8080"
    monkeypatch.setenv("HOTFN_UNIX_SOCKET", "/run/hotfn/1.sock")
    settings = Settings.from_env(host="0.0.0.0")
    assert settings.listen_address == "unix:/run/hotfn/1.sock"
    settings.check_exposure()  # no token needed: host is not listened on
    settings.uds = None
    with pytest.raises(InvalidInput):
        settings.check_exposure()


@pytest.mark.parametrize(
    ("name", "bad", "what"),
    [
        ("HOTFN_PORT", "80a", "a whole number of 0 or more"),
        ("HOTFN_MAX_CALL_BODY", "-5", "a whole number of 0 or more"),
        ("HOTFN_MAX_CALL_BODY", "6MB", "a whole number of 0 or more"),
        ("HOTFN_DRAIN_TIMEOUT", "thirty", "a number of 0 or more"),
        ("HOTFN_CLIENT_IDLE_TIMEOUT", "-1", "a number of 0 or more"),
        ("HOTFN_CLIENT_IDLE_TIMEOUT", "nan", "a number of 0 or more"),
    ],
)
def test_a_bad_number_in_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, bad: str, what: str
) -> None:
    monkeypatch.setenv(name, bad)
    with pytest.raises(InvalidInput) as caught:
        Settings.from_env()
    assert caught.value.message == f"{name} must be {what}, not {bad!r}"


def test_numbers_in_the_environment_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTFN_PORT", "9090")
    monkeypatch.setenv("HOTFN_DRAIN_TIMEOUT", "2.5")
    monkeypatch.setenv("HOTFN_MAX_QUEUE_PER_FN", "0")
    s = Settings.from_env()
    assert (s.port, s.drain_timeout, s.max_queue_per_fn) == (9090, 2.5, 0)
