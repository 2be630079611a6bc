"""Optional sampling profiles of the program under load (`--profile`): py-spy records the process
during the first turn of a scenario's closed loop, as collapsed stacks, summed here by the frames
that burn time."""

import asyncio
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from bench.database import BENCH_DIR

PROFILES_DIR = BENCH_DIR / "profiles"
PY_SPY = Path(sys.executable).with_name("py-spy")
# Frames of the stack below the program that are worth a line of their own, by what they mean.
MARKERS = {
    "AiohttpSession.make_request": "Bot API calls (aiogram's session, both ways)",
    "create_generic_submodel": "pydantic re-creating Response[...] models (weakly cached)",
    "to_thread (": "sync filters sent to a thread (aiogram runs F-filters so)",
    "_worker (concurrent": "work in that thread pool",
    "greenlet_spawn (": "SQLAlchemy statements (building, asyncpg, waiting)",
    "BaseModel.model_validate_json": "parsing the update",
}
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")


@asynccontextmanager
async def recording(pid: int, name: str, seconds: float) -> AsyncIterator[Path]:
    """py-spy samples `pid` for `seconds` into `PROFILES_DIR/<name>.txt` (collapsed stacks)."""
    PROFILES_DIR.mkdir(parents=True, exist_ok=True)
    path = PROFILES_DIR / f"{name}.txt"
    argv = [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    # --gil: only the thread holding the GIL, so that time waiting in a syscall (a socket write
    # preempted on a busy machine) is not taken for work.
    argv += ["--rate", "200", "--gil", "--format", "raw", "--nonblocking", "--output", str(path)]
    argv += ["--subprocesses"]  # the worker processes too (WEB_WORKERS), summed
    spy = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        yield path
        await asyncio.wait_for(spy.wait(), seconds + 30)
    finally:
        if spy.returncode is None:
            with suppress(ProcessLookupError):
                spy.kill()
            await spy.wait()


def where(frame: str) -> str:
    """`function (path/to/module.py:12)` as `module.function`, with the package kept."""
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        file = file.rpartition(marker)[2] if marker in file else file
    return f"{file.removesuffix('.py').replace('/', '.')}.{match['function']}"


def summary(path: Path, top: int = 10) -> list[str]:
    """Where the samples were: the top frames by own time, the program's own frames by the time
    spent below them, and a few telling parts of the stack."""
    if not path.exists():
        return [f"no profile at {path}"]
    own: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    marked: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [where(frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for marker, meaning in MARKERS.items():
            if marker in stack:
                marked[meaning] += count
        for frame in set(frames):
            if frame.startswith(("bot.", "db.", "api.")):
                ours[frame] += count
    if not total:
        return ["no samples"]
    lines = [f"{total} samples; own time:"]
    lines += [f"    {count / total:6.1%}  {frame}" for frame, count in own.most_common(top)]
    lines.append("  inclusive time in the program's own code:")
    lines += [f"    {count / total:6.1%}  {frame}" for frame, count in ours.most_common(top)]
    lines.append("  inclusive time in parts of the stack:")
    lines += [f"    {count / total:6.1%}  {meaning}" for meaning, count in marked.most_common()]
    return lines
