"""Ids (hotfn/store/ids.py): 26 Crockford base32 characters, 48-bit millisecond time
then 80 bits, and each id greater than every id the process made before, whatever
the clock does."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from hotfn.store import ids

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
MS = 1_764_000_000_000  # a fixed millisecond (late 2025)


def decode(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + ALPHABET.index(char)
    return value


def parts(id_: str) -> tuple[int, int]:
    """(milliseconds, 80-bit rest) of an id."""
    return decode(id_[:10]), decode(id_[10:])


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The process clock as a settable value (ms); the id state starts afresh."""
    now = [MS]
    monkeypatch.setattr(ids.time, "time_ns", lambda: now[0] * 1_000_000 + 123_456)
    monkeypatch.setattr(ids, "_last_ms", -1)
    monkeypatch.setattr(ids, "_last_rand", 0)
    monkeypatch.setattr(ids, "_pool", b"")  # drawn afresh (a patched urandom is used)
    monkeypatch.setattr(ids, "_pos", 0)
    yield now


def test_format_is_26_crockford_characters_with_the_creation_time() -> None:
    before = ids.time.time_ns() // 1_000_000
    made = [ids.new_id() for _ in range(200)]
    after = ids.time.time_ns() // 1_000_000
    for id_ in made:
        assert len(id_) == 26
        assert set(id_) <= set(ALPHABET)
        ms, rest = parts(id_)
        assert before <= ms <= after
        assert rest < 2**80
    assert len(set(made)) == len(made)


def test_text_order_is_number_order() -> None:
    # Sorting ids as strings (what the databases do) sorts them by value.
    assert sorted(ALPHABET) == list(ALPHABET)
    assert ids._ALPHABET == ALPHABET


def test_within_one_millisecond_ids_count_up(clock: list[int]) -> None:
    made = [ids.new_id() for _ in range(1000)]
    assert made == sorted(made) and len(set(made)) == 1000
    ms = {parts(i)[0] for i in made}
    assert ms == {MS}
    rests = [parts(i)[1] for i in made]
    assert rests == list(range(rests[0], rests[0] + 1000))


def test_a_new_millisecond_draws_a_new_random_part(clock: list[int]) -> None:
    first = ids.new_id()
    clock[0] += 1
    second = ids.new_id()
    assert second > first
    assert parts(second)[0] == MS + 1
    # Redrawn, not incremented: a second process's ids do not line up with ours.
    assert parts(second)[1] != parts(first)[1] + 1


def test_random_parts_come_from_a_pooled_draw_never_reused(
    clock: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    draws: list[int] = []

    def urandom(n: int) -> bytes:  # draw d holds the numbers d*10**6, d*10**6 + 1, ...
        draws.append(n)
        return b"".join((len(draws) * 10**6 + i).to_bytes(10, "big") for i in range(n // 10))

    monkeypatch.setattr(ids.os, "urandom", urandom)
    per_draw = ids._POOL_SIZE // 10
    rests = []
    for _ in range(per_draw + 2):  # past the end of the first draw
        clock[0] += 1
        rests.append(parts(ids.new_id())[1])
    assert draws == [ids._POOL_SIZE, ids._POOL_SIZE]  # one syscall per block, not per id
    # Ten bytes each, in order, none used twice; then the next draw.
    assert rests == [10**6 + i for i in range(per_draw)] + [2 * 10**6, 2 * 10**6 + 1]


def test_a_forked_child_draws_its_own_random_bytes(clock: list[int]) -> None:
    clock[0] += 1
    ids.new_id()
    assert ids._pool
    ids._forget_pool()  # what os.register_at_fork runs in the child
    assert (ids._pool, ids._pos) == (b"", 0)


def test_a_clock_that_steps_back_does_not_reorder(clock: list[int]) -> None:
    first = ids.new_id()
    clock[0] -= 5_000
    second = ids.new_id()
    assert second > first
    assert parts(second) == (MS, parts(first)[1] + 1)
    clock[0] = MS + 1
    assert ids.new_id() > second


def test_an_overflowing_random_part_carries_into_the_time(
    clock: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ids.os, "urandom", lambda n: b"\xff" * n)  # the largest draw
    first = ids.new_id()
    assert parts(first) == (MS, 2**80 - 1)
    second = ids.new_id()  # same millisecond: 2**80 does not fit
    assert second > first
    assert parts(second) == (MS + 1, 0)
    clock[0] = MS + 1  # the real clock reaches the borrowed millisecond
    assert ids.new_id() > second


def test_threads_never_share_or_reorder_ids() -> None:
    made: list[list[str]] = [[] for _ in range(4)]

    def work(out: list[str]) -> None:
        for _ in range(2000):
            out.append(ids.new_id())

    threads = [threading.Thread(target=work, args=(out,)) for out in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for out in made:
        assert out == sorted(out)
    every = [i for out in made for i in out]
    assert len(set(every)) == len(every)
