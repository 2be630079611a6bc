"""Start-up of `main.py` refuses bad settings in one line, before touching anything."""

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


async def run_main(env: dict[str, str], *arguments: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "main.py",
        *arguments,
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, (out + err).decode()


async def test_malformed_setting_stops_start_up_with_one_line(tmp_path: Path) -> None:
    code, output = await run_main({"CODE_LENGTH": "9", "DATA_DIR": str(tmp_path)}, "api")
    assert code == 2
    assert output.strip().splitlines() == [
        "setting CODE_LENGTH: Input should be less than or equal to 8 (got '9')"
    ]
    assert not (tmp_path / "postgres").exists()


async def test_webhook_commands_without_token_say_where_to_get_one(tmp_path: Path) -> None:
    code, output = await run_main({"DATA_DIR": str(tmp_path)}, "set-webhook")
    assert code == 2
    [line] = output.strip().splitlines()
    assert "BOT_TOKEN" in line and "@BotFather" in line
