"""The integration tests' Prefect client sends a request again when the server says it was
busy (503 on a locked SQLite database: CI once failed on a single such answer), and only then."""

from __future__ import annotations

import json

import httpx

from tests.system.prefect_stack import RetryingTransport


def counting_server(statuses: list[int]):
    """A server that answers with `statuses` in turn and records every body it was sent."""
    bodies: list[dict] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        status = statuses[min(len(bodies), len(statuses)) - 1]
        return httpx.Response(status, json={"id": "run-1"} if status == 201 else {})

    return bodies, httpx.MockTransport(answer)


def client(inner: httpx.BaseTransport, attempts: int = 8) -> httpx.Client:
    transport = RetryingTransport(inner, attempts=attempts, first_wait=0.001)
    return httpx.Client(base_url="http://server/api", transport=transport)


def test_a_busy_answer_is_sent_again_with_the_same_body():
    bodies, server = counting_server([503, 503, 201])
    with client(server) as http:
        response = http.post("/deployments/d/create_flow_run", json={"parameters": {"x": 1}})
    assert response.status_code == 201
    assert response.json() == {"id": "run-1"}
    assert bodies == [{"parameters": {"x": 1}}] * 3


def test_other_failures_are_not_sent_again():
    for status in (400, 404, 409, 422, 500):
        bodies, server = counting_server([status, 201])
        with client(server) as http:
            assert http.post("/flow_runs/filter", json={}).status_code == status
        assert len(bodies) == 1, status


def test_the_last_busy_answer_is_returned_after_every_attempt():
    bodies, server = counting_server([503])
    with client(server, attempts=4) as http:
        assert http.post("/flow_runs/filter", json={}).status_code == 503
    assert len(bodies) == 4


def test_the_wait_grows_and_follows_retry_after_within_its_bound():
    transport = RetryingTransport(httpx.MockTransport(lambda r: httpx.Response(200)))
    assert [transport.wait(n, None) for n in (1, 2, 3, 4, 5, 6, 7)] == [
        0.25,
        0.5,
        1.0,
        2.0,
        4.0,
        4.0,
        4.0,
    ]
    assert transport.wait(1, "3") == 3.0
    assert transport.wait(1, "60") == 4.0
    assert transport.wait(2, "Wed, 21 Oct 2026 07:28:00 GMT") == 0.5


def test_a_status_poll_that_times_out_is_polled_again():
    """Waiting for a flow run polls its state; a server too busy to answer one poll in time
    (CI once failed on a single read timeout while a regional run fanned out) is asked again
    on the next poll, within the run's deadline."""
    from types import SimpleNamespace

    from tests.system.prefect_stack import Stack

    answers = iter(["timeout", "RUNNING", "COMPLETED"])

    def answer(request: httpx.Request) -> httpx.Response:
        state = next(answers)
        if state == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"id": "run-1", "state": {"type": state}})

    stack = SimpleNamespace(
        http=httpx.Client(base_url="http://server/api", transport=httpx.MockTransport(answer))
    )
    run = Stack.wait(stack, "run-1")
    assert run["state"]["type"] == "COMPLETED"
    assert next(answers, None) is None  # every answer was asked for
