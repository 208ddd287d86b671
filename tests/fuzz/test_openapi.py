"""Schemathesis over the OpenAPI description of every endpoint, as each role.

Beside the requests schemathesis generates from the description (positive and negative), one
in three puts a value a caller can type but no parameter should take into one of the
operation's path or query parameters: a NUL or other control character, a superscript or
Arabic-Indic digit, a number past 64 bits, and cursors that decode to such ids (``HOSTILE``;
tests/api/test_hostile_input.py sends each into every parameter on both backends).

Every generated request is sent six times — with the Authorization header the fuzzer made up
(if any), without a token, with a made-up one, and as ``dsp``, ``dno`` (bound to 12) and
``admin`` — to one application (SQLite store, the API harness's fleet, some decided AD1s).
For every answer: no 5xx, a status the operation declares, a declared content type, and a
body that matches its declared schema. ``POAGATE_FUZZ_EXAMPLES`` sets the examples per
operation (default 50, bounded so the suite stays within CI's time); the figures per
operation and role are printed at the end of the module."""

from __future__ import annotations

import base64
import collections
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks
from schemathesis.python import asgi

from poagate.api.app import create_app
from poagate.api.options import ServerOptions
from poagate.service.access import new_token, token_sha256
from poagate.store.database import open_store
from tests.api_harness import OPERATORS, USER, Clock, ad1, chf_of, esme_of, fleet_csv
from tests.figures import FIGURES

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("POAGATE_FUZZ_EXAMPLES", "50"))
ROLES = ("generated", "none", "made-up", "dsp", "dno", "admin")
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# What a caller can type into any id, cursor or filter (docs/security.md "Limits"): each has
# given a 500 somewhere (str.isdigit() is true of "²", which int() refuses; PostgreSQL cannot
# hold a NUL in text).
HOSTILE = [
    "a\x00",
    "\x00",
    "1\r\n",
    "\x7f",
    "²",
    "١٢",
    "9" * 25,
    "é",
    _b64("FUZZ-1\x00"),
    _b64("x#²"),
    _b64("x#١"),
    _b64("x#" + "9" * 30),
]
# Operations whose answers cannot match a schema fixed in advance are checked for no 5xx alone.
FUZZED: collections.Counter[tuple[str, str]] = collections.Counter()
STATUSES: collections.Counter[tuple[str, int]] = collections.Counter()


class Fleet:
    """The application under fuzzing and its tokens (made once for the module)."""

    def __init__(self, root: Path) -> None:
        self.database = f"sqlite:///{root / 'fuzz.db'}"
        clock = Clock()
        self.app: FastAPI = create_app(
            ServerOptions(
                database=self.database, clock=clock, deliveries=False, token_cache_seconds=2
            )
        )
        self.tokens: dict[str, str] = {"made-up": new_token()}
        self.protected: set[int] = set()
        with open_store(self.database, "service", schema="create") as store:
            for role, operators in (("admin", []), ("dsp", []), ("dno", ["12"])):
                token = new_token()
                self.protected.add(
                    store.tokens.add(token_sha256(token), role, operators, "fuzz", clock(), "test")
                )
                self.tokens[role] = token
        self.headers = {
            role: {} if role in ("none", "generated") else {"Authorization": f"Bearer {token}"}
            for role, token in [("none", ""), ("generated", ""), *self.tokens.items()]
        }


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path_factory.mktemp("fuzz"))
    from fastapi.testclient import TestClient

    with TestClient(fleet.app) as client:  # seed it through the API itself
        admin = fleet.headers["admin"]
        for path, body, kind in (
            ("/v1/reference/inventory", fleet_csv(), "text/csv"),
            ("/v1/reference/guid-list", "\n".join(esme_of(o) for o in OPERATORS), "text/plain"),
        ):
            answer = client.put(path, content=body, headers={**admin, "Content-Type": kind})
            assert answer.status_code == 200, answer.text
        lines = [
            {"type": "activation", "request_id": f"{USER}:{esme_of('12')}:1"},
            ad1("FUZZ-1", chf_of("12")),
            ad1("FUZZ-2", chf_of("13")),
            ad1("FUZZ-3", "00-15-7B-FF-FF-FF-FF-FF"),
        ]
        import orjson

        answer = client.post(
            "/v1/messages",
            content=b"\n".join(orjson.dumps(line) for line in lines),
            headers={**fleet.headers["dsp"], "Content-Type": "application/x-ndjson"},
        )
        assert answer.status_code == 200, answer.text
    yield fleet
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def api_schema(fleet: Fleet) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fleet.app)


