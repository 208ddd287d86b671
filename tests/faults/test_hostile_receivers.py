"""One hostile receiver holds nothing but itself (spec §16 "Receivers cannot hold the service"):
a real server, a receiver that trickles its answer a byte at a time for DNO 10 (a lane's
attempts at once, ``IN_FLIGHT``, of the 70 of its hubs with an AD1 due) and one that
answers with an endless body for DNO 11, while DNOs 12 and 13 receive their alerts as they
come. Before, httpx's timeout bounded each read, not the exchange, and the answer was read
whole: the trickler held every DNO's round, the endless body grew the process until it died."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import httpx
import pytest

from poagate.delivery.worker import IN_FLIGHT
from tests.api_harness import SECRET, Receiver, ad1, chf_of, fleet_csv
from tests.faults.hostile import HostileReceiver
from tests.faults.servers import ServeProcess, Tally, load_fleet, make_token, send_until_decided
from tests.figures import FIGURES
from tests.helpers import mpan

pytestmark = pytest.mark.slow

DEADLINE = 10.0  # the default deadline of one attempt
SECONDS = 12.0  # how long alerts are sent for: beyond one deadline of the hostile receivers
GOOD = ("12", "13")
HUBS = 70  # DNO 10's hubs beyond the harness's one


def hub(n: int) -> tuple[str, str]:
    """Inventory rows of DNO 10's extra hub ``n`` and its ESME."""
    chf, esme = f"00-15-7B-00-00-01-{n:02X}-10", f"00-DB-12-00-00-01-{n:02X}-10"
    return (
        f"{esme},ESME,SMETS2,LANDIS+GYR,,{chf},{mpan('10', f'{n:010d}')},,SW1A 1AA",
        f"{chf},CHF,SMETS2,TOSHIBA,,,,,SW1A 1AA",
    )


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_trickling_and_an_endless_receiver_delay_no_other_dno_and_memory_stays_flat(
    empty_sqlite: str, receiver: tuple[Receiver, str]
) -> None:
    rx, url = receiver
    with HostileReceiver("trickle") as trickle, HostileReceiver("endless") as endless:
        server = ServeProcess(empty_sqlite, deliveries=True, POAGATE_DELIVERY_POLL_SECONDS="0.05")
        try:
            admin = make_token(empty_sqlite, "admin")
            load_fleet(server.url, admin)
            # DNO 10 has 70 more hubs: one AD1 each keeps its lane's IN_FLIGHT attempts at
            # once on its trickling receiver.
            answer = httpx.put(
                f"{server.url}/v1/reference/inventory",
                content=fleet_csv() + "".join(f"{row}\n" for n in range(HUBS) for row in hub(n)),
                headers={"Authorization": f"Bearer {admin}", "Content-Type": "text/csv"},
            )
            assert answer.status_code == 200, answer.text
            hooks = {
                "10": {"url": f"{trickle.url}/dno/10", "secret": SECRET},
                "11": {"url": f"{endless.url}/dno/11", "secret": SECRET},
                **{o: {"url": f"{url}/dno/{o}", "secret": SECRET} for o in GOOD},
            }
            config = {"delivery": {"webhooks": hooks, "backoff_seconds": 0.05}}
            answer = httpx.put(
                f"{server.url}/v1/config",
                json=config,
                headers={"Authorization": f"Bearer {admin}"},
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["delivery"]["timeout_seconds"] == DEADLINE  # the default
            dsp, tally = make_token(empty_sqlite, "dsp"), Tally()
            many = [ad1(f"H10-hub-{n}", f"00-15-7B-00-00-01-{n:02X}-10") for n in range(HUBS)]
            send_until_decided([server.url], dsp, many, tally)
            rss_before = rss_kib(server.process.pid)
            sent_at: dict[str, float] = {}
            start, n = time.monotonic(), 0
            while time.monotonic() - start < SECONDS:
                batch = [ad1(f"H{o}-{n}", chf_of(o)) for o in ("10", "11", *GOOD)]
                send_until_decided([server.url], dsp, batch, tally)
                for o in GOOD:
                    sent_at[f"H{o}-{n}"] = time.monotonic()
                n += 1
                time.sleep(0.25)
            deadline = time.monotonic() + 30
            while not set(sent_at) <= {r.alert_id for r in rx.delivered()}:
                assert time.monotonic() < deadline, "the good DNOs' alerts did not all arrive"
                assert server.process.poll() is None, server.stderr()
                time.sleep(0.05)
            rss_after = rss_kib(server.process.pid)
            assert server.process.poll() is None  # alive
        finally:
            server.stop()
        first = {}
        for receipt in rx.delivered():
            first.setdefault(receipt.alert_id, receipt.at)
        latency = [first[a] - sent_at[a] for a in sent_at]
        # Nothing of DNO 12's or 13's waited for a hostile receiver's deadline.
        assert max(latency) < DEADLINE
        # A lane's attempts at once, each cut at the deadline, then as many again; never more
        # at once, however many are due (each lane's pool stays small: spec §16).
        assert trickle.most_within(DEADLINE / 2) == IN_FLIGHT
        assert trickle.connections >= 2 * IN_FLIGHT
        assert endless.connections >= 2  # each 200 with an endless body was a delivery
        # The endless body was dropped after at most 64 KiB (and the socket's buffers) an
        # attempt, and the server's memory did not grow with what the receiver had to send.
        growth_mib = (rss_after - rss_before) / 1024
        assert growth_mib < 40
        FIGURES.append(
            f"faults: hostile receivers (trickle for DNO 10, endless body for DNO 11, deadline "
            f"{DEADLINE:g} s): {len(latency)} AD1s of DNOs 12/13 delivered, latency median "
            f"{statistics.median(latency) * 1000:.0f} ms, max {max(latency) * 1000:.0f} ms; "
            f"server RSS {rss_before / 1024:.0f} MiB -> {rss_after / 1024:.0f} MiB; endless "
            f"receiver sent {endless.sent / 2**20:.1f} MiB over {endless.connections} "
            f"connections, trickler {trickle.connections} connections"
        )
