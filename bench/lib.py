"""Shared benchmark plumbing: tools, a real server, load generators, results.

Every figure is a ratio against a baseline measured in the same run on the same
server (these machines are shared and noisy), plus the absolute numbers for
context. Nothing here is imported by the product.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "bench" / ".build"
RESULTS = ROOT / "bench" / "results"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BASE = os.environ.get("BENCH_PG_BASE", "postgres://postgres@127.0.0.1:5432")
REDIS_BENCH_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- tools -----------------------------------------------------------------------------
def ensure_tools() -> Path:
    """wrk from Debian (installed if missing and we may), our open-loop generator
    compiled from bench/loadgen.c."""
    if shutil.which("wrk") is None:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        log("installing wrk (apt-get install wrk)")
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True)
    BUILD.mkdir(parents=True, exist_ok=True)
    binary = BUILD / "loadgen"
    source = ROOT / "bench" / "loadgen.c"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        subprocess.run(["gcc", "-O2", "-Wall", "-o", str(binary), str(source)], check=True)
    return binary


# --- environments ---------------------------------------------------------------------
def services_env(database: str = "miniops_bench") -> dict[str, str]:
    """PostgreSQL + Redis environment (creates the database if needed)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    env = base_env()
    env["DATABASE_URL"] = f"{PG_BASE}/{database}"
    env["REDIS_URL"] = REDIS_BENCH_URL
    return env


def demo_shop_env(database: str = "miniops_bench") -> dict[str, str]:
    """``services_env`` with the database migrated and the demo shop seeded (the
    seeder skips a shop that is there already)."""
    ensure_tools()
    env = services_env(database)
    manage(env, "migrate", "--no-input", "-v0")
    log("seeding the demo shop (skipped when present)")
    manage(env, "seed_demo", "--quiet-bar")
    return env


