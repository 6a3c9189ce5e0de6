"""Fuzz `cks serve` with SigV4-signed requests generated from the botocore models.

Every operation of every model the server serves from (KMS, CloudHSM, the CloudHSM admin API)
is fuzzed, served or not, so an operation added later is covered without a change here: a
served one gets values built from its input shape (valid, then broken: wrong types, null,
missing and unknown members, lengths, patterns, enums, awkward unicode); an unserved one must
answer UnknownOperationException. Bodies and headers are broken too: invalid UTF-8, huge and
deeply nested JSON, other content types and targets.

The property: every answer is a 2xx JSON object or a 4xx AWS error body (`__type`, a `message`),
never a 5xx, a traceback or a dropped connection; and afterwards the server still answers a
valid request and has logged no traceback. Runs on SQLite and PostgreSQL; the example count is
CKS_FUZZ_EXAMPLES (`make test`: a few hundred; `make fuzz`: thousands). The figures (requests,
answers by status and error) are printed with `-s` or `-n 0` and written as JSON beside the
test's temporary files.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmscks.api.model import ServiceModel, load_service_model
from kmscks.cloudhsm.admin import ADMIN_MODEL, ADMIN_OPERATIONS
from kmscks.cloudhsm.api import CLOUDHSM_OPERATIONS
from kmscks.service.served import KMS_OPERATIONS
from tests.fuzz.shapes import ANY_JSON, ShapeStrategies
from tests.fuzz.wire import Answer, SignedClient
from tests.helpers.clients import unique_region
from tests.helpers.server import ServerProcess

EXAMPLES = int(os.environ.get("CKS_FUZZ_EXAMPLES", "300"))
MAX_REQUEST_BYTES = 1024 * 1024  # the server's default [limits] max_request_bytes


@dataclass(frozen=True)
class Service:
    model: ServiceModel
    served: frozenset[str]
    strategies: ShapeStrategies

    def __repr__(self) -> str:
        return f"Service({self.model.name!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis's reports
        printer.text(repr(self))


def _service(model: ServiceModel, declared: Iterable[str]) -> Service:
    return Service(model, frozenset(declared), ShapeStrategies(model))


# The server's registry: the declared operations each model is served for (kmscks.registry
# refuses to start a server whose @serves coroutines differ from these).
SERVICES = [
    _service(load_service_model("kms"), KMS_OPERATIONS),
    _service(load_service_model("cloudhsmv2"), CLOUDHSM_OPERATIONS),
    _service(ServiceModel("cks-cloudhsm-admin", ADMIN_MODEL), ADMIN_OPERATIONS),
]
OPERATIONS = [
    (service, operation) for service in SERVICES for operation in service.model.raw["operations"]
]


@dataclass
class Request:
    service: Service
    operation: str
    kind: str
    target: str
    body: bytes
    content_type: str = "application/x-amz-json-1.1"

    def __repr__(self) -> str:  # bodies can be megabytes: show their start and size
        body = self.body[:300] + (b"..." if len(self.body) > 300 else b"")
        return (
            f"Request({self.operation!r}, kind={self.kind!r}, target={self.target!r},"
            f" content_type={self.content_type!r}, body[{len(self.body)}]={body!r})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis's reports
        printer.text(repr(self))

    @property
    def routed(self) -> bool:
        """Whether the server should find an operation for the target."""
        # HTTP trims whitespace around a header value (RFC 9110 §5.5).
        wanted = f"{self.service.model.target_prefix}.{self.operation}"
        return self.target.strip(" \t") == wanted and (self.operation in self.service.served)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()  # ensure_ascii: lone surrogates go out as \ud800


@st.composite
def requests(draw: Any) -> Request:
    # Mostly served operations (where the shapes matter), any operation one time in five; a
    # service first, so KMS's few operations weigh as much as CloudHSM's many.
    if draw(st.integers(0, 4)) == 0:
        service, operation = draw(st.sampled_from(OPERATIONS))
    else:
        service = draw(st.sampled_from(SERVICES))
        operation = draw(st.sampled_from(sorted(service.served)))
    target = f"{service.model.target_prefix}.{operation}"
    shape = service.model.input_shape_name(operation)
    strategies = service.strategies
    kind = draw(
        st.sampled_from(
            ["valid", "valid", "mutated", "mutated", "mutated", "wrong-top", "body", "header"]
        )
    )
    content_type = "application/x-amz-json-1.1"
    if kind == "valid":
        body = _json(draw(strategies.valid(shape)) if shape else {})
    elif kind == "mutated" and shape:
        body = _json(draw(strategies.mutated(shape)))
    elif kind in ("wrong-top", "mutated"):
        body = _json(draw(strategies.hostile(shape) if shape else ANY_JSON))
    elif kind == "body":
        body = draw(
            st.sampled_from(
                [
                    b"",
                    b"   ",
                    b"{",
                    b"null",
                    b"[]",
                    b'"text"',
                    b"{}{}",
                    b'{"a": 1,}',
                    b'{"a": "\xff\xfe"}',
                    b'{"a": "\xed\xa0\x80"}',
                    b"\xef\xbb\xbf{}",
                    b"[" * 100_000 + b"]" * 100_000,
                    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
                    b'{"x": "' + b"a" * (MAX_REQUEST_BYTES + 1) + b'"}',
                    b'{"Limit": 1' + b"0" * 400 + b"}",
                    b'{"Limit": 1e400}',
                    b'{"Limit": NaN}',
                ]
            )
        )
    else:  # header
        body = _json(draw(strategies.valid(shape)) if shape else {})
        content_type = draw(
            st.sampled_from(["application/json", "text/plain", "", "application/x-amz-json-1.0"])
        )
        target = draw(
            st.sampled_from(
                [
                    target,
                    target.lower(),
                    "",
                    operation,
                    f"{target}X",
                    f"Other.{operation}",
                    f"{target}\t",
                    f"{service.model.target_prefix}.",
                ]
            )
        )
    return Request(service, operation, kind, target, body, content_type)


def check_answer(request: Request, answer: Answer) -> None:
    if answer.status == 0:
        # Only a body over the limit may lose its (early) 413 to the server's close.
        assert len(request.body) > MAX_REQUEST_BYTES, (request, answer)
        return
    assert answer.status < 500, (request, answer)
    assert b"Traceback" not in answer.body
    document = answer.json()  # every answer is JSON
    assert isinstance(document, dict)
    if answer.status >= 400:
        assert isinstance(document.get("__type"), str), document
        # The message may be left out, as KMS leaves out InvalidCiphertextException's.
        assert isinstance(document.get("message", ""), str), document
        if not request.routed and len(request.body) <= MAX_REQUEST_BYTES:
            assert document["__type"] == "UnknownOperationException", (request, document)
    else:
        assert 200 <= answer.status < 300 and request.routed, (request, answer)


def _write_figures(store: str, figures: Counter[str], directory: Path) -> str:
    total = sum(figures.values())
    by_status = Counter[str]()
    for key, count in figures.items():
        by_status[key.split(" ", 1)[0]] += count
    line = (
        f"fuzz {store}: {total} requests over {len(OPERATIONS)} operations"
        f" ({sum(len(s.served) for s in SERVICES)} served); by status "
        + ", ".join(f"{status}: {count}" for status, count in sorted(by_status.items()))
    )
    (directory / f"cks-fuzz-{store}.json").write_text(
        json.dumps({"store": store, "requests": total, "answers": dict(figures)}, indent=1)
    )
    return line


def test_every_served_operation_is_fuzzed_from_its_model() -> None:
    served = {operation for service in SERVICES for operation in service.served}
    assert {"CreateCustomKeyStore", "DescribeCustomKeyStores", "DescribeClusters"} <= served
    kms = SERVICES[0]
    assert kms.served < set(kms.model.raw["operations"])  # unserved KMS operations exist too


def test_fuzz(
    store_server: ServerProcess,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    region = unique_region()
    client = SignedClient(store_server.port, region)
    figures: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests())
    def one(request: Request) -> None:
        answer = client.send(
            request.target,
            request.body,
            content_type=request.content_type,
            service=request.service.model.signing_name,
        )
        figures[f"{answer.status} {answer.error_type or 'ok'}"] += 1
        check_answer(request, answer)

    try:
        one()
        valid = client.call("DescribeCustomKeyStores", {})
        assert valid.status == 200, valid.body
    finally:
        client.close()
    assert "Traceback" not in store_server.log()
    store = getattr(store_server, "store_name", "sqlite")
    line = _write_figures(store, figures, tmp_path_factory.getbasetemp())
    with capsys.disabled():
        print(f"\n{line}")
