"""Closed-loop HTTP load from a separate process: ``wrk`` with a Lua script, else the aiohttp loadgen."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from benchkit.procs import Procs, python_cmd

LOADGEN_SCRIPT = Path(__file__).resolve().parent / "loadgen.py"

_LUA = """
local bodies = {
%(bodies)s
}
local n = #bodies
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"

setup = function(thread)
  thread:set("counter", math.random(1, n))
end

request = function()
  counter = counter + 1
  return wrk.format(nil, "%(path)s", nil, bodies[(counter %% n) + 1])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %%d, "duration_us": %%d, "errors_connect": %%d, "errors_read": %%d, ' ..
    '"errors_write": %%d, "errors_timeout": %%d, "non_2xx": %%d, ' ..
    '"p50_us": %%.1f, "p99_us": %%.1f, "max_us": %%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def lua_string(text: str) -> str:
    """A Lua string literal for any UTF-8 text (non-printable and non-ASCII bytes as decimal escapes)."""
    out = []
    for byte in text.encode("utf-8"):
        if 32 <= byte < 127 and byte not in (34, 92):
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


@dataclass(frozen=True)
class LoadResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    errors: int

    def to_json(self) -> dict[str, float]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _parse(output: str) -> LoadResult:
    line = next((ln for ln in reversed(output.splitlines()) if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"load generator printed no result:\n{output[-2000:]}")
    data = json.loads(line[len("BENCHJSON ") :])
    duration = data["duration_us"] / 1e6
    errors = sum(int(data[k]) for k in ("errors_connect", "errors_read", "errors_write", "errors_timeout"))
    return LoadResult(
        requests=int(data["requests"]),
        duration_s=duration,
        rps=data["requests"] / duration if duration > 0 else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        non_2xx=int(data["non_2xx"]),
        errors=errors,
    )


class LoadGen:
    """Runs one closed-loop load of ``connections`` connections for ``seconds`` against ``url``."""

    def __init__(
        self, kind: str, work_dir: Path, bodies: list[str], key: str, connections: int, threads: int
    ) -> None:
        self.kind = kind
        self.work_dir = work_dir
        self.connections = connections
        self.threads = threads
        self.key = key
        self.bodies_file = work_dir / "bodies.json"
        self.bodies_file.write_text(json.dumps(bodies), encoding="utf-8")
        self.lua_file = work_dir / "post.lua"
        lua_bodies = ",\n".join(lua_string(b) for b in bodies)
        self.lua_file.write_text(_LUA % {"bodies": lua_bodies, "key": key, "path": "/v1/comments"})

    def run(self, procs: Procs, base_url: str, seconds: int, name: str) -> LoadResult:
        if self.kind == "wrk":
            args = [
                "wrk", "-t", str(self.threads), "-c", str(self.connections), "-d", f"{seconds}s",
                "--timeout", "10s", "-s", str(self.lua_file), base_url,
            ]  # fmt: skip
        else:
            args = python_cmd(
                str(LOADGEN_SCRIPT), "--url", base_url + "/v1/comments", "--seconds", str(seconds),
                "--connections", str(self.connections), "--bodies", str(self.bodies_file), "--key", self.key,
            )  # fmt: skip
        proc = procs.start(name, args)
        try:
            proc.wait(seconds + 60)
        except subprocess.TimeoutExpired:
            procs.stop(proc)
            raise RuntimeError(f"{name}: the load generator did not finish") from None
        procs.stop(proc)
        if proc.returncode != 0:
            tail = procs.log_tail(name)
            raise RuntimeError(f"{name}: load generator exited with {proc.returncode}:\n{tail}")
        return _parse((procs.log_dir / f"{name}.log").read_text(errors="replace"))
