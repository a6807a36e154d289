"""Trace-driven simulation of keep-alive policies (no containers needed).

    .venv/bin/python bench/sim_keepalive.py [--days 3] [--fns 40] [--seed 7]

Generates seeded synthetic invocation traces with the shapes "Serverless in the
Wild" (USENIX ATC '20) describes for Azure Functions — **periodic** (timers, small
jitter), **bursty** (short bursts of calls, long quiet spells), **rare** (a few calls
a day) and **diurnal** (Poisson arrivals whose rate follows the time of day) — and
replays them through the agent's real keep-alive decision code
(:class:`hotfn.agent.histogram.HybridPolicy` and its :class:`Windows`, which
:class:`hotfn.agent.keepalive.AdaptiveKeepAlive` consults in the agent) for three
policies: fixed 30 s, fixed 10 min and adaptive (fallback: the fn's 30 s
``idle_timeout``). It prints, per policy and per shape, the percentage of calls that
found no container (cold starts) and the container-seconds spent idle, plus
container starts (cold + pre-warm).

Model: one container per function at a time; calls last ``--run-ms``; a call
arriving while the previous one runs is warm and adds no idle time. After a call the
policy's windows decide: keep the container until ``keepalive_s`` of idleness, or
(pre-warm) let it go at once and start one at ``prewarm_s``, kept until
``keepalive_s``. A pre-warmed container is ready when the window opens (the agent
starts it one housekeeping tick late, ~0.3 s of start on top: both far below the
windows). Idle time is observed when each call arrives, as the agent does.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hotfn.agent.histogram import HybridPolicy, Windows

DAY = 86400.0
IDLE_TIMEOUT = 30.0  # the fns' idle_timeout (Fn's default): the adaptive fallback


# -- traces ----------------------------------------------------------------------


def periodic(rng: random.Random, span: float) -> list[float]:
    """A timer: every 2-60 minutes, a few seconds of jitter."""
    period = rng.choice([120, 300, 600, 900, 1800, 3600]) * 1.0
    jitter = period * 0.01
    t, out = rng.uniform(0, period), []
    while t < span:
        out.append(t)
        t += period + rng.uniform(-jitter, jitter)
    return out


def bursty(rng: random.Random, span: float) -> list[float]:
    """Bursts of 5-40 calls ~1 s apart, separated by 20-120 minutes of quiet."""
    t, out = rng.uniform(0, 3600), []
    while t < span:
        for _ in range(rng.randint(5, 40)):
            out.append(t)
            t += rng.expovariate(1.0)
        t += rng.uniform(1200, 7200)
    return out


def rare(rng: random.Random, span: float) -> list[float]:
    """A few calls a day at random (mean gap 2-8 hours)."""
    mean = rng.uniform(2, 8) * 3600
    t, out = rng.expovariate(1 / mean), []
    while t < span:
        out.append(t)
        t += rng.expovariate(1 / mean)
    return out


def diurnal(rng: random.Random, span: float) -> list[float]:
    """Poisson arrivals, mean gap 1-10 minutes, rate swinging ×10 over the day."""
    peak = 1 / rng.uniform(60, 600)
    phase = rng.uniform(0, DAY)
    t, out = 0.0, []
    while True:  # thinning (Lewis-Shedler) of a Poisson process at the peak rate
        t += rng.expovariate(peak)
        if t >= span:
            return out
        rate = peak * (0.55 + 0.45 * math.sin(2 * math.pi * (t + phase) / DAY))
        if rng.random() < rate / peak:
            out.append(t)


SHAPES: dict[str, Callable[[random.Random, float], list[float]]] = {
    "periodic": periodic,
    "bursty": bursty,
    "rare": rare,
    "diurnal": diurnal,
}


# -- policies --------------------------------------------------------------------


class Fixed:
    """Fn's rule: keep for a fixed time (the agent's FixedKeepAlive)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def observe_idle(self, fn_id: str, idle_s: float) -> None:
        return None

    def windows(self, fn_id: str, fixed_s: float) -> Windows:
        return Windows(0.0, self.seconds, "fixed")


Policy = Fixed | HybridPolicy


@dataclass
class Outcome:
    calls: int = 0
    cold: int = 0
    starts: int = 0
    idle_s: float = 0.0
    modes: dict[str, int] = field(default_factory=dict)

    def add(self, other: Outcome) -> None:
        self.calls += other.calls
        self.cold += other.cold
        self.starts += other.starts
        self.idle_s += other.idle_s
        for k, v in other.modes.items():
            self.modes[k] = self.modes.get(k, 0) + v


