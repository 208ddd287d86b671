"""The delivery worker alone: how fast it empties a backlog to the DNOs' webhooks, and what each
delivery costs it (spec §16, §18).

    .venv/bin/python benchmarks/deliveries.py [--backend postgres|sqlite] [--operators 14]
        [--per-operator 3000] [--runs 3]

For each run, on a new store (PostgreSQL: a server of Debian's binaries with fsync on, as
production has it; SQLite: the service's durable mode), ``--operators`` × ``--per-operator``
forwarded AD1s are queued in the outbox, each from a hub of its own (so that none waits for an
earlier one of its hub), with a webhook per DNO: an HTTP receiver on 127.0.0.1 in a process of
its own (``soaklib.Receivers``: it checks every signature and counts what arrives and on how
many TCP connections). Then ``poagate.delivery.worker.run_deliveries`` — what ``poagate serve``
runs — is started in this process and timed until the outbox has nothing pending.

Printed for each run: deliveries a second, this process's CPU time a delivery (the worker:
claiming, building and signing, sending, recording; the receivers are another process), the
database's commits a delivery (PostgreSQL), the TCP connections the receivers accepted, and what
arrived (each message once, nothing with a bad signature or at another DNO). No decision stands
behind the queued rows, so the spec §18 envelope is not built (each is sent as queued): the
figures are the worker's own costs.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds http.py, which would shadow the standard library's http package: search
# it last (for benchlib and soaklib).
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]
sys.path.insert(0, str(HERE.parent))  # tests.pg

import argparse
import asyncio
import contextlib
import json
import platform
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from tests.pg import PostgresServer

from benchlib import cpu_ms
from poagate.delivery.signing import new_secret
from poagate.delivery.worker import WorkerStatus, run_deliveries
from poagate.formats.settings import Settings
from poagate.store.database import open_store
from poagate.store.outbox import OutboundMessage
from soaklib import ReceiverProcess

OPERATORS = [str(n) for n in range(10, 24)]


def queue(
    database: str,
    operators: list[str],
    per_operator: int,
    urls: dict[str, str],
    secrets: dict[str, str],
) -> None:
    """Webhooks for ``operators`` and ``per_operator`` forwarded AD1s each in the outbox."""
    now = datetime.now(UTC)
    with open_store(database, "service", schema="create") as store:
        stored = store.reference.settings().model_dump(mode="json")
        stored["delivery"]["webhooks"] = {
            o: {"url": urls[o], "secret": secrets[o]} for o in operators
        }
        store.reference.save_settings(Settings.stored(stored), "benchmark", now)
        for first in range(0, per_operator, 1000):
            messages = [
                OutboundMessage(
                    f"AD1-{o}-{n}",
                    o,
                    f"00-DB-12-34-{int(o):02X}-{n // 256 % 256:02X}-{n % 256:02X}-00",
                    "application/json",
                    json.dumps({"alertId": f"AD1-{o}-{n}", "alertCode": "AD1"}).encode(),
                    "pending",
                )
                for n in range(first, min(first + 1000, per_operator))
                for o in operators
            ]
            with store.transaction():
                store.outbox.enqueue(messages, now)


def pending(database: str) -> int:
    with open_store(database, "service") as store:
        return int(store.db.scalar("SELECT count(*) FROM outbox WHERE status = 'pending'"))


def commits(database: str) -> int | None:
    if not database.startswith("postgresql"):
        return None
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return None if row is None else int(row[0])


def deliver_all(database: str, total: int) -> dict[str, float]:
    """Run the worker until nothing is pending; its wall and CPU seconds."""
    status = WorkerStatus()

    async def main() -> float:
        worker = asyncio.create_task(
            run_deliveries(database, lambda: datetime.now(UTC), 0.05, status)
        )
        began = time.perf_counter()
        while await asyncio.to_thread(pending, database):
            await asyncio.sleep(0.25)
        took = time.perf_counter() - began
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        return took

    usage = resource.getrusage(resource.RUSAGE_SELF)
    took = asyncio.run(main())
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return {"seconds": took, "cpu_seconds": cpu, "per_second": total / took}


def run(backend: str, operators: list[str], per_operator: int) -> dict[str, Any]:
    secrets = {o: new_secret() for o in operators}
    receivers = ReceiverProcess(operators, secrets)
    urls = receivers.urls
    postgres = None
    folder = tempfile.TemporaryDirectory(prefix="poagate-deliveries-")
    try:
        if backend == "postgres":
            postgres = PostgresServer(durable=True)
            postgres.start()
            database = postgres.fresh_database()
        else:
            database = str(Path(folder.name) / "store.db")
        total = len(operators) * per_operator
        queue(database, operators, per_operator, urls, secrets)
        commits_before = commits(database)
        speed = cpu_ms()
        figures: dict[str, Any] = {"backend": backend, "deliveries": total, "cpu_ms": speed}
        figures.update(deliver_all(database, total))
        commits_after = commits(database)
        if commits_before is not None and commits_after is not None:
            figures["commits"] = commits_after - commits_before
        tally = receivers.finish()
        figures["received"] = sum(tally.received.values())
        figures["distinct"] = len(tally.received)
        figures["twice"] = sum(1 for n in tally.received.values() if n > 1)
        figures["bad_signatures"] = tally.bad_signatures
        figures["wrong_operator"] = tally.wrong_operator
        figures["connections"] = tally.connections
        return figures
    finally:
        receivers.stop()
        if postgres is not None:
            postgres.stop()
        folder.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--operators", type=int, default=len(OPERATORS))
    parser.add_argument("--per-operator", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-output/deliveries.json"))
    args = parser.parse_args()
    operators = OPERATORS[: args.operators]
    print(
        f"{platform.machine()}, Python {platform.python_version()}; {args.backend}; "
        f"{len(operators)} DNOs x {args.per_operator:,} deliveries a run",
        flush=True,
    )
    results = []
    for number in range(1, args.runs + 1):
        figures = run(args.backend, operators, args.per_operator)
        results.append(figures)
        commits_each = (
            f"{figures['commits'] / figures['deliveries']:.3f} commits"
            if "commits" in figures
            else "commits not counted"
        )
        print(
            f"run {number}: {figures['per_second']:,.0f} deliveries/s "
            f"({figures['seconds']:.1f} s), "
            f"{figures['cpu_seconds'] * 1e6 / figures['deliveries']:,.0f} µs CPU a delivery, "
            f"{commits_each} a delivery, {figures['connections']:,} connections; "
            f"received {figures['received']:,} ({figures['distinct']:,} distinct, "
            f"{figures['twice']} twice, {figures['bad_signatures']} bad signatures, "
            f"{figures['wrong_operator']} at another DNO); cpu_ms {figures['cpu_ms']:.0f}",
            flush=True,
        )
    rates = [r["per_second"] for r in results]
    print(
        f"median {statistics.median(rates):,.0f} deliveries/s, spread "
        f"{(max(rates) - min(rates)) / statistics.median(rates):.0%}",
        flush=True,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
