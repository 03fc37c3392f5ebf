"""The bot as a real child process, pointed at the Bot API double: for tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.apidouble import BotApiDouble
from tests.support import CONTENT_DIR

ROOT = Path(__file__).resolve().parents[1]


class BotProcess:
    """Run `python -m bot run` (or `argv`) in a child process, pointed at the double.

    `mode` is "polling" or "webhook". Every start appends to the same log file.
    """

    # Seconds to wait for a start to be ready; a benchmark on a loaded machine waits longer.
    start_timeout = 30.0

    def __init__(
        self,
        double: BotApiDouble,
        db_url: str,
        log: Path,
        mode: str = "polling",
        *,
        extra_env: Mapping[str, str] | None = None,
        argv: Sequence[str] | None = None,
    ) -> None:
        self.double, self.db_url, self.log, self.mode = double, db_url, log, mode
        self.extra_env = dict(extra_env or {})
        self.argv = list(argv) if argv is not None else ["-m", "bot", "run", f"--{mode}"]
        self.proc: asyncio.subprocess.Process | None = None
        self.port: int | None = None
        self.ready_method = "getUpdates"
        self._webhook_env: dict[str, str] = {}
        self._route: tuple[str, str] | None = None
        if mode == "webhook":
            # Imported only here: test_webhook brings pytest and the in-process harness,
            # which the benchmarks (always polling) do without.
            from tests.e2e.test_webhook import HOOK_PATH, PUBLIC, free_port

            # One port for every start, as a real deployment keeps its address.
            self.port = free_port()
            self._webhook_env = {
                "WEBHOOK_URL": PUBLIC + HOOK_PATH,
                "WEBHOOK_LISTEN": "127.0.0.1",
                "PORT": str(self.port),
            }
            self._route = (PUBLIC, f"http://127.0.0.1:{self.port}")
            self.ready_method = "setWebhook"

    def env(self) -> dict[str, str]:
        """Return the child's environment: the double, the database, the content and the mode."""
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": self.double.token,
            "TELEGRAM_API_URL": self.double.url,
            "DATABASE_URL": self.db_url,
            "CONTENT_DIR": str(CONTENT_DIR),
            "LOG_LEVEL": "INFO",
            **self._webhook_env,
            **self.extra_env,
        }
        if self.mode != "webhook":
            env.pop("WEBHOOK_URL", None)
        return env

    async def start(self, timeout: float | None = None) -> float:
        """Start the process and wait until it is ready; return the seconds that took.

        Ready means polling (getUpdates) or, in webhook mode, its webhook set (setWebhook).
        """
        if self._route is not None:
            self.double.route_webhook(*self._route)
        method = self.ready_method
        # Only requests made from now on prove this process is up; looking at the tail keeps
        # the check cheap with tens of thousands of requests recorded.
        seen = len(self.double.requests)
        started = time.perf_counter()
        with self.log.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *self.argv,
                cwd=ROOT,
                env=self.env(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        self.proc = proc

        def ready() -> bool:
            requests = self.double.requests[seen:]
            return proc.returncode is not None or any(r.method == method for r in requests)

        # The poll notices a process that died: its exit is no request to the double.
        await self.double.wait_for(
            ready,
            timeout=timeout or self.start_timeout,
            poll_interval=0.2,
            message=f"the bot process to start ({method})",
        )
        if proc.returncode is not None:
            raise RuntimeError(f"the bot process exited early ({proc.returncode}):\n{self.tail()}")
        return time.perf_counter() - started

    async def kill(self) -> None:
        """Kill the process with SIGKILL, as a crash would, and reap it (if it was started)."""
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def terminate(self, timeout: float = 30.0) -> tuple[int, float]:
        """Send SIGTERM, as hosting platforms do; return the exit code and seconds to exit."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        return code, time.monotonic() - started

    async def stop(self, timeout: float = 20.0) -> int:
        """Stop the process if it runs: SIGTERM, SIGKILL after `timeout`; return its exit code."""
        proc = self.proc
        if proc is None:
            return 0
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                proc.kill()
        return await proc.wait()

    def log_text(self) -> str:
        """Return everything the process wrote to its log, over all its starts."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 20) -> str:
        """Return the last lines of the log, or nothing if it cannot be read."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_text().splitlines()[-lines:])
        return ""
