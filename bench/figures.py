"""What a bench run measures and what it found: the plan of a run and its figures."""

from dataclasses import dataclass, field

from bench.admin import AdminResult
from bench.load import Measurement
from bench.web import FirstLoad


@dataclass(frozen=True)
class Plan:
    quick: bool
    warmup: float  # seconds of closed loop before the first measured window
    duration: float  # measured seconds of closed loop, over all turns
    rounds: int  # turns of program, then ceiling, so that both meet the same neighbours
    turn_warmup: float  # seconds of closed loop before the window of each later turn
    paced_duration: float  # seconds of the paced run at half the rate
    workers: int  # closed-loop users
    memory_users: int  # distinct newcomers of the memory run
    memory_warmup_users: int


QUICK = Plan(
    quick=True,
    warmup=1.0,
    duration=3.0,
    rounds=2,
    turn_warmup=0.5,
    paced_duration=2.5,
    workers=64,
    memory_users=2_000,
    memory_warmup_users=200,
)
FULL = Plan(
    quick=False,
    warmup=5.0,
    duration=20.0,
    rounds=4,
    turn_warmup=1.0,
    paced_duration=20.0,
    workers=64,
    memory_users=1_000_000,
    memory_warmup_users=5_000,
)


@dataclass
class ScenarioResult:
    name: str
    program: Measurement
    program_paced: Measurement
    ceiling: Measurement
    note: str = ""
    notifications: tuple[int, int] | None = None  # (arrived, expected)
    profile: list[str] = field(default_factory=list)  # py-spy's summary, with --profile


@dataclass
class MemoryResult:
    start_mb: float
    after_mb: float
    users: int
    seconds: float
    curve: list[tuple[int, float]] = field(default_factory=list)  # (users served, MB) on the way


@dataclass
class BenchResult:
    plan: Plan
    seconds: float = 0.0
    seeded_now: bool = False
    refs_page_ms: dict[str, float] = field(default_factory=dict)
    top_db_ms: dict[str, float] = field(default_factory=dict)  # the `top` part, per asker
    scenarios: list[ScenarioResult] = field(default_factory=list)
    memory: MemoryResult | None = None
    problems: dict[str, list[str]] = field(default_factory=dict)  # log lines per process
    busy_before: float = 0.0  # share of all cores busy before the run started its processes
    admin: AdminResult | None = None  # the `admin` part
    first_load: FirstLoad | None = None  # the web app's first load in a browser (`web`)
    api_workers: int = 1  # processes of `main.py api` in the API's scenarios (WEB_WORKERS)
