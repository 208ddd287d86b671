"""What benchmarks/soak.py is made of: the DNOs' receivers, the memory sampler, and the DSP's
traffic (AD1s, firmware activations, device messages, answers to verification requests).

Every address is 127.0.0.1. ``benchmarks/`` is on ``sys.path`` when soak.py runs as a script.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import random
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any

import httpx
import orjson
import psutil
import psycopg
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks import Webhook, WebhookVerificationError

from benchlib import Steal
from poagate.formats.timestamps import format_timestamp
from poagate.sim import duis
from poagate.sim.fleet import Site

USER = "90-B3-D5-1F-30-01-00-00"  # the supplier that activates firmware


# -- the DNOs' receivers ------------------------------------------------------------------------


class QuietServer(ThreadingHTTPServer):
    """A receiver's server that does not print a sender closing its kept-alive connection,
    with room for the connections a delivery lane opens at once (the default backlog of 5
    refused some: ReadError at the sender)."""

    request_queue_size = 256
    accepted = 0  # TCP connections accepted (each is handled by a thread of its own)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.accepted += 1
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class Receivers:
    """One HTTP receiver per DNO on 127.0.0.1, each with its own secret: it checks every
    request's Standard Webhooks signature and counts the messages by ``webhook-id`` (the
    alert_id). It always answers 200, so a bad signature is counted, never retried."""

    def __init__(self, operators: list[str], secrets: dict[str, str]) -> None:
        self.lock = threading.Lock()
        self.received: Counter[str] = Counter()
        self.by_operator: Counter[str] = Counter()
        self.bad_signatures = 0
        self.incomplete = 0  # requests whose body did not all arrive
        # alert_id -> (time received, webhook-timestamp, what was wrong, receiving DNO) of each
        # request
        self.arrivals: dict[str, list[tuple[float, str, str, str]]] = {}
        self.servers: dict[str, QuietServer] = {}
        self.urls: dict[str, str] = {}
        for operator in operators:
            server = QuietServer(("127.0.0.1", 0), self._handler(operator, secrets))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers[operator] = server
            self.urls[operator] = f"http://127.0.0.1:{server.server_address[1]}/dno/{operator}"

    def _handler(self, operator: str, secrets: dict[str, str]) -> type[BaseHTTPRequestHandler]:
        receivers, verifier = self, Webhook(secrets[operator])

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = self.rfile.read(length)
                alert_id = self.headers.get("webhook-id", "")
                if len(body) < length:
                    # The sender gave up (its deadline) before the whole body was read here:
                    # nothing was delivered, and no answer can be sent.
                    with receivers.lock:
                        receivers.incomplete += 1
                    self.close_connection = True
                    return
                problem = ""
                try:
                    verifier.verify(body, dict(self.headers), json_parse=False)
                except (WebhookVerificationError, ValueError, KeyError) as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                with receivers.lock:
                    receivers.received[alert_id] += 1
                    receivers.by_operator[operator] += 1
                    stamp = self.headers.get("webhook-timestamp", "")
                    receivers.arrivals.setdefault(alert_id, []).append(
                        (round(time.time(), 3), stamp, problem, operator)
                    )
                    if problem:
                        receivers.bad_signatures += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def anomalies(self) -> dict[str, list[tuple[float, str, str, str]]]:
        """The requests of the messages received more than once or with a bad signature."""
        return {
            alert_id: arrivals
            for alert_id, arrivals in self.arrivals.items()
            if len(arrivals) > 1 or any(arrival[2] for arrival in arrivals)
        }

    def tally(self, operator_of: dict[str, str]) -> Tally:
        """What the receivers got; a message counts as received by the wrong DNO when
        ``operator_of`` (alert_id -> the DNO its hub belongs to) names another."""
        with self.lock:
            wrong = sum(
                1
                for alert_id, arrivals in self.arrivals.items()
                for arrival in arrivals
                if operator_of.get(alert_id, arrival[3]) != arrival[3]
            )
            return Tally(
                received=Counter(self.received),
                by_operator=Counter(self.by_operator),
                wrong_operator=wrong,
                bad_signatures=self.bad_signatures,
                incomplete=self.incomplete,
                connections=self.connections(),
                anomalies=self.anomalies(),
            )

    def connections(self) -> int:
        """TCP connections the receivers have accepted: a sender that keeps its connections
        alive opens few."""
        return sum(server.accepted for server in self.servers.values())

    def stop(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()


@dataclass
class Tally:
    """What the receivers got (``Receivers.tally``)."""

    received: Counter[str]  # alert_id (webhook-id) -> requests
    by_operator: Counter[str]
    wrong_operator: int
    bad_signatures: int
    incomplete: int  # requests whose body did not all arrive
    connections: int  # TCP connections accepted
    anomalies: dict[str, list[tuple[float, str, str, str]]]


class Child:
    """A function run in a process of its own (spawned), spoken to over a pipe: the function
    gets the pipe's other end after its own arguments."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        self._pipe, there = multiprocessing.Pipe()
        self._child = multiprocessing.get_context("spawn").Process(
            target=target, args=(*args, there), daemon=True
        )
        self._child.start()

    def stop(self) -> None:
        """Stop it, wherever it is (after its work or without it)."""
        if self._child.is_alive():
            self._child.terminate()
            self._child.join(timeout=10)


