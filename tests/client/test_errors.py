"""Error answers become the library's domain errors, mixed with ``ApiError`` (status, code)."""

from __future__ import annotations

import httpx
import pytest

from loopwise import errors
from loopwise.client import ApiError, ServerError
from loopwise.client._errors import CODES, api_class
from loopwise.errors import LoopwiseError
from tests.client.conftest import error, mock_client


def raised(response: httpx.Response) -> ApiError:
    client, _ = mock_client(lambda _: response)
    with client, pytest.raises(ApiError) as caught:
        client.me()
    return caught.value


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_domain_code_raises_its_own_class(code: str) -> None:
    kind = CODES[code]
    exc = raised(error(409, kind.code, "it clashed", field="items[2].payload"))
    assert isinstance(exc, kind)
    assert type(exc) is api_class(kind)
    assert type(exc).__name__ == kind.__name__
    assert (exc.status, exc.code, exc.field, exc.message) == (
        409,
        kind.code,
        "items[2].payload",
        "it clashed",
    )
    assert str(exc) == "items[2].payload: it clashed"


def test_the_code_wins_over_the_status() -> None:
    exc = raised(error(404, "item_not_found", "no item 'x'", field="external_id"))
    assert isinstance(exc, errors.ItemNotFound)
    assert not isinstance(exc, errors.ProjectNotFound)
    assert exc.field == "external_id"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, errors.InvalidInput),
        (401, errors.Unauthenticated),
        (403, errors.NotAllowed),
        (404, errors.NotFound),
        (409, errors.Conflict),
        (413, errors.InvalidInput),
        (422, errors.InvalidInput),
        (500, ServerError),
        (502, ServerError),
    ],
)
def test_an_unknown_code_falls_back_to_the_class_of_its_status(
    status: int, kind: type[LoopwiseError]
) -> None:
    exc = raised(error(status, "something_new", "a newer server"))
    assert isinstance(exc, kind)
    assert exc.code == "something_new"
    assert exc.status == status


def test_the_service_codes_without_a_domain_class() -> None:
    too_large = raised(error(413, "too_large", "the request body is over 64 bytes"))
    assert isinstance(too_large, errors.InvalidInput)
    assert too_large.code == "too_large"
    not_allowed = raised(error(405, "method_not_allowed", "Method Not Allowed"))
    assert type(not_allowed) is ApiError
    assert not isinstance(not_allowed, errors.NotFound)
    internal = raised(error(500, "internal_error", "an unexpected error; it was logged"))
    assert type(internal) is ServerError
    assert internal.message == "an unexpected error; it was logged"


def test_a_body_that_is_not_json_is_kept_short_in_the_message() -> None:
    exc = raised(httpx.Response(502, text="<html>" + "x" * 5000 + "</html>"))
    assert isinstance(exc, ServerError)
    assert exc.code == "internal_error"
    assert exc.message.startswith("HTTP 502 Bad Gateway: <html>xxx")
    assert len(exc.message) < 600
    assert exc.field is None


def test_a_json_body_of_another_shape_gives_the_status_line() -> None:
    exc = raised(httpx.Response(404, json={"detail": "Not Found"}))
    assert isinstance(exc, errors.NotFound)
    assert exc.message == "HTTP 404 Not Found"
    assert exc.code == "not_found"


def test_domain_errors_are_caught_as_with_the_library() -> None:
    client, _ = mock_client(lambda _: error(404, "project_not_found", "no project 'nope'"))
    with client:
        try:
            client.project("nope")
        except errors.NotFound as exc:
            caught: LoopwiseError = exc
    assert isinstance(caught, errors.ProjectNotFound)
    assert isinstance(caught, ApiError)
