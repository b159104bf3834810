"""The request-side types and checks every service's edge uses: strict scalars, dates and times
only as text, a correlation id and a traceparent kept only when of a safe shape, and the shape
and depth of a JSON body."""

import json
import re
import uuid
from datetime import date
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from rapport_shared.contracts.plan import AgreedGoal
from rapport_shared.telemetry.context import (
    bound_context,
    checked_correlation_id,
    continue_trace,
    current_metadata,
    valid_traceparent,
)
from rapport_shared.web.http import header_bytes
from rapport_shared.web.request_limits import MAX_JSON_DEPTH, json_depth_over, shape_problem
from rapport_shared.web.request_models import (
    AgreedGoalRequest,
    AgreedHomeworkRequest,
    ClockTime,
    GasWeight,
    RequestDate,
    RequestTime,
    WholeNumber,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
GOOD_TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def refused(type_: Any, value: Any) -> str:
    """The message of the one error validating value gives."""
    return str(refused_with(type_, value)["msg"])


def refused_with(type_: Any, value: Any) -> Any:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(type_).validate_python(value)
    [error] = caught.value.errors()
    return error


@pytest.mark.parametrize("value", [True, False, "3", 3.0, 2.5, None, [3]])
def test_a_whole_number_is_an_int_and_nothing_else(value):
    refused(WholeNumber, value)
    assert TypeAdapter(WholeNumber).validate_python(3) == 3


@pytest.mark.parametrize("value", ["2", True, "Infinity", float("inf"), 0, -1])
def test_a_gas_weight_is_a_finite_positive_number(value):
    refused(GasWeight, value)
    assert TypeAdapter(GasWeight).validate_python(2) == 2.0


@pytest.mark.parametrize(
    "value", [20_000, 0, "0", "20000", "2026-11-22T00:00:00Z", "22/11/2026", "1899-12-31", True]
)
def test_a_date_is_iso_text_within_range(value):
    refused(RequestDate, value)
    assert TypeAdapter(RequestDate).validate_python("2026-11-22") == date(2026, 11, 22)


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        (RequestDate, "1899-12-31"),
        (RequestDate, "3000-01-01"),
        (RequestTime, "0001-01-01T00:00+05:00"),
    ],
)
def test_the_range_of_dates_and_times_is_said_in_dates(type_, value):
    assert refused(type_, value) == "must be between 1900-01-01 and 2999-12-31"


@pytest.mark.parametrize(
    "value", [12345, 1.7e9, "12345", "1700000000", "2026-11-22", "2026-11-22T09:00", True]
)
def test_a_time_is_iso_text_with_an_offset(value):
    # Either not text of a time at all, or one without an offset (worded by the HTTP layer).
    assert refused_with(RequestTime, value)["type"] in {"datetime_type", "timezone_aware"}
    parsed = TypeAdapter(RequestTime).validate_python("2026-11-22T09:00:00+01:00")
    assert parsed.utcoffset() is not None


@pytest.mark.parametrize("value", [3600, "3600", "9", True])
def test_a_clock_time_is_text(value):
    assert refused(ClockTime, value) == "must be a time of day, e.g. 21:30"
    assert str(TypeAdapter(ClockTime).validate_python("21:30")) == "21:30:00"


def test_the_plan_request_models_are_strict_where_the_contracts_stay_lenient():
    goal = {
        "description": "walk",
        "measure": "walks",
        "target": "3 a week",
        "due_date": "2026-12-01",
        "review_every_days": "7",
        "gas_weight": "2",
    }
    with pytest.raises(ValidationError) as caught:
        AgreedGoalRequest.model_validate(goal)
    assert {e["loc"][0] for e in caught.value.errors()} == {"review_every_days", "gas_weight"}
    # The model the goals service reads session-closed with still takes what it always took.
    assert AgreedGoal.model_validate(goal).review_every_days == 7
    homework = {"instructions": "log", "due_at": 1_900_000_000, "goal_index": True}
    with pytest.raises(ValidationError) as caught:
        AgreedHomeworkRequest.model_validate(homework)
    assert {e["loc"][0] for e in caught.value.errors()} == {"due_at", "goal_index"}


@pytest.mark.parametrize(
    "sent",
    [None, "", "x" * 129, "a b", "a;b", "a\tb", "ü", "a/b", "a\nb", "<script>", "a" * 1_100_000],
)
def test_an_unsafe_correlation_id_is_replaced_by_a_fresh_uuid(sent):
    replaced = checked_correlation_id(sent)
    assert replaced != sent
    assert uuid.UUID(replaced)


@pytest.mark.parametrize(
    "sent", ["abc", "web:checkout.7f3a-1_2", "x" * 128, "5b0931df-74db-4859-8b76-532ca5a781ee"]
)
def test_a_safe_correlation_id_is_kept(sent):
    assert checked_correlation_id(sent) == sent


def test_bound_context_puts_only_a_checked_id_into_event_metadata():
    with bound_context("a" * 10_000) as correlation_id:
        assert current_metadata().correlation_id == correlation_id
        assert len(correlation_id) == 36
    with bound_context("order-42") as correlation_id:
        assert current_metadata().correlation_id == "order-42"


@pytest.mark.parametrize(
    "sent",
    [
        GOOD_TRACEPARENT + "-extra",
        GOOD_TRACEPARENT + "\n",
        GOOD_TRACEPARENT.upper(),
        "01" + GOOD_TRACEPARENT[2:],
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"00-{TRACE}-{'0' * 16}-01",
        GOOD_TRACEPARENT + "x" * 1_000_000,
    ],
)
def test_a_malformed_traceparent_starts_a_new_trace(sent):
    assert not valid_traceparent(sent)
    onward = continue_trace(sent)
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", onward)
    assert TRACE not in onward


def test_a_valid_traceparent_continues_its_trace_with_its_flags():
    onward = continue_trace(f"00-{TRACE}-00f067aa0ba902b7-00")
    assert onward.startswith(f"00-{TRACE}-") and onward.endswith("-00")
    assert onward != f"00-{TRACE}-00f067aa0ba902b7-00"  # a new span id


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"null", "must be a JSON object"),
        (b"[]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"3", "must be a JSON object"),
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested more than 32 levels deep"),
        (b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", "nested more than 32 levels deep"),
        (b"{} trailing", None),  # malformed: the route's validation locates it
        (b'{"goals": [{"milestones": [{"due_date": "2026-12-01"}]}]}', None),
    ],
)
def test_the_shape_of_a_body(body, problem):
    assert shape_problem(body) == problem


def test_depth_is_counted_in_levels_of_objects_and_arrays():
    def nested(levels: int) -> Any:
        value: Any = {}
        for _ in range(levels - 1):
            value = [value]
        return value

    assert not json_depth_over(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)
    assert json_depth_over(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)
    assert not json_depth_over(json.loads('{"a": 1, "b": "x"}'), 1)


def test_header_bytes_count_every_name_and_value():
    scope = {"headers": [(b"host", b"x"), (b"x-correlation-id", b"a" * 100)]}
    assert header_bytes(scope) == 4 + 1 + 16 + 100