def embedded_env(var_dir: Path) -> dict[str, str]:
    env = base_env()
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env["MINIOPS_VAR_DIR"] = str(var_dir)
    return env


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIOPS_")}
    env.update(
        {
            "MINIOPS_ENV": "development",
            "LOG_LEVEL": "WARNING",
            # Benchmarks come from one address: lift the per-client rate limits.
            "MINIOPS_API_RATE_ANON": "100000000/m",
            "MINIOPS_API_RATE_AUTH": "100000000/m",
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


# --- the server ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (children of the supervisor), or the
        server itself with one worker."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = [int(p) for p in children.read_text().split()] if children.exists() else []
        workers = [
            pid
            for pid in pids
            if "spawn_main" in _cmdline(pid) and "resource_tracker" not in _cmdline(pid)
        ]
        return workers or [self.process.pid]

    def rss_mb(self) -> list[float]:
        return [round(_rss_kb(pid) / 1024, 1) for pid in self.worker_pids()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextmanager
def server(env: dict[str, str], *, workers: int = 2) -> Iterator[Server]:
    port = free_port()
    # A file, not a pipe: a server that logs a lot would block on a full pipe.
    BUILD.mkdir(parents=True, exist_ok=True)
    log_path = Path(BUILD) / f"server-{port}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        [
            PYTHON,
            "manage.py",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-worker",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
    )
    instance = Server(process, port)
    try:
        deadline = time.monotonic() + float(
            os.environ.get("BENCH_BOOT_SECONDS", "180")
        )  # loaded 2-core machine
        while True:
            try:
                with urllib.request.urlopen(f"{instance.base}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log_path.read_text(errors="replace")[-5000:]) from None
                time.sleep(0.3)
        time.sleep(1.0)  # let every worker finish booting
        yield instance
    finally:
        workers_left = instance.worker_pids() if process.poll() is None else []
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        # A supervisor killed while its workers drain thousands of sockets leaves them
        # behind, holding connections and channel-layer groups into the next run.
        _reap([pid for pid in workers_left if pid != process.pid])
        log_file.close()


def _reap(pids: list[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while alive and time.monotonic() < deadline:
            alive = [pid for pid in alive if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
            time.sleep(0.2)
        pids = alive
        if not pids:
            return


def _zombie(pid: int) -> bool:
    try:
        return ") Z " in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True


# --- load ------------------------------------------------------------------------------------
def warm(url: str, seconds: float = 3) -> None:
    wrk(url, seconds=seconds)


def wrk(
    url: str,
    *,
    seconds: float = 10,
    connections: int = 32,
    threads: int = 2,
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Closed-loop throughput (as fast as the server answers)."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    return {
        "rps": round(rps, 1),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "p99_ms": _to_ms(p99.group(1), p99.group(2)) if p99 else None,
    }


def _to_ms(value: str, unit: str) -> float:
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)


def open_loop(
    base: str,
    path: str,
    *,
    rate: int,
    seconds: float = 15,
    connections: int = 64,
    method: str = "GET",
    body: Path | None = None,
    headers: list[str] | None = None,
) -> dict[str, Any]:
    """Latency at a fixed arrival rate, measured from each request's scheduled
    start (no coordinated omission)."""
    binary = ensure_tools()
    host, port = base.removeprefix("http://").split(":")
    args = [str(binary), host, port, str(rate), str(seconds), str(connections), method, path]
    args.append(str(body) if body else "-")
    args.extend(headers or [])
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out))


# --- member writes against /healthz ---------------------------------------------------------
def post_json(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as answer:
        return dict(json.load(answer))


def member_sign_in(base: str, code: str) -> tuple[str, str]:
    """A member signed in through ``/api/v1/auth/wechat-login`` (the simulator):
    their access token, and a salt from the refresh token that keeps this run's
    Idempotency-Keys apart from an earlier run's."""
    login = post_json(f"{base}/api/v1/auth/wechat-login", {"code": code})
    return str(login["access_token"]), str(login["refresh_token"])[-8:]


def write_rounds(
    base: str,
    path: str,
    *,
    name: str,
    script: Path,
    script_env: dict[str, str],
    token: str,
    salt: str,
    bodies: Path,
    rates: dict[str, int],
    rounds: int = 3,
    seconds: float = 20,
) -> list[dict[str, Any]]:
    """A member's retryable write (``POST path`` with a fresh Idempotency-Key each)
    against ``GET /healthz`` of the same server, ``rounds`` interleaved rounds. Each
    round: wrk on /healthz, wrk on the write (``script``, with ``script_env``),
    the open loop on /healthz at 200/s, then the write in the open loop at each
    of ``rates`` (label → requests/s, bodies from the ``bodies`` file, ``{n}`` in
    the key); 5 s to drain after each round. Results per round under "health",
    ``name``, "health_open" and each label."""
    warm(base + "/healthz")
    wrk(base + path, seconds=3, script=script, env=script_env)
    results = []
    for index in range(rounds):
        log(f"round {index + 1}/{rounds}")
        row: dict[str, Any] = {
            "health": wrk(base + "/healthz"),
            name: wrk(base + path, script=script, env=script_env),
            "health_open": open_loop(base, "/healthz", rate=200, seconds=seconds),
        }
        for label, rate in rates.items():
            row[label] = open_loop(
                base,
                path,
                rate=rate,
                seconds=seconds,
                connections=64,
                method="POST",
                body=bodies,
                headers=[
                    "Content-Type: application/json",
                    f"Authorization: Bearer {token}",
                    f"Idempotency-Key: bench-{label}-{index}-{{n}}-{salt}",
                ],
            )
        time.sleep(5)  # let the server drain before the next round
        results.append(row)
    return results


def ratio_row(rounds: list[dict[str, Any]], name: str, unit: str) -> dict[str, Any]:
    """Throughput of ``name`` against /healthz: medians, and the ratio per round."""
    import statistics

    med = statistics.median
    return {
        f"{unit}/s (wrk, median)": round(med(r[name]["rps"] for r in rounds), 1),
        "/healthz req/s (median)": round(med(r["health"]["rps"] for r in rounds), 1),
        "ratio (median of rounds)": round(
            med(r[name]["rps"] / r["health"]["rps"] for r in rounds), 3
        ),
        "ratio per round": ", ".join(f"{r[name]['rps'] / r['health']['rps']:.3f}" for r in rounds),
    }


def latency(rounds: list[dict[str, Any]], label: str) -> str:
    """p99 of an open-loop series: median / worst round, in ms."""
    import statistics

    values = [r[label]["p99_ms"] for r in rounds]
    return f"{statistics.median(values):.1f} / {max(values):.1f}"


# --- results -------------------------------------------------------------------------------------
def save(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "at": time.strftime("%Y-%m-%d %H:%M:%S"), **payload}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    log(f"results in {path.relative_to(ROOT)}")
    return path


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def interleaved(
    base: str,
    paths: dict[str, str],
    *,
    rounds: int = 3,
    wrk_seconds: float = 5,
    rate: int = 1000,
    open_seconds: float = 10,
) -> dict[str, dict[str, Any]]:
    """Measure every endpoint in turn, ``rounds`` times, so that noise from other
    tenants of the machine hits all of them alike; report medians (and the worst
    p99). Ratios are taken within each round, against the first path, then the
    median of those is reported."""
    import statistics

    names = list(paths)
    throughput: dict[str, list[float]] = {n: [] for n in names}
    ratios: dict[str, list[float]] = {n: [] for n in names}
    p99: dict[str, list[float]] = {n: [] for n in names}
    p50: dict[str, list[float]] = {n: [] for n in names}
    errors: dict[str, int] = dict.fromkeys(names, 0)
    for index in range(rounds):
        log(f"round {index + 1}/{rounds}")
        round_rps = {}
        for name in names:
            result = wrk(base + paths[name], seconds=wrk_seconds)
            round_rps[name] = result["rps"]
            throughput[name].append(result["rps"])
            errors[name] += result["non_2xx"]
        for name in names:
            ratios[name].append(round_rps[name] / round_rps[names[0]])
        for name in names:
            result = open_loop(base, paths[name], rate=rate, seconds=open_seconds)
            p99[name].append(result["p99_ms"])
            p50[name].append(result["p50_ms"])
            errors[name] += result["errors"] + result["status_5xx"] + result["timeouts"]
    return {
        name: {
            "rps_median": round(statistics.median(throughput[name]), 1),
            "rps_all": throughput[name],
            "ratio_median": round(statistics.median(ratios[name]), 2),
            "ratio_all": [round(r, 2) for r in ratios[name]],
            "p99_median_ms": round(statistics.median(p99[name]), 2),
            "p99_worst_ms": max(p99[name]),
            "p50_median_ms": round(statistics.median(p50[name]), 2),
            "errors": errors[name],
        }
        for name in names
    }
