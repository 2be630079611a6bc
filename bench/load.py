"""The load generator: closed loop (fixed concurrency, as fast as the target answers) for the rate,
paced open loop for latency, and what each measured window found."""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

from bench.client import Sample
from bench.pools import PoolExhausted

Unit = Callable[[], Awaitable[list[Sample]]]  # what one user does: one update, or a journey


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, in clock ticks, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


async def machine_busy(seconds: float) -> float:
    """The busy share of all cores over the next `seconds` (whoever keeps them busy)."""
    busy, total = machine_jiffies()
    await asyncio.sleep(seconds)
    busy_after, total_after = machine_jiffies()
    return (busy_after - busy) / max(1, total_after - total)


@dataclass
class Usage:
    """CPU use during a window: the measured process, this harness, the whole machine."""

    seconds: float
    process: float
    harness: float
    machine: tuple[int, int]

    @classmethod
    def now(cls, cpu_seconds: Callable[[], float]) -> "Usage":
        return cls(time.perf_counter(), cpu_seconds(), time.process_time(), machine_jiffies())


@dataclass
class Measurement:
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    dropped: int = 0  # paced arrivals not sent: too many in flight
    harness_share: float = 0.0  # CPU of this harness over the window, in cores
    machine_busy: float = 0.0  # of all cores, 0..1

    @classmethod
    def combined(cls, parts: list["Measurement"]) -> "Measurement":
        """Several windows as one: their seconds, CPU and samples added up."""
        seconds = sum(part.seconds for part in parts)

        def weighted(value: Callable[[Measurement], float]) -> float:
            return sum(value(part) * part.seconds for part in parts) / seconds if seconds else 0.0

        return cls(
            seconds,
            sum(part.cpu_seconds for part in parts),
            [sample for part in parts for sample in part.samples],
            sum(part.dropped for part in parts),
            weighted(lambda part: part.harness_share),
            weighted(lambda part: part.machine_busy),
        )

    @classmethod
    def between(cls, start: Usage, end: Usage, samples: list[Sample]) -> "Measurement":
        seconds = end.seconds - start.seconds
        busy = end.machine[0] - start.machine[0]
        total = end.machine[1] - start.machine[1]
        return cls(
            seconds,
            end.process - start.process,
            samples,
            harness_share=(end.harness - start.harness) / seconds if seconds else 0.0,
            machine_busy=busy / total if total else 0.0,
        )

    @property
    def served(self) -> int:
        return sum(1 for sample in self.samples if sample.error is None)

    @property
    def rate(self) -> float:
        return self.served / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_update(self) -> float:
        return 1000 * self.cpu_seconds / self.served if self.served else 0.0

    def errors(self) -> Counter[str]:
        return Counter(sample.error for sample in self.samples if sample.error is not None)

    def percentile_ms(self, fraction: float) -> float:
        latencies = sorted(sample.latency for sample in self.samples)
        if not latencies:
            return 0.0
        rank = min(len(latencies) - 1, max(0, round(fraction * len(latencies)) - 1))
        return 1000 * latencies[rank]


async def closed_loop(
    unit: Unit,
    *,
    workers: int,
    warmup: float,
    duration: float,
    cpu_seconds: Callable[[], float],
) -> Measurement:
    """`workers` users back to back for `warmup + duration` s; measures the last `duration` s."""
    samples: list[Sample] = []
    marks: list[Usage] = []  # at the window's ends
    begin = time.perf_counter()
    deadline = begin + warmup + duration

    async def worker() -> None:
        while time.perf_counter() < deadline:
            try:
                samples.extend(await unit())
            except PoolExhausted:
                return

    async def mark_window() -> None:
        await asyncio.sleep(warmup)
        marks.append(Usage.now(cpu_seconds))
        await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
        marks.append(Usage.now(cpu_seconds))

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    async with _cancelled_on_error(tasks):
        await asyncio.wait_for(mark_window(), warmup + duration + 10)
        await _finish(tasks, within=60)
    start, end = marks
    in_window = [sample for sample in samples if start.seconds <= sample.finished <= end.seconds]
    return Measurement.between(start, end, in_window)


async def count_loop(unit: Unit, *, workers: int, within: float) -> int:
    """`workers` users back to back until the pool behind `unit` runs out: the updates served."""
    served = 0

    async def worker() -> None:
        nonlocal served
        while True:
            try:
                samples = await unit()
            except PoolExhausted:
                return
            served += sum(1 for sample in samples if sample.error is None)

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    async with _cancelled_on_error(tasks):
        await _finish(tasks, within=within)
    return served


async def paced(
    unit: Unit,
    *,
    rate: float,
    duration: float,
    cpu_seconds: Callable[[], float],
    max_in_flight: int = 2000,
) -> Measurement:
    """Start `unit` `rate` times per second for `duration` s whatever the answers (open loop)."""
    count = max(1, round(rate * duration))
    samples: list[Sample] = []
    in_flight: set[asyncio.Task[None]] = set()
    dropped = 0

    async def run() -> None:
        with suppress(PoolExhausted):
            samples.extend(await unit())

    start = Usage.now(cpu_seconds)
    begin = start.seconds
    started: list[asyncio.Task[None]] = []
    async with _cancelled_on_error(started):
        for number in range(count):
            delay = begin + number / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= max_in_flight:
                dropped += 1
                continue
            task = asyncio.create_task(run())
            started.append(task)
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await _finish(list(in_flight), within=60)
    measurement = Measurement.between(start, Usage.now(cpu_seconds), samples)
    measurement.dropped = dropped
    return measurement


@asynccontextmanager
async def _cancelled_on_error(tasks: list[asyncio.Task[None]]) -> AsyncIterator[None]:
    """If the block fails or is cancelled (the run is stopped), cancel `tasks` too: no simulated
    user outlives the run."""
    try:
        yield
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _finish(tasks: list[asyncio.Task[None]], *, within: float) -> None:
    """Wait for `tasks` at most `within` s, then cancel what is left."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=within)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