class ReceiverProcess(Child):
    """The receivers (``Receivers``) in a process of their own. In the process that sends the
    load and times its answers, their threads (one a connection, scores of them) took the
    interpreter lock from its event loop: a soak's client measured a p99 of up to 166 ms a
    minute while the same requests, timed on the wire (tcpdump on the loopback), answered in
    at most 64 ms (docs/performance.md, "Soak")."""

    def __init__(self, operators: list[str], secrets: dict[str, str]) -> None:
        super().__init__(_receive, operators, secrets)
        self.urls: dict[str, str] = self._pipe.recv()

    def finish(self, operator_of: dict[str, str] | None = None) -> Tally:
        """What the receivers got (see ``Receivers.tally``); they stop."""
        self._pipe.send(operator_of or {})
        tally: Tally = self._pipe.recv()
        self._child.join(timeout=30)
        return tally


def _receive(operators: list[str], secrets: dict[str, str], pipe: Connection) -> None:
    receivers = Receivers(operators, secrets)
    pipe.send(receivers.urls)
    operator_of = pipe.recv()
    pipe.send(receivers.tally(operator_of))
    receivers.stop()


# -- memory -------------------------------------------------------------------------------------


class Periodic:
    """Calls ``sample`` at ``start``, every ``interval`` seconds from a thread, and at
    ``stop`` when ``final`` is set; ``started`` is when ``start`` was called."""

    final = False

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> None:
        self.started = time.monotonic()
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self.final:
            self.sample()


class MemorySampler(Periodic):
    """Every ``interval`` seconds: the resident memory of each server (its process and any
    worker it started) and of PostgreSQL (the postmaster and every backend: resident, and
    unique to the processes, which leaves out the shared buffers a backend has touched), and
    the CPU seconds each has used so far (of the processes alive then: a backend that ended
    takes its seconds with it)."""

    def __init__(self, servers: dict[str, int], postmaster: int, interval: float) -> None:
        super().__init__(interval)
        self.servers = {name: psutil.Process(pid) for name, pid in servers.items()}
        self.postmaster = psutil.Process(postmaster)
        self.samples: list[dict[str, float]] = []

    @staticmethod
    def _tree(process: psutil.Process, unique: bool = False) -> tuple[float, float, int, float]:
        rss = uss = cpu = 0.0
        tree = [process, *process.children(recursive=True)]
        for p in tree:
            try:
                if unique:
                    info = p.memory_full_info()
                    rss, uss = rss + info.rss, uss + info.uss
                else:
                    rss += p.memory_info().rss
                times = p.cpu_times()
                cpu += times.user + times.system
            except psutil.Error:
                continue
        return rss / 2**20, uss / 2**20, len(tree), cpu

    def sample(self) -> None:
        row: dict[str, float] = {"t": round(time.monotonic() - self.started, 1)}
        for name, process in self.servers.items():
            rss, _, _, cpu = self._tree(process)
            row[f"{name}_mb"] = round(rss, 1)
            row[f"{name}_cpu_s"] = round(cpu, 2)
        rss, uss, count, cpu = self._tree(self.postmaster, unique=True)
        row.update(postgres_rss_mb=round(rss, 1), postgres_uss_mb=round(uss, 1))
        row["postgres_processes"] = count
        row["postgres_cpu_s"] = round(cpu, 2)
        self.samples.append(row)


# -- the DSP's traffic ------------------------------------------------------------------------


