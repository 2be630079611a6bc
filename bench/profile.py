"""Optional sampling profiles of the program under load (`--profile`): py-spy records the process
during a scenario's closed loop, as collapsed stacks, summed here by the frames that burn time."""

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
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")


@asynccontextmanager
async def recording(pid: int, name: str, seconds: float) -> AsyncIterator[Path]:
    """py-spy samples `pid` for `seconds` into `PROFILES_DIR/<name>.txt` (collapsed stacks)."""
    PROFILES_DIR.mkdir(parents=True, exist_ok=True)
    path = PROFILES_DIR / f"{name}.txt"
    argv = [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    argv += ["--rate", "200", "--format", "raw", "--nonblocking", "--output", str(path)]
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
    """Where the samples were: the top frames by own time, and by time spent below them in the
    program's own packages (what part of the program led there)."""
    if not path.exists():
        return [f"no profile at {path}"]
    own: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [where(frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            if frame.startswith(("bot.", "db.", "api.")):
                ours[frame] += count
    if not total:
        return ["no samples"]
    lines = [f"{total} samples; own time:"]
    lines += [f"    {count / total:6.1%}  {frame}" for frame, count in own.most_common(top)]
    lines.append("  inclusive time in the program's own code:")
    lines += [f"    {count / total:6.1%}  {frame}" for frame, count in ours.most_common(top)]
    return lines
