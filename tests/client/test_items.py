"""Items and decisions against the real service: one, many (chunked), read back, paged."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from loopwise.client import ApiError, Client, Item
from loopwise.core.enums import ItemStatus, Route
from loopwise.errors import InvalidInput, ItemNotFound, NotAllowed
from tests.client.conftest import SEEDED, Connect, Counting, Space, World, api
from tests.factories import HAM, NO_HOLDOUT, seeded_model


def coin(external_id: str) -> Item:
    """An item scored by the caller at 0.5: queued for review."""
    return Item(f"message {external_id}", external_id=external_id, probabilities=[0.5, 0.5])


class TestSubmit:
    def test_a_confident_item_is_decided_and_an_unsure_one_queued(
        self, connect: Connect, world: World
    ) -> None:
        # Every seed label trains. Which labels a project holds out depends on its id (the
        # order tests run in): with HAM[0] held out, the model gave it 0.648, below 0.75, in
        # about one run in six.
        space = world.space(training=NO_HOLDOUT)
        seeded_model(world.lw, space.name)
        client = connect("client", on=space)
        decided = client.submit(space.name, {"payload": HAM[0], "external_id": "d-1"})
        assert (decided.status, decided.route) == (ItemStatus.DECIDED, Route.AUTO)
        assert decided.label == decided.predicted_label == "ham"
        assert decided.ticket is None
        assert decided.confidence is not None
        assert decided.confidence >= 0.75

        queued = client.submit(space.name, coin("q-1"))
        assert (queued.status, queued.route, queued.label) == (
            ItemStatus.QUEUED,
            Route.HUMAN,
            None,
        )
        assert queued.ticket is not None
        assert queued.reasons
        assert not queued.duplicate

        again = client.submit(space.name, coin("q-1"))
        assert again.duplicate
        assert (again.item_id, again.ticket) == (queued.item_id, queued.ticket)

    def test_an_item_with_metadata_and_no_external_id(self, connect: Connect, space: Space) -> None:
        routed = connect("client").submit(
            space.name, Item("hello there", metadata={"tier": "vip"}, probabilities=(0.4, 0.6))
        )
        assert len(routed.external_id) == 32
        assert routed.predicted_label == "spam"

    def test_a_bad_item_names_its_field(self, connect: Connect, space: Space) -> None:
        with pytest.raises(InvalidInput) as caught:
            connect("client").submit(space.name, {"payload": "x", "probabilities": [1.0]})
        assert api(caught.value).status == 422
        assert caught.value.field is not None
        assert caught.value.field.endswith("probabilities")

    def test_reviewers_may_not_submit(self, connect: Connect, space: Space) -> None:
        with pytest.raises(NotAllowed) as caught:
            connect("reviewer").submit(space.name, coin("r-1"))
        assert api(caught.value).status == 403


class TestSubmitMany:
    def test_2500_items_go_in_three_requests_and_come_back_in_order(
        self, connect: Connect, space: Space
    ) -> None:
        counting = Counting()
        client = connect("client", transport=counting)
        items = [
            Item(f"message {i}", external_id=f"b-{i}", probabilities=[0.5, 0.5])
            if i % 2
            else {"payload": f"message {i}", "external_id": f"b-{i}", "probabilities": [0.9, 0.1]}
            for i in range(2500)
        ]
        results = client.submit_many(space.name, items, batch_size=1000)
        assert counting.requests == [("POST", f"/v1/projects/{space.name}/items/bulk")] * 3
        assert [r.external_id for r in results] == [f"b-{i}" for i in range(2500)]
        assert [r.status for r in results[:2]] == [ItemStatus.DECIDED, ItemStatus.QUEUED]
        assert len({r.item_id for r in results}) == 2500

    def test_the_default_batch_is_a_thousand(self, connect: Connect, space: Space) -> None:
        counting = Counting()
        client = connect("client", transport=counting)
        results = client.submit_many(space.name, (coin(f"c-{i}") for i in range(1001)))
        assert len(results) == 1001
        assert len(counting.requests) == 2

    def test_a_bad_item_is_named_by_its_place_in_the_whole_list(
        self, connect: Connect, space: Space
    ) -> None:
        counting = Counting()
        client = connect("client", transport=counting)
        items = [coin(f"e-{i}") for i in range(1600)]
        items[1500] = Item("bad", external_id="e-1500", probabilities=[1.0])
        with pytest.raises(InvalidInput) as caught:
            client.submit_many(space.name, items, batch_size=1000)
        assert caught.value.field == "items[1500].probabilities"
        assert len(counting.requests) == 2
        assert client.decision(space.name, "e-999").status is ItemStatus.QUEUED
        with pytest.raises(ItemNotFound):
            client.decision(space.name, "e-1000")

    def test_a_validation_error_is_renamed_too(self, connect: Connect, space: Space) -> None:
        items = [coin(f"v-{i}") for i in range(5)] + [{"payload": "x", "colour": "red"}]
        with pytest.raises(InvalidInput) as caught:
            connect("client").submit_many(space.name, items, batch_size=3)
        assert caught.value.field is not None
        assert caught.value.field.startswith("items[5]")

    @pytest.mark.parametrize(
        ("option", "value"),
        [
            ("batch_size", 0),
            ("batch_size", 10_001),
            ("concurrency", 0),
            ("concurrency", 33),
            ("concurrency", True),
            ("concurrency", 2.0),
        ],
    )
    def test_an_option_out_of_range_is_refused_before_sending(
        self, connect: Connect, space: Space, option: str, value: object
    ) -> None:
        counting = Counting()
        with pytest.raises(InvalidInput) as caught:
            connect("client", transport=counting).submit_many(
                space.name,
                [coin("x")],
                **{option: value},  # type: ignore[arg-type]
            )
        assert caught.value.field == option
        assert counting.requests == []

    def test_nothing_to_submit_sends_nothing(self, connect: Connect, space: Space) -> None:
        counting = Counting()
        assert connect("client", transport=counting).submit_many(space.name, []) == []
        assert counting.requests == []


class Overlapping(httpx.BaseTransport):
    """Passes requests on, holding the first ``meet`` until that many are in flight together
    (so a client that never overlaps them fails within 10 s), and records the most at once."""

    def __init__(self, meet: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.barrier = threading.Barrier(meet, timeout=10)
        self.lock = threading.Lock()
        self.sent = self.in_flight = self.most = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.sent += 1
            first = self.sent <= self.barrier.parties
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            if first:
                self.barrier.wait()
            response = self.inner.handle_request(request)
            response.read()
            return response
        finally:
            with self.lock:
                self.in_flight -= 1

    def close(self) -> None:
        self.inner.close()


class TestSubmitManyAtOnce:
    def test_batches_overlap_up_to_the_concurrency_and_answer_in_order(
        self, connect: Connect, space: Space
    ) -> None:
        overlapping = Overlapping(meet=3)
        client = connect("client", transport=overlapping)
        items = [coin(f"o-{i}") for i in range(650)]
        results = client.submit_many(space.name, items, batch_size=100, concurrency=3)
        assert [r.external_id for r in results] == [f"o-{i}" for i in range(650)]
        assert len({r.item_id for r in results}) == 650
        assert (overlapping.sent, overlapping.most) == (7, 3)

    def test_the_earliest_failing_batch_is_raised_once_the_others_are_answered(
        self, connect: Connect, space: Space
    ) -> None:
        overlapping = Overlapping(meet=2)
        client = connect("client", transport=overlapping)
        items = [coin(f"f-{i}") for i in range(600)]
        items[350] = Item("bad", external_id="f-350", probabilities=[1.0])
        items[450] = Item("bad too", external_id="f-450", probabilities=[1.0])
        with pytest.raises(InvalidInput) as caught:
            client.submit_many(space.name, items, batch_size=100, concurrency=2)
        assert caught.value.field == "items[350].probabilities"
        assert overlapping.in_flight == 0
        assert overlapping.sent <= 5  # batch 3 failed: at most batch 4 was beside it
        assert client.decision(space.name, "f-299").status is ItemStatus.QUEUED
        with pytest.raises(ItemNotFound):
            client.decision(space.name, "f-300")


class TestDecisions:
    def test_read_one_back(self, connect: Connect, space: Space) -> None:
        client = connect("client")
        routed = client.submit(space.name, coin("q-1"))
        decision = client.decision(space.name, "q-1")
        assert (decision.item_id, decision.status, decision.ticket) == (
            routed.item_id,
            ItemStatus.QUEUED,
            routed.ticket,
        )
        assert not decision.final
        assert decision.decided_at is None
        assert decision.created_at.tzinfo is not None

    def test_waiting_returns_a_queued_item_when_the_time_is_up(
        self, connect: Connect, space: Space
    ) -> None:
        client = connect("client")
        client.submit(space.name, coin("q-1"))
        start = time.monotonic()
        assert client.decision(space.name, "q-1", wait=0.3).status is ItemStatus.QUEUED
        assert time.monotonic() - start >= 0.3

    def test_a_wait_over_30_seconds_is_refused(self, connect: Connect, space: Space) -> None:
        with pytest.raises(InvalidInput) as caught:
            connect("client").decision(space.name, "q-1", wait=31)
        assert caught.value.field == "wait"

    def test_an_unknown_external_id_is_item_not_found(self, connect: Connect, space: Space) -> None:
        with pytest.raises(ItemNotFound) as caught:
            connect("client").decision(space.name, "nope")
        assert isinstance(caught.value, ApiError)
        assert (api(caught.value).status, caught.value.field) == (404, "external_id")

    def test_an_external_id_with_a_slash_reads_back(self, connect: Connect, space: Space) -> None:
        client = connect("client")
        client.submit(space.name, coin("a/b"))
        assert client.decision(space.name, "a/b").external_id == "a/b"

    def test_external_ids_are_escaped_in_the_path(self, connect: Connect, space: Space) -> None:
        client = connect("client")
        client.submit(space.name, coin("é ?#%"))
        assert client.decision(space.name, "é ?#%").external_id == "é ?#%"

    @pytest.mark.usefixtures("seeded")
    def test_a_page_and_every_page(self, connect: Connect, space: Space) -> None:
        client = connect("viewer")
        connect("client").submit_many(space.name, [coin(f"p-{i}") for i in range(30)])
        first = client.decisions(space.name, limit=10)
        assert len(first.decisions) == 10
        assert first.next_after == first.decisions[-1].item_id
        second = client.decisions(space.name, limit=10, after=first.next_after)
        assert second.decisions[0].item_id > first.decisions[-1].item_id

        everything = list(client.iter_decisions(space.name, page_size=7))
        assert len(everything) == SEEDED + 30
        ids = [d.item_id for d in everything]
        assert ids == sorted(ids)
        queued = list(client.iter_decisions(space.name, status="queued", route=Route.HUMAN))
        assert [d.external_id for d in queued] == [f"p-{i}" for i in range(30)]
        since = everything[0].created_at
        assert len(list(client.iter_decisions(space.name, since=since))) == SEEDED + 30

    def test_a_limit_out_of_range_names_the_field(self, connect: Connect, space: Space) -> None:
        with pytest.raises(InvalidInput) as caught:
            connect("client").decisions(space.name, limit=5000)
        assert caught.value.field == "limit"


def test_a_client_is_a_context_manager(base_url: str) -> None:
    with Client(base_url, None) as client:
        assert client.health()["status"] == "ok"
    with pytest.raises(RuntimeError):
        client.health()