@dataclass
class Shape:
    """What the DSP sends each second, and the guards' settings the run uses."""

    ad1_per_second: int = 100
    singles_per_second: int = 10  # of the AD1s, sent one DUIS message per request
    in_window_share: float = 0.3  # AD1s from hubs whose meter had its firmware activated
    activations_per_second: int = 2
    device_messages_per_second: int = 20
    burst_every_seconds: int = 60  # an area outage: one sector's hubs all raise an AD1
    answer_share: float = 0.8  # verification requests the DSP answers (the rest released)
    # Each second's requests started one after another across the second, in a shuffled
    # order, as independent DSP traffic arrives; False: all at the second's start, as the soak
    # sent them until 2026-12-06 (runs A-C of docs/performance.md), which timed each minute's
    # singles behind the batches, activations and device messages started with them.
    paced: bool = True


@dataclass
class Traffic:
    """What was sent and how it was answered."""

    ad1_sent: set[str] = field(default_factory=set)
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    resent: int = 0
    activations: int = 0
    device_messages: int = 0
    verifications_answered: int = 0
    verifications_ignored: int = 0
    bursts: int = 0
    primed: int = 0  # AD1s sent before the storm to fill the servers' device caches
    # (seconds since the load started, seconds the request took)
    single_latency: list[tuple[float, float]] = field(default_factory=list)
    batch_latency: list[tuple[float, float]] = field(default_factory=list)
    load_average: list[float] = field(default_factory=list)  # the machine's, at each minute's end
    steal_percent: list[float] = field(default_factory=list)  # benchlib.Steal, each minute


