"""``Client.submit_many``'s batches: read from any iterable, sent one after another or several
at once, answered in the order given.

Several requests at once pay where the service has several workers (``loopwise serve
--workers N`` on PostgreSQL): one batch's database work then overlaps the next batch's
scoring, which one request cannot do (``docs/benchmarks.md``, the HTTP section), and the
client's own encoding and parsing stop sitting between requests. Worker threads send each batch
and parse its answer over the one thread-safe ``httpx.Client``; the caller's iterable is read in
the calling thread only, one batch beyond those in flight, so memory stays bounded by
``concurrency + 1`` batches.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Any

from loopwise.client._errors import ApiError
from loopwise.client._models import Item, Routed, parse_list
from loopwise.errors import InvalidInput

MAX_BATCH = 10_000
"""Items the service accepts in one bulk request."""
MAX_CONCURRENCY = 32
"""Requests ``submit_many`` sends at once at most."""
_ITEM_INDEX = re.compile(r"^items\[(\d+)\]")
_ITEM_IN_TEXT = re.compile(r"in items\[(\d+)\]")

ItemLike = Item | Mapping[str, Any]
"""An :class:`Item`, or a mapping with its fields (``{"payload": ..., "external_id": ...}``)."""

Post = Callable[[list[dict[str, Any]], bool], Any]
"""Sends one batch (its items' JSON, whether resending is harmless); answers the body."""


def item_json(item: ItemLike) -> dict[str, Any]:
    return item.to_json() if isinstance(item, Item) else dict(item)


def shift(field: str, offset: int) -> str:
    """``items[3].payload`` of a batch starting at ``offset`` -> ``items[{offset + 3}].payload``."""
    return _ITEM_INDEX.sub(lambda m: f"items[{int(m.group(1)) + offset}]", field)


def shift_error(exc: ApiError, offset: int) -> None:
    """``exc`` about a batch starting at ``offset``, made to name items by their place in all:
    its field and an item its message names (``is in items[1] with another payload``)."""
    if exc.field:
        exc.field = shift(exc.field, offset)
    message = _ITEM_IN_TEXT.sub(lambda m: f"in items[{int(m.group(1)) + offset}]", exc.message)
    if message != exc.message:
        exc.message = message
        exc.args = (message,)


def check(batch_size: int, concurrency: int) -> None:
    """Refuse sizes the service or this client would refuse, before anything is sent."""
    for field, value, high in (
        ("batch_size", batch_size, MAX_BATCH),
        ("concurrency", concurrency, MAX_CONCURRENCY),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise InvalidInput(f"must be a whole number from 1 to {high:,}", field=field)


def submit_batches(
    post: Post, items: Iterable[ItemLike], *, batch_size: int, concurrency: int
) -> list[Routed]:
    """Every item's answer, in order; ``post`` sends one batch. See ``Client.submit_many``.

    With ``concurrency`` above 1 a failing batch is raised once the batches in flight beside
    it have been answered, so no request is still running when this returns or raises; the
    earliest failing batch (in the order given) is the one raised.
    """
    check(batch_size, concurrency)
    chunks = batches(items, batch_size)
    results: list[Routed] = []
    if concurrency == 1:
        for start, chunk in chunks:
            results += _send(post, start, chunk)
        return results
    with ThreadPoolExecutor(concurrency, thread_name_prefix="loopwise-bulk") as pool:
        in_flight: deque[Future[list[Routed]]] = deque()
        for start, chunk in chunks:
            if len(in_flight) == concurrency:
                results += in_flight.popleft().result()
            in_flight.append(pool.submit(_send, post, start, chunk))
        while in_flight:
            results += in_flight.popleft().result()
    return results


def batches(items: Iterable[ItemLike], size: int) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """``(position of the first item, the batch's JSON)``, read ``size`` items at a time."""
    pending = iter(items)
    start = 0
    while chunk := [item_json(item) for item in islice(pending, size)]:
        yield start, chunk
        start += len(chunk)


def _send(post: Post, start: int, chunk: list[dict[str, Any]]) -> list[Routed]:
    idempotent = all(body.get("external_id") is not None for body in chunk)
    try:
        data = post(chunk, idempotent)
    except ApiError as exc:
        shift_error(exc, start)
        raise
    return parse_list(Routed, data["items"])
