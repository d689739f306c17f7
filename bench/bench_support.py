"""Customer-service WebSockets on PostgreSQL + Redis, ``serve --workers 2`` (two
processes, so messages cross through channels-redis), with real WebSocket clients
(``websockets``) on the same machine. The baseline, measured in the same run, is
a raw Redis pub/sub round trip at the same rate. Reported:

* sockets held open (authenticated member sockets) and resident memory per worker;
* member → agent delivery at a fixed message rate: p50/p99 against the Redis
  baseline, lost and duplicated messages (checked by conversation and seq);
* members dropped and reconnected mid-stream (agents keep sending): resumed with
  ``after=<last seq>``, lost and duplicated messages;
* the automatic assignment decision with 50 agents online and 1,000 waiting
  conversations (in-process, PostgreSQL), p50/p99.

Sizes: ``BENCH_SOCKETS`` (2000), ``BENCH_RATE`` (msg/s, 1000), ``BENCH_SECONDS``
(60), ``BENCH_RECONNECT`` (500)."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import subprocess
import time
from typing import Any

import lib

SOCKETS = int(os.environ.get("BENCH_SOCKETS", "2000"))
RATE = int(os.environ.get("BENCH_RATE", "1000"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "60"))
RECONNECT = int(os.environ.get("BENCH_RECONNECT", "500"))
AGENTS = int(os.environ.get("BENCH_AGENTS", "20"))


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def setup(env: dict[str, str], members: int) -> dict[str, Any]:
    script = (lib.ROOT / "bench" / "support_setup.py").read_text()
    run_env = {**env, "BENCH_MEMBERS": str(members), "BENCH_AGENTS": str(AGENTS)}
    out = subprocess.run(
        [lib.PYTHON, "manage.py", "shell", "-c", script],
        cwd=lib.ROOT,
        env=run_env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
    return json.loads(line.removeprefix("BENCH_JSON "))


async def redis_baseline(rate: int, seconds: int) -> dict[str, Any]:
    import redis.asyncio as aioredis

    client = aioredis.from_url(lib.REDIS_BENCH_URL)
    pubsub = client.pubsub()
    await pubsub.subscribe("bench.support.baseline")
    latencies: list[float] = []
    total = rate * seconds

    async def reader() -> None:
        while len(latencies) < total:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg:
                latencies.append(time.perf_counter() - float(msg["data"]))

    task = asyncio.create_task(reader())
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await client.publish("bench.support.baseline", repr(time.perf_counter()))
    try:
        await asyncio.wait_for(task, timeout=10)
    except TimeoutError:
        task.cancel()
    await pubsub.aclose()
    await client.aclose()
    return {
        "n": len(latencies),
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
    }


async def member_socket(ws_base: str, token: str) -> Any:
    import websockets

    # No permessage-deflate: wx.connectSocket does not offer it unless asked
    # (``perMessageDeflate`` defaults to false); the console's browser does.
    ws = await websockets.connect(
        f"{ws_base}/ws/support/member/", max_queue=None, open_timeout=60, compression=None
    )
    await ws.send(json.dumps({"type": "auth", "token": token}))
    while json.loads(await ws.recv())["type"] != "hello":
        pass
    return ws


async def agent_socket(ws_base: str, origin: str, cookie: str) -> Any:
    import websockets

    return await websockets.connect(
        f"{ws_base}/ws/support/agent/",
        additional_headers={"Cookie": f"miniops_session={cookie}"},
        origin=origin,
        max_queue=None,
        open_timeout=60,
    )


async def hold(ws_base: str, members: list[dict[str, Any]]) -> list[Any]:
    sockets = []
    for start in range(0, len(members), 100):
        batch = members[start : start + 100]
        sockets += await asyncio.gather(*(member_socket(ws_base, m["token"]) for m in batch))
    return sockets


async def delivery(
    ws_base: str,
    origin: str,
    data: dict[str, Any],
    members: list[Any],
    sockets: list[Any],
    rate: int,
    seconds: int,
) -> dict[str, Any]:
    """Members send at ``rate``; agents receive (``notice`` frames of their
    conversations); latency from the scheduled send to the agent's receipt."""
    agents = {a["id"]: await agent_socket(ws_base, origin, a["cookie"]) for a in data["agents"]}
    for ws in agents.values():
        await ws.recv()  # hello
    sent: dict[str, float] = {}
    seen: dict[tuple[int, int], int] = {}
    latencies: list[float] = []
    total = rate * seconds

    async def read_agent(ws: Any) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") not in ("notice", "message"):
                continue
            m = frame["message"]
            if m["sender"] != "member":
                continue
            key = (m["conversation"], m["seq"])
            seen[key] = seen.get(key, 0) + 1
            at = sent.get(m["client_id"])
            if at is not None and seen[key] == 1:
                latencies.append(time.perf_counter() - at)

    member_frames: collections.Counter[str] = collections.Counter()

    async def drain(ws: Any) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            key = frame.get("type", "?")
            if key == "error":
                key = f"error:{frame.get('code')}"
            member_frames[key] += 1

    readers = [asyncio.create_task(read_agent(ws)) for ws in agents.values()]
    drains = [asyncio.create_task(drain(ws)) for ws in sockets]
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        k = i % len(sockets)
        cid = f"b{i}"
        sent[cid] = due
        await sockets[k].send(
            json.dumps(
                {
                    "type": "send",
                    "conversation": members[k]["conversation"],
                    "text": f"m{i}",
                    "client_id": cid,
                }
            )
        )
    elapsed = time.perf_counter() - start
    deadline = time.perf_counter() + 30
    while len(latencies) < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)
    for task in readers + drains:
        task.cancel()
    for ws in agents.values():
        await ws.close()
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    return {
        "sent": total,
        "offered_rate": round(total / elapsed),
        "received": len(latencies),
        "lost": total - len({k for k in seen}),
        "duplicated": duplicates,
        "member_frames": dict(member_frames),
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
    }