class Dsp:
    """Sends the traffic of ``shape`` for ``seconds`` to the servers in turn, open loop: each
    second's requests start on time whether or not earlier ones were answered (a server that
    falls behind shows in the latencies, not in a lower rate)."""

    def __init__(
        self,
        urls: list[str],
        token: str,
        sites: list[Site],
        shape: Shape,
        on_alert: Callable[[str, Site], None],
        seed: int = 21,
    ) -> None:
        self.urls = urls
        self.headers = {"Authorization": f"Bearer {token}"}
        self.sites = sites
        self.qualifying = [s for s in sites if s.qualifies]
        self.sectors: dict[str, list[Site]] = {}
        for s in sites:
            self.sectors.setdefault(s.sector, []).append(s)
        self.shape = shape
        self.on_alert = on_alert
        self.rng = random.Random(seed)
        self._pace = random.Random(seed + 1)  # the order of a second's requests, apart: the
        # traffic itself (its sites, alert_ids) is the same paced or not
        self._steal: Steal | None = None
        self.traffic = Traffic()
        self.activated: list[tuple[float, Site]] = []  # (monotonic, site), oldest first
        self.answered: set[tuple[str, int]] = set()
        self._turn = 0
        self._alerts = 0
        self._requests = 0
        self._started = 0.0

    def _url(self) -> str:
        self._turn += 1
        return self.urls[self._turn % len(self.urls)]

    async def _post(
        self,
        http: httpx.AsyncClient,
        body: bytes,
        kind: str,
        latency: list[Any] | None,
        url: str | None = None,
    ) -> None:
        """POST until a server answers 200 (to ``url`` first if given; a 503 or a broken
        connection is resent to the other server after a pause); the answer's outcomes are
        counted."""
        headers = {**self.headers, "Content-Type": kind}
        for attempt in range(20):
            started = time.monotonic()
            target = url if url is not None and attempt == 0 else self._url()
            try:
                answer = await http.post(f"{target}/v1/messages", content=body, headers=headers)
            except httpx.HTTPError as exc:
                self.traffic.errors[type(exc).__name__] += 1
                self.traffic.resent += 1
                await asyncio.sleep(0.5)
                continue
            self.traffic.statuses[answer.status_code] += 1
            if answer.status_code == 200:
                if latency is not None and attempt == 0:
                    latency.append((started - self._started, time.monotonic() - started))
                for item in orjson.loads(answer.content)["items"]:
                    self.traffic.outcomes[str(item.get("outcome"))] += 1
                return
            if answer.status_code < 500 and answer.status_code != 429:
                self.traffic.errors[f"{answer.status_code}: {answer.text[:200]}"] += 1
                return  # not worth sending again
            self.traffic.resent += 1
            await asyncio.sleep(0.5)
        self.traffic.errors["gave up after 20 attempts"] += 1

    def _alert_id(self) -> str:
        self._alerts += 1
        return f"SOAK-{self._alerts:08d}"

    def _ad1_site(self, now: float) -> Site:
        while self.activated and now - self.activated[0][0] > 20 * 60:
            self.activated.pop(0)  # well inside the 30-minute window: still open
        if self.activated and self.rng.random() < self.shape.in_window_share:
            return self.rng.choice(self.activated)[1]
        return self.rng.choice(self.sites)

    def _ad1(self, site: Site) -> tuple[str, datetime]:
        alert_id = self._alert_id()
        self.traffic.ad1_sent.add(alert_id)
        self.on_alert(alert_id, site)
        return alert_id, datetime.now(UTC) - timedelta(seconds=self.rng.uniform(1, 10))

    def _lines(self, sites: list[Site]) -> bytes:
        lines = []
        for site in sites:
            alert_id, event_at = self._ad1(site)
            line = {"type": "ad1", "alert_id": alert_id, "chf_id": site.chf_id}
            lines.append(orjson.dumps({**line, "event_at": format_timestamp(event_at)}))
        return b"\n".join(lines)

    def _second(self, http: httpx.AsyncClient, second: int) -> list[Any]:
        """The requests of one second of traffic."""
        shape, now, jobs = self.shape, time.monotonic(), []
        for _ in range(shape.activations_per_second):
            site = self.rng.choice(self.qualifying)
            self._requests += 1
            xml = duis.activate_firmware(f"{USER}:{site.esme_id}:{self._requests}")
            self.activated.append((now, site))
            self.traffic.activations += 1
            jobs.append(self._post(http, xml.encode(), "application/xml", None))
        for _ in range(shape.singles_per_second):
            alert_id, event_at = self._ad1(site := self._ad1_site(now))
            alert = duis.ad1_alert(alert_id, site.chf_id, event_at).encode()
            jobs.append(self._post(http, alert, "application/xml", self.traffic.single_latency))
        rest = max(0, shape.ad1_per_second - shape.singles_per_second)
        for half in (rest // 2, rest - rest // 2):  # two batches a second
            if half:
                body = self._lines([self._ad1_site(now) for _ in range(half)])
                jobs.append(
                    self._post(http, body, "application/x-ndjson", self.traffic.batch_latency)
                )
        if shape.burst_every_seconds and second % shape.burst_every_seconds == 0 and second:
            # A storm takes out a sector where the campaign runs (or any, before it starts).
            near = [site.sector for _, site in self.activated[-50:]]
            sector = (
                self.sectors[self.rng.choice(near)]
                if near
                else self.rng.choice(list(self.sectors.values()))
            )
            self.traffic.bursts += 1
            jobs.append(self._post(http, self._lines(sector), "application/x-ndjson", None))
        messages = [self.rng.choice(self.sites) for _ in range(shape.device_messages_per_second)]
        if messages:
            self.traffic.device_messages += len(messages)
            jobs.append(self._post(http, device_messages(messages), "application/x-ndjson", None))
        return jobs

    async def _pending(self, http: httpx.AsyncClient) -> list[dict[str, Any]] | None:
        """Every pending verification request, page after page (the queue lists the oldest
        first: reading only its first page, as this did until 2026-12-06, once more than a
        page was pending the requests it leaves unanswered filled that page, and newer ones
        went unseen until older ones left the queue)."""
        items: list[dict[str, Any]] = []
        params = {"status": "pending", "limit": "500"}
        url = self._url()
        while True:
            try:
                answer = await http.get(
                    f"{url}/v1/verifications", params=params, headers=self.headers
                )
            except httpx.HTTPError as exc:
                self.traffic.errors[f"verifications: {type(exc).__name__}"] += 1
                return None
            if answer.status_code != 200:
                self.traffic.errors[f"verifications: {answer.status_code}"] += 1
                return None
            page = answer.json()
            items += page["items"]
            if not page["next_cursor"]:
                return items
            params["cursor"] = page["next_cursor"]

    async def _verifications(self, http: httpx.AsyncClient) -> None:
        """Answer most pending verification requests with a message from the site."""
        pending = await self._pending(http)
        if pending is None:
            return
        lines = []
        for item in pending:
            key = (str(item["alert_id"]), int(item["attempt"]))
            if key in self.answered:
                continue
            self.answered.add(key)
            if random.Random(key[0]).random() < self.shape.answer_share:
                self.traffic.verifications_answered += 1
                line = {"type": "device_message", "device_id": item["esme_id"]}
                lines.append(orjson.dumps(line))
            else:
                self.traffic.verifications_ignored += 1
        if lines:
            await self._post(http, b"\n".join(lines), "application/x-ndjson", None)

    def _progress(self, second: int, in_flight: int) -> None:
        minute = second // 60
        self.traffic.load_average.append(round(os.getloadavg()[0], 2))
        self.traffic.steal_percent.append(self._steal.lap() if self._steal else math.nan)
        recent = [d * 1000 for t, d in self.traffic.single_latency if t >= minute * 60]
        print(
            f"minute {minute + 1}: {len(self.traffic.ad1_sent):,} AD1s sent, p99 "
            f"{percentile(recent, 0.99):.0f} ms, {in_flight} requests in flight, load average "
            f"{self.traffic.load_average[-1]}, steal {self.traffic.steal_percent[-1]}%, "
            f"statuses {dict(self.traffic.statuses)}",
            flush=True,
        )

    async def prime(self, per_request: int = 1_000) -> None:
        """One AD1 from every hub of the fleet to each server, in batches, before the storm:
        each server's device cache (bounded, ``poagate.service.reference``) then holds the whole
        fleet, as a server's does after hours of national traffic, so that memory measured
        after the warm-up shows what grows, not a cache still filling from random hubs (the
        runs before this filled it over the first fifteen minutes). The AD1s count as sent."""
        async with httpx.AsyncClient(timeout=120) as http:
            for url in self.urls:
                for first in range(0, len(self.sites), per_request):
                    body = self._lines(self.sites[first : first + per_request])
                    await self._post(http, body, "application/x-ndjson", None, url)
        self.traffic.primed = len(self.sites) * len(self.urls)

    async def run(self, seconds: int) -> None:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=120, limits=limits) as http:
            self._started, self._steal = time.monotonic(), Steal()
            pending: set[asyncio.Task[None]] = set()
            for second in range(seconds):
                jobs = self._second(http, second)
                if self.shape.paced:
                    self._pace.shuffle(jobs)
                    start = self._started + second
                    jobs = [_at(start + n / len(jobs), job) for n, job in enumerate(jobs)]
                for job in jobs:
                    pending.add(asyncio.ensure_future(job))
                if second % 5 == 0:
                    pending.add(asyncio.ensure_future(self._verifications(http)))
                pending = {t for t in pending if not t.done()}
                if second % 60 == 59:
                    self._progress(second, len(pending))
                delay = self._started + second + 1 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if pending:
                await asyncio.gather(*pending)


