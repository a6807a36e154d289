"""The fake engine behaves like the Driver protocol says."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import pytest

from hotfn.drivers.base import ContainerSpec, Driver
from hotfn.drivers.fake import FakeDriver, FakeImage
from hotfn.errors import EngineUnavailable, ImageNotFound, NotFound


def test_implements_the_protocol() -> None:
    assert isinstance(FakeDriver(), Driver)


async def test_hot_container_serves_http_stream(tmp_path: Path) -> None:
    drv = FakeDriver()
    cid = await drv.start(ContainerSpec(name="c", image="fake/echo", iofs_dir=tmp_path))
    for _ in range(100):
        if (tmp_path / "lsnr.sock").exists():
            break
        await asyncio.sleep(0.01)
    assert os.readlink(tmp_path / "lsnr.sock") == "phonylsnr.sock"
    conn = aiohttp.UnixConnector(path=str(tmp_path / "lsnr.sock"))
    async with aiohttp.ClientSession(connector=conn) as s:
        async with s.post("http://localhost/call", data=b"abc") as resp:
            assert resp.status == 200 and await resp.read() == b"abc"
    assert (await drv.inspect(cid)).running
    await drv.kill(cid)
    status = await drv.wait(cid)
    assert not status.running and status.exit_code == 137
    await drv.remove(cid)
    await drv.remove(cid)  # idempotent
    with pytest.raises(NotFound):
        await drv.inspect(cid)


async def test_logs_end_when_container_exits(tmp_path: Path) -> None:
    drv = FakeDriver({"i": FakeImage(init="exit", boot_lines=("a", "b"))})
    cid = await drv.start(ContainerSpec(name="c", image="i", iofs_dir=tmp_path))
    lines = [line.line async for line in drv.logs(cid)]
    assert lines == ["a", "b"]
    assert (await drv.wait(cid)).exit_code == 1
    await drv.close()


async def test_labels_and_errors() -> None:
    drv = FakeDriver()
    drv.add_leftover({"x": "1", "y": "2"})
    drv.add_leftover({"x": "1"})
    assert len(await drv.list_labelled({"x": "1"})) == 2
    assert await drv.remove_labelled({"y": "2"}) == 1
    with pytest.raises(ImageNotFound):
        await drv.start(ContainerSpec(name="c", image="missing"))
    drv.down = True
    with pytest.raises(EngineUnavailable):
        await drv.ping()
    drv.down = False
    await drv.close()


async def test_cold_run() -> None:
    drv = FakeDriver()
    res = await drv.run_default_format(ContainerSpec(name="c", image="fake/echo"), b"Z", 5)
    assert res.exit_code == 0 and res.stdout == b"Hello Z from Fake!\n"
    res = await drv.run_default_format(ContainerSpec(name="c", image="fake/echo"), b"sleep:5", 0.1)
    assert res.timed_out and res.exit_code is None