async def reconnect(ws_base: str, origin: str, data: dict[str, Any], count: int) -> dict[str, Any]:
    """Agents send to ``count`` members continuously; each member drops its socket
    once mid-stream and resumes with the last seq it saw. What was stored is what the
    agents' acks say; lost = stored and never seen by the member."""
    import websockets

    rows = [m for m in data["members"] if m["agent"]][:count]
    agents = {a["id"]: await agent_socket(ws_base, origin, a["cookie"]) for a in data["agents"]}
    for ws in agents.values():
        await ws.recv()
    per_member = 6
    per_agent = max(1, -(-len(rows) // max(1, len(agents))))
    stored: dict[int, set[int]] = {r["conversation"]: set() for r in rows}
    seen: dict[int, list[int]] = {r["conversation"]: [] for r in rows}
    by_client: dict[str, int] = {}
    resumed: dict[int, tuple[int, float]] = {}
    late: dict[int, dict[str, Any]] = {}
    sent_at = [0.0]
    acked_at: dict[tuple[int, int], float] = {}
    errors: collections.Counter[str] = collections.Counter()
    sending = True

    async def read_acks(ws: Any) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "ack" and frame.get("client_id") in by_client:
                conv = by_client[frame["client_id"]]
                stored[conv].add(frame["seq"])
                acked_at[(conv, frame["seq"])] = round(time.perf_counter() - began, 2)
            elif frame.get("type") == "error":
                errors[f"agent:{frame.get('code')}"] += 1

    def complete(conv: int) -> bool:
        return not sending and stored[conv] <= set(seen[conv])

    async def member(row: dict[str, Any]) -> None:
        conv = row["conversation"]
        got = seen[conv]
        ws = await member_socket(ws_base, row["token"])
        await ws.send(json.dumps({"type": "resume", "conversation": conv, "after": 0}))
        dropped = False
        deadline = time.perf_counter() + 120
        while time.perf_counter() < deadline and not complete(conv):
            if not sending and time.perf_counter() > sent_at[0] + 15:
                break  # 15 s after the last ack: what has not come live will not
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=1)
            except TimeoutError:
                continue
            except websockets.ConnectionClosed:  # not ours: count it and resume
                errors["unplanned_close"] += 1
                raw = None
                dropped = False
            if raw:
                frame = json.loads(raw)
                if frame.get("type") == "message" and frame["message"]["sender"] == "agent":
                    got.append(frame["message"]["seq"])
                elif frame.get("type") == "error":
                    errors[f"member:{frame.get('code')}"] += 1
                if dropped or len(got) < per_member // 2:
                    continue
            await ws.close()
            await asyncio.sleep(0.5)
            ws = await member_socket(ws_base, row["token"])
            after = max(got) if got else 0
            resumed[conv] = (after, round(time.perf_counter() - began, 2))
            await ws.send(json.dumps({"type": "resume", "conversation": conv, "after": after}))
            dropped = True
        if not complete(conv):
            # Does the socket's heartbeat bring what did not come live?
            missing = len(stored[conv] - set(got))
            await ws.send(json.dumps({"type": "ping"}))  # the heartbeat fills a gap
            until = time.perf_counter() + 5
            while time.perf_counter() < until and not complete(conv):
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=1))
                except TimeoutError:
                    continue
                if frame.get("type") == "message" and frame["message"]["sender"] == "agent":
                    got.append(frame["message"]["seq"])
            import redis.asyncio as aioredis

            client = aioredis.from_url(lib.REDIS_BENCH_URL)
            in_group = await client.zcard(f"miniops:channels:group:support.conv.{conv}")
            await client.aclose()
            late[conv] = {
                "missing": missing,
                "after_ping": len(stored[conv] - set(got)),
                "in_group": in_group,
            }
        await ws.close()

    async def agent_sender() -> None:
        nonlocal sending
        for n in range(per_member):
            for row in rows:
                cid = f"r{row['conversation']}-{n}"
                by_client[cid] = row["conversation"]
                await agents[row["agent"]].send(
                    json.dumps(
                        {
                            "type": "send",
                            "conversation": row["conversation"],
                            "text": f"a{n}",
                            "client_id": cid,
                        }
                    )
                )
            # an agent socket may send 10 frames a second (burst 20): stay under it
            await asyncio.sleep(max(0.5, per_agent / 8))
        await asyncio.sleep(5)  # the last acks
        sent_at[0] = time.perf_counter()
        sending = False

    began = time.perf_counter()
    readers = [asyncio.create_task(read_acks(ws)) for ws in agents.values()]
    tasks = [asyncio.create_task(member(r)) for r in rows]
    await asyncio.sleep(1)
    await agent_sender()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    took = time.perf_counter() - began
    for task in readers:
        task.cancel()
    for ws in agents.values():
        await ws.close()
    failed = [repr(x)[:120] for x in outcomes if isinstance(x, BaseException)]
    lost = sum(len(stored[c] - set(seen[c])) for c in stored)
    incomplete = [
        {
            "conversation": c,
            "missing": sorted((x, acked_at.get((c, x))) for x in stored[c] - set(seen[c])),
            "seen": seen[c],
            "resumed_after": resumed.get(c),
        }
        for c in stored
        if stored[c] - set(seen[c])
    ]
    dup = sum(len(g) - len(set(g)) for g in seen.values())
    return {
        "members": len(rows),
        "messages_each": per_member,
        "stored": sum(len(v) for v in stored.values()),
        "lost": lost,
        "duplicated": dup,
        "errors": dict(errors),
        "members_failed": len(failed),
        "first_failures": failed[:3],
        "seconds": round(took, 1),
        "incomplete_members": len(incomplete),
        "late_live": {
            "members": len(late),
            "missing": sum(x["missing"] for x in late.values()),
            "missing_after_ping": sum(x["after_ping"] for x in late.values()),
            "group_sizes": sorted(x["in_group"] for x in late.values())[:20],
        },
        "first_incomplete": incomplete[:4],
    }


