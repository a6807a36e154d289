"""Waiting for lsnr.sock (inotify, and the polling fallback)."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from hotfn.agent import readiness
from hotfn.errors import ContainerInitFailed


def bind(directory: Path, name: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(directory / name))
    return s


@pytest.mark.parametrize("use_inotify", [True, False])
async def test_socket_appearing_later_is_seen(
    tmp_path: Path, use_inotify: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not use_inotify:
        monkeypatch.setattr(readiness, "_inotify_ok", False)
        monkeypatch.setattr(readiness, "_libc", None)
    waiter = asyncio.create_task(readiness.wait_for_socket(tmp_path))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    with bind(tmp_path, "phonylsnr.sock"):
        os.symlink("phonylsnr.sock", tmp_path / "lsnr.sock")
        path = await asyncio.wait_for(waiter, 1)
    assert path == tmp_path / "lsnr.sock"


async def test_socket_already_there(tmp_path: Path) -> None:
    with bind(tmp_path, "x.sock"):
        os.symlink("x.sock", tmp_path / "lsnr.sock")
        assert await asyncio.wait_for(readiness.wait_for_socket(tmp_path), 1)


def test_plain_socket_is_rejected(tmp_path: Path) -> None:
    with bind(tmp_path, "lsnr.sock"), pytest.raises(ContainerInitFailed, match="symlink"):
        readiness.check_socket(tmp_path)


def test_symlink_out_of_the_directory_is_rejected(tmp_path: Path) -> None:
    os.symlink("/etc/passwd", tmp_path / "lsnr.sock")
    with pytest.raises(ContainerInitFailed, match="relative symlink"):
        readiness.check_socket(tmp_path)


def test_symlink_to_a_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    os.symlink("f", tmp_path / "lsnr.sock")
    with pytest.raises(ContainerInitFailed, match="not a socket"):
        readiness.check_socket(tmp_path)