def replay(policy: Policy, fn_id: str, arrivals: list[float], run_s: float) -> Outcome:
    """One function's calls through ``policy`` (see the module docstring)."""
    out = Outcome()
    end = -math.inf  # when the last call ended
    w = Windows(0.0, 0.0, "fixed")  # nothing is kept before the first call
    for t in arrivals:
        out.calls += 1
        if t < end:  # the container is busy with the previous call: warm, not idle
            end += run_s
            continue
        idle = t - end
        if math.isinf(idle):
            warm = False
        elif w.prewarm_s > 0:
            # Let go after the call (w.keep(·, prewarmed=False) is False); a pre-warm
            # starts one when prewarm_due first holds, kept while w.keep(·, True).
            prewarmed = idle >= w.prewarm_s and w.prewarm_due(w.prewarm_s)
            if prewarmed:
                out.starts += 1
                out.idle_s += min(idle, w.keepalive_s) - w.prewarm_s
            warm = prewarmed and w.keep(idle, prewarmed=True)
        else:
            out.idle_s += min(idle, w.keepalive_s)
            warm = w.keep(idle, prewarmed=False)
        if not warm:
            out.cold += 1
            out.starts += 1
        if not math.isinf(idle):
            policy.observe_idle(fn_id, idle)
        end = t + run_s
        w = policy.windows(fn_id, IDLE_TIMEOUT)
        out.modes[w.mode] = out.modes.get(w.mode, 0) + 1
    # The last container is kept as the policy says after the trace ends.
    out.idle_s += w.keepalive_s - w.prewarm_s if w.prewarm_s else w.keepalive_s
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=float, default=3.0)
    ap.add_argument("--fns", type=int, default=40, help="functions per shape")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--run-ms", type=float, default=200.0)
    args = ap.parse_args()
    span = args.days * DAY
    rng = random.Random(args.seed)
    traces = {shape: [gen(rng, span) for _ in range(args.fns)] for shape, gen in SHAPES.items()}
    policies: dict[str, Callable[[], Policy]] = {
        "fixed 30 s": lambda: Fixed(30.0),
        "fixed 10 min": lambda: Fixed(600.0),
        "adaptive": HybridPolicy,
    }
    calls = sum(len(t) for ts in traces.values() for t in ts)
    print(
        f"{args.fns} fns per shape × {len(SHAPES)} shapes, {args.days:g} days, "
        f"{calls} calls, seed {args.seed}, run {args.run_ms:g} ms per call\n"
    )
    results: dict[str, dict[str, Outcome]] = {}
    for name, make in policies.items():
        policy = make()
        per_shape: dict[str, Outcome] = {}
        for shape, fn_traces in traces.items():
            agg = Outcome()
            for i, arrivals in enumerate(fn_traces):
                agg.add(replay(policy, f"{shape}-{i}", arrivals, args.run_ms / 1000))
            per_shape[shape] = agg
        results[name] = per_shape

    head = f"{'policy':<14}{'shape':<10}{'calls':>8}{'cold %':>9}{'idle container-h':>18}"
    head += f"{'starts':>8}"
    print(head)
    print("-" * len(head))
    totals: dict[str, Outcome] = {}
    for name, per_shape in results.items():
        total = Outcome()
        for shape, o in per_shape.items():
            total.add(o)
            print(
                f"{name:<14}{shape:<10}{o.calls:>8}{100 * o.cold / o.calls:>8.1f}%"
                f"{o.idle_s / 3600:>18.1f}{o.starts:>8}"
            )
        totals[name] = total
        print(
            f"{name:<14}{'ALL':<10}{total.calls:>8}{100 * total.cold / total.calls:>8.1f}%"
            f"{total.idle_s / 3600:>18.1f}{total.starts:>8}"
        )
        print()
    a, f30, f10 = totals["adaptive"], totals["fixed 30 s"], totals["fixed 10 min"]
    modes = ", ".join(f"{k} {v}" for k, v in sorted(a.modes.items()))
    print(f"adaptive decisions after calls: {modes}")
    print(
        f"adaptive vs fixed 30 s: cold starts {100 * a.cold / a.calls:.1f}% vs "
        f"{100 * f30.cold / f30.calls:.1f}% ({a.cold / max(1, f30.cold):.2f}×)"
    )
    print(
        f"adaptive vs fixed 10 min: idle {a.idle_s / 3600:.1f} vs {f10.idle_s / 3600:.1f} "
        f"container-hours ({a.idle_s / max(1.0, f10.idle_s):.2f}×)"
    )
    ok = a.cold < f30.cold and a.idle_s < f10.idle_s
    print("adaptive beats fixed 30 s on cold starts and fixed 10 min on idle:", ok)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