def profile(pids: list[int], seconds: int) -> list[subprocess.Popen[bytes]]:
    """``BENCH_PYSPY=<path to py-spy>``: sample each worker during delivery, raw
    collapsed stacks in ``bench/.build/support-<pid>.txt``."""
    spy = os.environ.get("BENCH_PYSPY")
    if not spy:
        return []
    return [
        subprocess.Popen(
            [
                spy,
                "record",
                "-p",
                str(pid),
                "-d",
                str(seconds),
                "-r",
                "50",
                "-f",
                "raw",
                "-o",
                str(lib.BUILD / f"support-{pid}.txt"),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


def assignment(env: dict[str, str]) -> dict[str, Any]:
    script = """
import time, json
from django.db.models import F
from miniops.accounts.models import Operator
from miniops.support.models import AgentStatus, Conversation, Queue
from miniops.support.services import conversations as c
from miniops.members.models import Member
Conversation.objects.all().delete()
AgentStatus.objects.all().delete()
q = Queue.objects.get(code='general')
ops = [Operator.objects.get_or_create(username=f'bench-assign-{i}')[0] for i in range(50)]
for op in ops:
    AgentStatus.objects.create(operator=op, state='online', capacity=20)
members = list(Member.objects.filter(openid__startswith='oBENCH')[:1000])
Conversation.objects.bulk_create(
    [Conversation(member=m, queue=q, waiting_since=m.registered_at) for m in members]
)
times = []
while True:
    t = time.perf_counter(); r = c._assign_one(); times.append(time.perf_counter() - t)
    if not isinstance(r, tuple): break
times.sort()
print('BENCH_JSON ' + json.dumps({'decisions': len(times) - 1, 'waiting': len(members),
  'p50_ms': times[len(times)//2]*1000, 'p99_ms': times[int(len(times)*0.99)]*1000}))
"""
    out = subprocess.run(
        [lib.PYTHON, "manage.py", "shell", "-c", script],
        cwd=lib.ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
    return json.loads(line.removeprefix("BENCH_JSON "))


def forget_groups() -> None:
    """Channel-layer keys of an earlier run that died out of the bench's Redis
    database: the same agents rejoin their groups each run, and channels-redis keeps
    a socket that never said goodbye in its groups for a day, so every delivery would
    also go to the dead sockets of that run."""
    import redis

    client = redis.Redis.from_url(lib.REDIS_BENCH_URL)
    keys = list(client.scan_iter("miniops:channels*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    client.close()


def run() -> dict:
    env = lib.services_env()
    lib.manage(env, "migrate", "--no-input", "-v0")
    forget_groups()
    members = max(SOCKETS, RECONNECT)
    lib.log(f"setting up {members} members, {AGENTS} agents")
    data = setup(env, members)
    result: dict[str, Any] = {}
    with lib.server(env, workers=2) as srv:
        ws_base = srv.base.replace("http://", "ws://")
        origin = srv.base

        async def main() -> None:
            lib.log(f"holding {SOCKETS} member sockets")
            sockets = await hold(ws_base, data["members"][:SOCKETS])
            result["held"] = {"sockets": len(sockets), "rss_mb_per_worker": srv.rss_mb()}
            lib.log("redis baseline")
            result["baseline"] = await redis_baseline(RATE, min(SECONDS, 20))
            lib.log(f"delivery at {RATE} msg/s for {SECONDS}s")
            profilers = profile(srv.worker_pids(), min(SECONDS, 30))
            result["delivery"] = await delivery(
                ws_base, origin, data, data["members"][:SOCKETS], sockets, RATE, SECONDS
            )
            result["rss_after_mb"] = srv.rss_mb()
            for proc in profilers:
                proc.wait()
            for ws in sockets:
                await ws.close()
            lib.log(f"reconnect {RECONNECT}")
            result["reconnect"] = await reconnect(ws_base, origin, data, RECONNECT)

        asyncio.run(main())
    lib.log("assignment")
    result["assignment"] = assignment(env)
    result["ratio_p99_vs_redis"] = round(
        result["delivery"]["p99_ms"] / max(result["baseline"]["p99_ms"], 1e-3), 1
    )
    print(json.dumps(result, indent=2))
    lib.save("support", result)
    return result
