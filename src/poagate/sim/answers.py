"""The DSP and the devices answering poagate's verification requests (spec §14), for a month.

poagate asks about a suppressed AD1's site V minutes after its ``event_at`` (or at once when the
AD1 arrived later than that), again T minutes later, up to A attempts
(``poagate.domain.verification``). The simulator plays the DSP: it asks the site's ESME and
answers with any message from it, or from the hub, when, and only when, the site has power at
the moment of the request (``PowerLog``); the answer comes after a delay of seconds to a few
minutes (``ANSWER_DELAY_SECONDS``: 5 s plus an exponential wait with a mean of 40 s, at most
5 minutes — a read of a powered meter over the SMWAN usually answers in seconds, sometimes in
minutes), and each attempt's answer is lost with probability ``verification_loss`` (default
0.02, spec §14). A meter a release bricked, or a site in a storm, never answers.

The answers are made for every AD1 of a site that qualifies for suppression (the only AD1s
poagate can suppress), by the same schedule poagate keeps, so they are the messages a DSP would
post for the requests poagate makes. An AD1 poagate forwarded at once got no request in truth;
its site's answer is then one more message from a powered device, which is harmless: it is a
true sign that the site had power.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from poagate.domain.verification import VerificationPlan
from poagate.formats.timestamps import to_us
from poagate.sim import duis
from poagate.sim.power import PowerLog

ANSWER_DELAY_SECONDS = (5.0, 40.0, 300.0)  # at least, mean of the exponential part, at most
HUB_ANSWER_SHARE = 0.2  # answers that come from the hub rather than the ESME
DSP_USER = "90-B3-D5-1F-30-01-00-0F"  # who the DSP's reads run as, in the DUIS answers


@dataclass(frozen=True, slots=True)
class RaisedAd1:
    """An AD1 the month raised, as poagate sees it (``event_at`` is ``received_at`` when the
    alert carries none) and the site it came from."""

    alert_id: str
    chf_id: str
    esme_id: str
    event_at: datetime
    received_at: datetime
    qualifies: bool


def answer_delay(rng: random.Random) -> timedelta:
    low, mean, high = ANSWER_DELAY_SECONDS
    return timedelta(seconds=min(high, low + rng.expovariate(1 / mean)))


def verification_answers(
    raised: list[RaisedAd1],
    power: PowerLog,
    plan: VerificationPlan,
    loss: float,
    seed: int,
    duis_share: float = 0.0,
) -> list[bytes]:
    """The lines a DSP posts answering the requests poagate makes with ``plan``, in
    ``received_at`` order."""
    after, timeout = plan.after // timedelta(minutes=1), plan.timeout // timedelta(minutes=1)
    rng = random.Random(f"answers:{seed}:{after}:{timeout}:{plan.attempts}")
    lines: list[tuple[int, str, bytes]] = []
    for ad1 in raised:
        if not ad1.qualifies:
            continue
        first = plan.first_request(ad1.event_at, ad1.received_at)
        for attempt in range(plan.attempts):
            asked = first + plan.timeout * attempt
            if not power.has_power(ad1.chf_id, asked) or rng.random() < loss:
                continue  # nothing to answer with, or the answer was lost
            at = asked + answer_delay(rng)
            device = ad1.chf_id if rng.random() < HUB_ANSWER_SHARE else ad1.esme_id
            lines.append((to_us(at), ad1.alert_id, _answer(rng, device, at, duis_share)))
            break
    lines.sort()
    return [line for *_, line in lines]


def _answer(rng: random.Random, device: str, at: datetime, duis_share: float) -> bytes:
    """A device's answer: a ``device_message``, or a DUIS response to an SRV 4.1.1 read."""
    obj: dict[str, object]
    if duis_share > 0 and rng.random() < duis_share:
        counter = rng.randint(1, 10**9)
        xml = duis.success_response(device, DSP_USER, counter, service="4.1.1")
        obj = {"type": "duis", "received_at": at, "xml": xml}
    else:
        obj = {"type": "device_message", "device_id": device, "received_at": at}
    return orjson.dumps(obj, option=orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE)