async def _at(when: float, job: Awaitable[None]) -> None:
    """``job`` started at ``when`` (``time.monotonic``), or now if that has passed."""
    delay = when - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    await job


class DspProcess(Child):
    """The DSP's side (``Dsp``) in a process of its own, which does nothing else: the clock
    that times the answers shares its interpreter lock with no receiver, sampler or report.
    ``prime`` and ``run`` are ``Dsp``'s; ``run`` gives back what was sent (``Traffic``) and
    each AD1's DNO (alert_id -> network operator), and the process ends."""

    def __init__(self, urls: list[str], token: str, sites: list[Site], shape: Shape) -> None:
        super().__init__(_send, urls, token, sites, shape)

    def prime(self) -> int:
        self._pipe.send(("prime", 0))
        primed: int = self._pipe.recv()
        return primed

    def run(self, seconds: int) -> tuple[Traffic, dict[str, str]]:
        self._pipe.send(("run", seconds))
        traffic, operator_of = self._pipe.recv()
        self._child.join(timeout=30)
        return traffic, operator_of


def _send(urls: list[str], token: str, sites: list[Site], shape: Shape, pipe: Connection) -> None:
    operator_of: dict[str, str] = {}

    def on_alert(alert_id: str, site: Site) -> None:
        operator_of[alert_id] = site.network_operator

    dsp = Dsp(urls, token, sites, shape, on_alert)
    while True:
        what, seconds = pipe.recv()
        if what == "prime":
            asyncio.run(dsp.prime())
            pipe.send(dsp.traffic.primed)
        else:
            asyncio.run(dsp.run(seconds))
            pipe.send((dsp.traffic, operator_of))
            return


def device_messages(sites: list[Site]) -> bytes:
    return b"\n".join(
        orjson.dumps({"type": "device_message", "device_id": s.esme_id}) for s in sites
    )