def operations_declared() -> list[tuple[str, str]]:
    """(method, path) of every operation the OpenAPI description declares (read from an
    application that is never started)."""
    spec = create_app(ServerOptions(database="sqlite:///unused.db")).openapi()
    return [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]


def parameters_declared() -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(method, path) → [(name, "path" or "query")] of every operation's parameters."""
    spec = create_app(ServerOptions(database="sqlite:///unused.db")).openapi()
    return {
        (method.upper(), path): [
            (p["name"], p["in"]) for p in op.get("parameters", []) if p["in"] in ("path", "query")
        ]
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    }


def hostile(operation: Any, declared: list[tuple[str, str]]) -> Any:
    """Cases of ``operation`` with one of its parameters (the first when it has none to pick
    from: the case as generated) set to one of ``HOSTILE``."""

    def put(case: Any, value: str, pick: int) -> Any:
        if not declared:
            return case
        name, where = declared[pick % len(declared)]
        path_parameters = dict(case.path_parameters or {})
        query = dict(case.query or {})
        (path_parameters if where == "path" else query)[name] = value
        return operation.Case(
            path_parameters=path_parameters,
            headers=case.headers,
            query=query,
            body=case.body,
            media_type=case.media_type,
        )

    return st.builds(
        put,
        operation.as_strategy(GenerationMode.POSITIVE),
        st.sampled_from(HOSTILE),
        st.integers(0, 63),
    )


def as_role(operation: Any, case: Any, authorization: dict[str, str]) -> Any:
    """The generated request with a role's token instead of whatever Authorization header the
    fuzzer made up (or took away)."""
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    return operation.Case(
        path_parameters=case.path_parameters,
        headers={**headers, **authorization},
        query=case.query,
        body=case.body,
        media_type=case.media_type,
    )


PARAMETERS = parameters_declared()


@pytest.mark.parametrize(("method", "path"), operations_declared())
def test_every_endpoint_as_every_role(
    api_schema: Any, fleet: Fleet, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    label = f"{method} {path}"
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
        hostile(operation, PARAMETERS[(method, path)]),
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same examples on every run: a failure here is reproducible
        database=None,
    )
    @given(case=cases)
    def fuzz(case: Any) -> None:
        if method == "DELETE" and case.path_parameters.get("token_id") in fleet.protected:
            reject()  # revoking the fuzzer's own tokens would leave the other roles nothing to do
        for role in ROLES:
            sent = case if role == "generated" else as_role(operation, case, fleet.headers[role])
            response = sent.call()
            sent.validate_response(response, checks=CHECKS)
            FUZZED[(label, role)] += 1
            STATUSES[(label, response.status_code)] += 1
            if role == "admin":
                assert response.status_code not in (401, 403), response.text

    fuzz()


def test_the_figures_of_the_fuzzing(fleet: Fleet) -> None:
    """Every operation was fuzzed as every role (run after the fuzzing: pytest keeps file
    order); the figures are printed at the end of the run (tests/figures.py)."""
    operations = sorted({operation for operation, _ in FUZZED})
    assert operations == sorted(f"{m} {p}" for m, p in operations_declared())
    for operation in operations:  # (an operation without parameters has one example only)
        assert all(FUZZED[(operation, role)] >= 1 for role in ROLES), operation
    reads = fleet.app.state.context.reads
    assert reads.idle == reads.opened <= reads.size  # no error path kept a connection
    total = sum(FUZZED.values())
    FIGURES.append(
        f"schemathesis: {total:,} requests; per operation and role (up to {EXAMPLES} "
        "examples each, every example sent as every role)"
    )
    for operation in operations:
        by_role = " ".join(f"{r}={FUZZED[(operation, r)]}" for r in ROLES)
        statuses = sorted((s, n) for (o, s), n in STATUSES.items() if o == operation)
        FIGURES.append(f"  {operation}: {by_role}; statuses {dict(statuses)}")