# -- figures --------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def per_minute(
    latencies: list[tuple[float, float]],
    minutes: int,
    load: list[float],
    steal: list[float] | None = None,
) -> list[dict[str, Any]]:
    """Requests, p50 and p99 (ms) in each minute of the load, with the machine's load average
    (one minute) at its end and the share of its CPU stolen in it (``steal``, percent), and the
    slowest 1% as [second of the minute the request was sent, ms]: whether they come together
    (one moment of one second) or spread out."""
    steal = steal or []
    rows: list[dict[str, Any]] = []
    for minute in range(minutes):
        timed = sorted(
            (
                (s * 1000, t - minute * 60)
                for t, s in latencies
                if minute * 60 <= t < (minute + 1) * 60
            ),
            reverse=True,
        )
        values = [ms for ms, _ in timed]
        rows.append(
            {
                "minute": minute + 1,
                "requests": len(values),
                "p50_ms": round(percentile(values, 0.5), 1),
                "p99_ms": round(percentile(values, 0.99), 1),
                "load_average": load[minute] if minute < len(load) else math.nan,
                "steal_percent": steal[minute] if minute < len(steal) else math.nan,
                "slowest": [
                    [round(at, 1), round(ms, 1)] for ms, at in timed[: max(1, len(timed) // 100)]
                ],
            }
        )
    return rows


CALM_STEAL_PERCENT = 2.0  # a minute in which the hypervisor took less of the CPU than this


def steadiness(
    rows: list[dict[str, Any]], warmup: float, calm_only: bool = False
) -> dict[str, float]:
    """The p99 of the minutes after warm-up: median, worst, and worst over median (the soak's
    bar: within 1.5×). ``calm_only``: of the minutes in which the hypervisor took less than
    ``CALM_STEAL_PERCENT`` of the machine's CPU, which tells the service's own steadiness from
    the VM's on a day it was not whole (reported beside the bar, not instead of it)."""
    values = sorted(
        r["p99_ms"]
        for r in rows
        if r["minute"] > warmup
        and r["requests"]
        and (not calm_only or r.get("steal_percent", math.nan) < CALM_STEAL_PERCENT)
    )
    if not values:
        return {}
    median = values[len(values) // 2]
    return {
        "median_p99_ms": median,
        "worst_p99_ms": values[-1],
        "worst_over_median": round(values[-1] / median, 2) if median else math.nan,
        "minutes": len(values),
    }


def growth(samples: list[dict[str, float]], key: str, warmup: float) -> dict[str, float]:
    """A series' mean over the minute after warm-up, over the last minute, and the growth
    between them (percent)."""
    end = samples[-1]["t"]
    first = [s[key] for s in samples if warmup <= s["t"] < warmup + 60] or [samples[-1][key]]
    last = [s[key] for s in samples if s["t"] > end - 60]
    base, final = sum(first) / len(first), sum(last) / len(last)
    return {
        "after_warmup_mb": round(base, 1),
        "end_mb": round(final, 1),
        "peak_mb": max(s[key] for s in samples),
        "growth_percent": round(100 * (final - base) / base, 1) if base else math.nan,
    }


class StatementSampler(Periodic):
    """With ``--statements``: every ``interval`` seconds, PostgreSQL's own account of the
    statements run so far (``pg_stat_statements``: calls, time) and of the tables (live and
    dead rows, vacuums), so that what grows costlier over a run can be named."""

    final = True  # and once more when the load ends

    def __init__(self, database: str, interval: float = 60) -> None:
        super().__init__(interval)
        self.database = database
        self.snapshots: list[dict[str, Any]] = []

    def sample(self) -> None:
        with psycopg.connect(self.database, autocommit=True) as conn:
            statements = conn.execute(
                "SELECT queryid, left(regexp_replace(query, '\\s+', ' ', 'g'), 600), calls, "
                "total_exec_time, rows, shared_blks_hit + shared_blks_read "
                "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())"
            ).fetchall()
            tables = conn.execute(
                "SELECT relname, n_live_tup, n_dead_tup, autovacuum_count, autoanalyze_count "
                "FROM pg_stat_user_tables"
            ).fetchall()
        self.snapshots.append(
            {
                "t": round(time.monotonic() - self.started, 1),
                "statements": {
                    str(q): [text, calls, round(ms, 2), rows, blocks]
                    for q, text, calls, ms, rows, blocks in statements
                },
                "tables": {name: list(rest) for name, *rest in tables},
            }
        )

    def costlier(self, top: int = 15) -> list[dict[str, Any]]:
        """The statements that took the most time, each with its mean time a call and blocks
        a call in each interval: what grows shows in the series."""
        first, last = self.snapshots[0]["statements"], self.snapshots[-1]["statements"]
        spent = sorted(
            last, key=lambda q: last[q][2] - first.get(q, [None, 0, 0.0])[2], reverse=True
        )
        rows = []
        for q in spent[:top]:
            means, blocks = [], []
            for before, after in zip(self.snapshots, self.snapshots[1:], strict=False):
                b = before["statements"].get(q, [None, 0, 0.0, 0, 0])
                a = after["statements"].get(q, b)
                calls = a[1] - b[1]
                means.append(round((a[2] - b[2]) / calls, 3) if calls else None)
                blocks.append(round((a[4] - b[4]) / calls, 1) if calls else None)
            rows.append(
                {
                    "query": last[q][0],
                    "calls": last[q][1],
                    "total_ms": round(last[q][2]),
                    "mean_ms_by_interval": means,
                    "blocks_per_call_by_interval": blocks,
                }
            )
        return rows


class ServerSampler(Periodic):
    """Every ``interval`` seconds, the servers' own account of the writers' lock
    (``poagate_writer_lock_{held,wait}_seconds`` from each server's ``/metrics``, added up):
    ``per_interval`` gives, for each interval, the seconds the lock was held and waited for by
    what held it (decisions, verification, release, deliveries, maintenance, other); and of
    their slowest requests and group transactions (``TAILS``): ``tails``."""

    final = True

    def __init__(self, urls: list[str], token: str, interval: float = 60) -> None:
        super().__init__(interval)
        self.urls = urls
        self.headers = {"Authorization": f"Bearer {token}"}
        self.snapshots: list[dict[str, float]] = []

    def sample(self) -> None:
        totals: defaultdict[str, float] = defaultdict(float)
        for url in self.urls:
            try:
                text = httpx.get(f"{url}/metrics", headers=self.headers, timeout=30).text
            except httpx.HTTPError:
                continue
            for family in text_string_to_metric_families(text):
                if family.name in TAILS:
                    for sample in family.samples:
                        route = sample.labels.get("route", "/v1/messages")
                        if sample.name.endswith("_bucket") and route == "/v1/messages":
                            totals[f"bucket {family.name} {sample.labels['le']}"] += sample.value
                    continue
                if not family.name.startswith("poagate_writer_lock_"):
                    continue
                kind = family.name.removeprefix("poagate_writer_lock_").removesuffix("_seconds")
                for sample in family.samples:
                    if sample.name.endswith(("_sum", "_count")):
                        what = sample.name.rsplit("_", 1)[1]
                        totals[f"{kind} {what} {sample.labels['work']}"] += sample.value
        self.snapshots.append(dict(totals))

    def per_interval(self) -> list[dict[str, dict[str, float]]]:
        """For each interval: {"held_s"|"wait_s"|"transactions": {work: value}}."""
        rows = []
        for before, after in zip(self.snapshots, self.snapshots[1:], strict=False):
            row: dict[str, dict[str, float]] = {"held_s": {}, "wait_s": {}, "transactions": {}}
            for key, value in after.items():
                kind, what, work = key.split(" ", 2)
                if kind == "bucket":
                    continue
                delta = value - before.get(key, 0.0)
                if what == "count" and kind == "held":
                    row["transactions"][work] = int(delta)
                elif what == "sum":
                    row[f"{kind}_s"][work] = round(delta, 2)
            rows.append(row)
        return rows

    def tails(self) -> list[dict[str, dict[str, float]]]:
        """For each interval, as the servers measured them (both added up): how many
        ``POST /v1/messages`` requests were answered and group transactions committed, how
        many took over 100 and over 250 ms, and the bucket their 99th percentile fell in (its
        upper bound, ms). Beside the client's own latencies, this tells the time spent in the
        servers' handling from the time before it (a request not yet read, the client)."""
        rows = []
        for before, after in zip(self.snapshots, self.snapshots[1:], strict=False):
            row = {}
            for family, name in TAILS.items():
                counts = sorted(
                    (float(key.rsplit(" ", 1)[1]), value - before.get(key, 0.0))
                    for key, value in after.items()
                    if key.startswith(f"bucket {family} ")
                )
                if not counts:
                    continue
                total = counts[-1][1]
                below = dict(counts)
                p99 = next((le for le, n in counts if n >= 0.99 * total), math.inf)
                row[name] = {
                    "count": int(total),
                    "over_100ms": int(total - below.get(0.1, total)),
                    "over_250ms": int(total - below.get(0.25, total)),
                    "p99_bucket_ms": round(p99 * 1000) if p99 != math.inf else math.inf,
                }
            rows.append(row)
        return rows


# Histograms whose tails ServerSampler also takes: family -> name in its rows.
TAILS = {
    "poagate_http_request_duration_seconds": "messages",
    "poagate_group_transaction_seconds": "groups",
}


def slow_plans(log_text: str, started: datetime) -> list[dict[str, Any]]:
    """With ``--slow-plans``: the statements ``auto_explain`` logged as slow, costliest first,
    each with how many times a minute of the run (from ``started``) and its last plan, so that
    a statement growing costlier over a run shows how PostgreSQL ran it then."""
    by_query: dict[str, dict[str, Any]] = {}
    for entry in re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", log_text):
        found = _SLOW.match(entry)
        if found is None:
            continue
        at = datetime.strptime(found["at"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
        plan = found["plan"]
        query = plan.split("\n", 1)[0].removeprefix("Query Text:").strip()[:300]
        row = by_query.setdefault(query, {"query": query, "calls": 0, "total_ms": 0.0})
        row["calls"] += 1
        row["total_ms"] += float(found["ms"])
        minute = max(0, int((at - started).total_seconds() // 60))
        row.setdefault("by_minute", Counter())[minute] += 1
        row["last_plan"] = "\n".join(line[:240] for line in plan.splitlines()[1:60])
    rows = sorted(by_query.values(), key=lambda r: -r["total_ms"])
    for row in rows:
        row["total_ms"] = round(row["total_ms"], 1)
        counts = row.pop("by_minute")
        row["calls_by_minute"] = [counts.get(m, 0) for m in range(max(counts) + 1)]
    return rows


_SLOW = re.compile(
    r"(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC \[\d+\] LOG:  duration: (?P<ms>[\d.]+) ms"
    r"  plan:\n\s*(?P<plan>Query Text:.*)",
    re.S,
)


def checkpoints(log_text: str, started: datetime) -> list[dict[str, Any]]:
    """PostgreSQL's checkpoints in its log (it logs them by default), each with the seconds
    after ``started`` it began and ended, why it began, and its write and sync phases: a
    checkpoint's sync phase flushes every data file it wrote, the disk's busiest moment."""
    rows: list[dict[str, Any]] = []
    for found in _CHECKPOINT.finditer(log_text):
        at = datetime.strptime(found["at"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
        seconds = round((at - started).total_seconds(), 1)
        if found["what"] == "starting":
            rows.append({"began_s": seconds, "why": found["rest"].strip()})
        elif rows and "ended_s" not in rows[-1]:
            figures = dict(_FIGURE.findall(found["rest"]))
            rows[-1].update(
                ended_s=seconds,
                **{f"{k}_s": float(v) for k, v in figures.items() if k in _PHASES},
            )
    return rows


_CHECKPOINT = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC \[\d+\] (?:\S+ )?LOG:  "
    r"checkpoint (?P<what>starting|complete): (?P<rest>.*)$",
    re.M,
)
_FIGURE = re.compile(r"(\w+)=([\d.]+) s")
_PHASES = ("write", "sync", "total", "longest")


def beyond_the_bar(
    results: dict[str, Any], warmup: float, bar: float = 1.5
) -> list[dict[str, Any]]:
    """Each minute after warm-up whose p99 was over ``bar`` times the median minute's, with
    what else happened in it: the servers' group transactions over 250 ms, the disk's
    figures in it (with ``--lock-watch``: WAL flushes' milliseconds, I/O pressure), the CPU
    stolen, and any checkpoint under way in it. A minute missing the bar with its commits
    stalled and the disk's flushes slow in the same minute points at the disk."""
    median = results["p99_after_warmup"].get("median_p99_ms")
    if not median:
        return []
    watched = results.get("lock_watch") or {}
    disk = {row["minute"]: row for row in watched.get("disk_by_minute", [])}
    tails = results["server_tail_per_minute"]
    rows = []
    for row in results["latency_per_minute"]:
        minute = row["minute"]
        if minute <= warmup or row["p99_ms"] <= bar * median:
            continue
        tail = tails[minute - 1] if minute - 1 < len(tails) else {}
        window = ((minute - 1) * 60, minute * 60)
        rows.append(
            {
                "minute": minute,
                "p99_ms": row["p99_ms"],
                "times_median": round(row["p99_ms"] / median, 2),
                "groups_over_250ms": tail.get("groups", {}).get("over_250ms"),
                "steal_percent": row.get("steal_percent"),
                "disk": disk.get(minute),
                "checkpoints": [
                    c
                    for c in results.get("checkpoints", [])
                    if c["began_s"] < window[1] and c.get("ended_s", math.inf) >= window[0]
                ],
            }
        )
    return rows
