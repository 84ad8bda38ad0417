"""Active learning in the loop: the unlabelled pool, queries that queue its most informative
items for review, the feature store, and a query after each promotion."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from loopwise import Loopwise
from loopwise.active_learning import STRATEGIES, Bait, Pool, make_strategy
from loopwise.core.enums import InputKind
from loopwise.errors import (
    DuplicateExternalId,
    EmptyPool,
    InvalidInput,
    InvalidPayload,
    NotEnoughInPool,
    UnknownStrategy,
)
from loopwise.services import pool as pool_service
from loopwise.services import pool_features, pool_repeats
from loopwise.store.features import FeatureStore
from loopwise.training import features
from loopwise.training.models import untrained
from loopwise.training.terms import analysis_key, counted_features
from tests.factories import (
    NO_HOLDOUT,
    add_reviewers,
    make_tabular_project,
    make_text_project,
    seeded_model,
    sms_rows,
    tabular_rows,
)
from tests.integration.helpers import events, nothing_written, one, refused, rows


def candidates(n: int, *, skip: int = 300) -> list[dict[str, Any]]:
    """``n`` unlabelled SMS texts (labels dropped), ids ``sms-<i>``."""
    return [{k: v for k, v in row.items() if k != "label"} for row in sms_rows(n, skip=skip)]


class TestAddToPool:
    def test_candidates_are_stored_once(self, lw: Loopwise) -> None:
        make_text_project(lw)
        assert lw.add_to_pool("sms", candidates(5)) == 5
        assert lw.add_to_pool("sms", candidates(7)) == 2  # the first five are there already
        stored = rows(lw, "pool_item")
        assert len(stored) == 7
        assert all(r["item_id"] is None and r["queried_at"] is None for r in stored)
        assert stored[0]["payload"] == {"text": candidates(1)[0]["payload"]}
        assert lw.pool_status("sms") == pool_service.PoolStatus(waiting=7, chosen=0)
        assert rows(lw, "item") == []  # candidates are not items: nothing was asked of them
        added = events(lw, "pool.added")
        assert [e["after"] for e in added] == [
            {"added": 5, "skipped": 0},
            {"added": 2, "skipped": 5},
        ]

    def test_a_candidate_without_an_id_is_named_by_its_payload_and_added_once(
        self, lw: Loopwise
    ) -> None:
        make_text_project(lw)
        texts = [{"payload": "see you at six"}, {"payload": "win a prize"}]
        assert lw.add_to_pool("sms", [*texts, {"payload": "see you at six"}]) == 2
        assert lw.add_to_pool("sms", texts) == 0  # the same file again adds nothing twice
        stored = rows(lw, "pool_item")
        assert [r["external_id"] for r in stored] == [
            f"sha256:{r['payload_sha256']}" for r in stored
        ]
        lw.check_rows("sms", [*texts, *texts], use="pool")  # repeats of a payload: one candidate

    @pytest.mark.parametrize(
        ("row", "error", "field"),
        [
            ({"payload": "t", "label": "ham"}, InvalidInput, "rows[1].label"),
            ({"payload": "t", "probabilities": [1, 0]}, InvalidInput, "rows[1].probabilities"),
            ({"payload": ""}, InvalidPayload, "rows[1].payload.text"),
            ({"payload": "t", "external_id": ""}, InvalidPayload, "rows[1].external_id"),
        ],
    )
    def test_bad_candidates_are_refused_whole(
        self, lw: Loopwise, row: dict[str, Any], error: type[InvalidInput], field: str
    ) -> None:
        make_text_project(lw)
        with refused(lw, error, field):
            lw.add_to_pool("sms", [{"external_id": "ok", "payload": "fine"}, row])

    def test_another_payload_under_a_known_id_is_refused(self, lw: Loopwise) -> None:
        make_text_project(lw)
        lw.add_to_pool("sms", [{"external_id": "a", "payload": "first"}])
        with refused(lw, DuplicateExternalId, "rows[0].external_id"):
            lw.add_to_pool("sms", [{"external_id": "a", "payload": "second"}])


class TestQuery:
    def test_a_cold_start_chooses_by_diversity_and_queues_discovery_tasks(
        self, lw: Loopwise
    ) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        lw.add_to_pool("sms", candidates(40))

        result = lw.query("sms", 6, seed=1)

        assert (result.considered, result.model_version, len(result.chosen)) == (40, None, 6)
        assert result.strategy == "default"
        assert len({c.external_id for c in result.chosen}) == 6
        assert [c.rank for c in result.chosen] == list(range(6))
        assert all(c.predicted_label is None for c in result.chosen)
        for chosen in result.chosen:
            item = one(lw, "item", id=chosen.item_id)
            assert (item["status"], item["external_id"]) == ("queued", chosen.external_id)
            decision = one(lw, "decision", item_id=chosen.item_id)
            assert (decision["route"], decision["origin"]) == ("human", "discovery")
            assert "active learning (default)" in decision["reasons"][0]
            task = one(lw, "review_task", id=chosen.task_id)
            assert (task["priority"], task["status"], task["stage"]) == (4, "open", "review")
            assert one(lw, "pool_item", external_id=chosen.external_id)["item_id"] == (
                chosen.item_id
            )
        assert lw.pool_status("sms").waiting == 34
        assert [e["after"] for e in events(lw, "pool.queried")] == [
            {
                "strategy": "default",
                "considered": 40,
                "chosen": 6,
                "set_aside": 0,
                "awaiting_labels": 0,
            }
        ]
        assert len(events(lw, "item.routed")) == 6
        # served best pick first, after anything routed: the discovery level is the last
        add_reviewers(lw, "sms", "alice")
        entry = lw.claim_next("sms", "alice")
        assert entry is not None
        assert entry.task.id == result.chosen[0].task_id

    @pytest.mark.parametrize("strategy", ["default", "kmeans", "coreset", "random"])
    def test_a_cold_start_chooses_among_texts_without_terms(
        self, lw: Loopwise, strategy: str
    ) -> None:
        # TF-IDF keeps words of two or more letters or digits: none of these has one, and the
        # pool's own vectoriser, fitted on them, raised scikit-learn's "empty vocabulary".
        make_text_project(lw, training=NO_HOLDOUT)
        texts = ["!!", "??", "...", "a", "I", "\U0001f600", ":-)", "b c"]
        lw.add_to_pool("sms", [{"external_id": f"e{i}", "payload": t} for i, t in enumerate(texts)])
        result = lw.query("sms", 3, strategy=strategy, seed=0)
        assert len({c.external_id for c in result.chosen}) == 3
        assert lw.pool_status("sms").waiting == 5

    def test_with_a_model_margin_chooses_the_least_certain(self, lw: Loopwise) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        lw.set_active_learning("sms", {"explore": 0.0})
        seeded_model(lw)
        lw.add_to_pool("sms", candidates(60))
        model = lw.production_model("sms")
        assert model is not None
        texts = {c["external_id"]: c["payload"] for c in candidates(60)}
        probs = model[1].predict_proba(list(texts.values()))
        gaps = np.abs(probs[:, 0] - probs[:, 1])
        expected = {list(texts)[i] for i in np.argsort(gaps, kind="stable")[:5]}

        result = lw.query("sms", 5, strategy="margin")

        assert {c.external_id for c in result.chosen} == expected
        assert result.model_version == model[0].version
        first = result.chosen[0]
        assert first.predicted_label in ("ham", "spam")
        prediction = one(lw, "prediction", item_id=first.item_id)
        assert prediction["model_version_id"] == model[0].id
        assert prediction["confidence"] == pytest.approx(first.confidence)

    def test_the_exploration_share_is_chosen_at_random(self, lw: Loopwise) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        seeded_model(lw)
        lw.add_to_pool("sms", candidates(60))
        lw.set_active_learning("sms", {"explore": 0.5})
        explored = {c.external_id for c in lw.query("sms", 10, strategy="margin", seed=3).chosen}
        assert len(explored) == 10
        model = lw.production_model("sms")
        assert model is not None
        pool = candidates(60)
        probs = model[1].predict_proba([c["payload"] for c in pool])
        least = {pool[i]["external_id"] for i in np.argsort(np.abs(probs[:, 0] - probs[:, 1]))[:5]}
        assert least <= explored  # half chosen by margin, the other half at random

    def test_chosen_and_submitted_candidates_are_never_chosen(self, lw: Loopwise) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        seeded_model(lw)
        pool = candidates(12)
        lw.add_to_pool("sms", pool)
        lw.submit("sms", pool[:4])  # the client sent four of them as items meanwhile
        assert lw.pool_status("sms") == pool_service.PoolStatus(waiting=8, chosen=0)
        first = lw.query("sms", 3, strategy="margin")
        second = lw.query("sms", 5, strategy="margin")
        taken = {c.external_id for c in (*first.chosen, *second.chosen)}
        assert len(taken) == 8
        assert not taken & {p["external_id"] for p in pool[:4]}
        assert (first.considered, second.considered) == (8, 5)
        with refused(lw, EmptyPool, "pool"):
            lw.query("sms", 1)

    def test_candidates_submitted_while_a_query_chooses_are_set_aside(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The client sends the picks as items after the query read its candidates, before it
        probes its picks' payloads: the query sets them aside as the client's items
        (:mod:`~loopwise.services.pool_repeats`) and chooses again from what is left."""
        make_text_project(lw, training=NO_HOLDOUT)
        seeded_model(lw)
        pool = candidates(10)
        lw.add_to_pool("sms", pool)
        by_id = {p["external_id"]: p for p in pool}
        real = make_strategy
        raced: list[str] = []

        def racing(name: str, **kwargs: Any) -> Any:
            chooser = real(name, **kwargs)
            choose = chooser.query

            def query(pool_: Pool, n: int, *, seed: int | None = None) -> Any:
                picked = choose(pool_, n, seed=seed)
                if not raced:  # the first choice only
                    waiting = sorted(r["id"] for r in rows(lw, "pool_item") if r["item_id"] is None)
                    external = {r["id"]: r["external_id"] for r in rows(lw, "pool_item")}
                    raced.extend(external[waiting[int(i)]] for i in picked)
                    lw.submit("sms", [by_id[e] for e in raced])
                return picked

            monkeypatch.setattr(chooser, "query", query)
            return chooser

        monkeypatch.setattr(pool_service, "make_strategy", racing)
        result = lw.query("sms", 3, strategy="margin")
        chosen = {c.external_id for c in result.chosen}
        assert len(raced) == 3
        assert len(chosen) == 3
        assert not chosen & set(raced)
        item_of = {r["id"]: r["external_id"] for r in rows(lw, "item")}
        linked = {r["external_id"]: r["item_id"] for r in rows(lw, "pool_item") if r["item_id"]}
        assert {e: item_of[i] for e, i in linked.items() if e in raced} == {e: e for e in raced}
        items = [e for e in item_of.values() if e in by_id]  # not the seeded model's labels
        assert sorted(items) == sorted([*raced, *chosen])  # each external id once
        assert [e["after"]["set_aside"] for e in events(lw, "pool.queried")] == [3]
        assert lw.pool_status("sms") == pool_service.PoolStatus(waiting=4, chosen=6)

    def test_candidates_submitted_after_the_probe_are_left_to_the_client(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The client sends the picks as items after the query probed them, before it writes:
        the query's items would repeat their external ids, the database refuses them, and the
        query chooses again from what is left; nothing of the first try is written."""
        make_text_project(lw, training=NO_HOLDOUT)
        seeded_model(lw)
        pool = candidates(10)
        lw.add_to_pool("sms", pool)
        by_id = {p["external_id"]: p for p in pool}
        real = pool_repeats.set_aside
        raced: list[str] = []

        def racing(*args: Any, **kwargs: Any) -> Any:
            picked, repeats = real(*args, **kwargs)
            if not raced:  # the first try only
                ids = args[2]
                external = {r["id"]: r["external_id"] for r in rows(lw, "pool_item")}
                raced.extend(external[int(ids[int(i)])] for i in picked)
                lw.submit("sms", [by_id[e] for e in raced])
            return picked, repeats

        monkeypatch.setattr(pool_repeats, "set_aside", racing)
        result = lw.query("sms", 3, strategy="margin")
        chosen = {c.external_id for c in result.chosen}
        assert len(raced) == 3
        assert len(chosen) == 3
        assert not chosen & set(raced)
        item_of = {r["id"]: r["external_id"] for r in rows(lw, "item")}
        items = [e for e in item_of.values() if e in by_id]  # not the seeded model's labels
        assert sorted(items) == sorted([*raced, *chosen])  # each external id once
        tasks = [item_of[t["item_id"]] for t in rows(lw, "review_task")]
        assert sorted(e for e in tasks if e in by_id) == sorted(items)  # one task each
        queried = {r["external_id"] for r in rows(lw, "pool_item") if r["queried_at"] is not None}
        assert queried == chosen  # the first try's claims were rolled back with it
        assert len(events(lw, "pool.queried")) == 1
        assert lw.pool_status("sms") == pool_service.PoolStatus(waiting=4, chosen=3)

    def test_bad_queries_are_refused_and_write_nothing(self, lw: Loopwise) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        with refused(lw, EmptyPool, "pool"):
            lw.query("sms", 1)
        lw.add_to_pool("sms", candidates(4))
        with refused(lw, NotEnoughInPool, "n"):
            lw.query("sms", 5)
        with refused(lw, UnknownStrategy, "strategy"):
            lw.query("sms", 1, strategy="clairvoyance")
        with refused(lw, InvalidInput, "n"):
            lw.query("sms", 0)
        for seed in ("x", 1.5, -5, True):
            with refused(lw, InvalidInput, "seed"):
                lw.query("sms", 1, seed=seed)  # type: ignore[arg-type]
        with refused(lw, InvalidInput, "pool.probabilities") as info:
            lw.query("sms", 1, strategy="margin")  # no model yet: margin cannot start cold
        # the error names the strategy asked for, not the exploration share around it
        assert "strategy 'margin' needs probabilities" in info.value.message
        assert lw.pool_status("sms").waiting == 4

    def test_features_are_computed_once_per_model(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        seeded_model(lw)
        lw.add_to_pool("sms", candidates(30))
        computed: list[int] = []
        real = features.model_features

        def counted(model: Any, inputs: Any) -> Any:
            computed.append(len(inputs))
            return real(model, inputs)

        read: list[tuple[str, int]] = []
        real_pool, real_items = pool_features.pool_payloads, pool_features.item_payloads

        def pool_payloads(ctx: Any, ids: Any) -> Any:
            read.append(("pool", len(ids)))
            return real_pool(ctx, ids)

        def item_payloads(ctx: Any, ids: Any) -> Any:
            read.append(("items", len(ids)))
            return real_items(ctx, ids)

        real_counted = counted_features

        def from_counts(model: Any, counted: Any) -> Any:
            computed.append(counted.counts.shape[0])
            return real_counted(model, counted)

        monkeypatch.setattr(pool_features, "model_features", counted)
        monkeypatch.setattr(pool_features, "counted_features", from_counts)
        monkeypatch.setattr(pool_features, "pool_payloads", pool_payloads)
        monkeypatch.setattr(pool_features, "item_payloads", item_payloads)
        lw.query("sms", 2, strategy="margin")
        lw.query("sms", 2, strategy="margin")
        lw.add_to_pool("sms", candidates(35))
        lw.query("sms", 2, strategy="margin")
        # once for the pool and the 24 labelled items; then for the two items the first query
        # queued (waiting for their labels), the five candidates added, and the second query's
        # two: each item once, in the items' space, where its features wait for its label
        assert computed == [30, 24, 2, 5, 2]
        # the candidates' from the term counts kept when they were added: the labelled and the
        # waiting items' payloads alone are read, and a query on stored features reads none
        assert read == [("items", 24), ("items", 2), ("items", 2)]
        store = FeatureStore(lw.settings.artifacts)
        project = lw.project("sms").id
        production = lw.production_model("sms")
        assert production is not None
        ids, matrix = store.load(project, f"model-{production[0].id}")
        assert len(ids) == matrix.shape[0] == 35

    def test_a_query_keeps_only_the_production_models_features(self, lw: Loopwise) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        first = seeded_model(lw)
        lw.set_active_learning("sms", {"batch": 2, "strategy": "margin", "explore": 0.0})
        lw.add_to_pool("sms", candidates(30))
        lw.query("sms")
        store, project = FeatureStore(lw.settings.artifacts), lw.project("sms").id

        counts = analysis_key(untrained(InputKind.TEXT))
        assert counts is not None

        def spaces_of(*versions: int) -> list[str]:
            ids = {m.version: m.id for m in lw.models("sms")}
            kept = [f"model-{ids[v]}{tail}" for v in versions for tail in ("", "-items")]
            return sorted([*kept, counts])  # and the term counts every model here shares

        assert store.spaces(project) == spaces_of(first.version)
        second = lw.train("sms")
        lw.promote("sms", second.version, force=True)  # its query removes the first's
        assert store.spaces(project) == spaces_of(second.version)
        lw.rollback("sms")
        back = lw.query("sms")  # computed again for the first model
        assert back.model_version == first.version
        assert store.spaces(project) == spaces_of(first.version)
        assert lw.pool_status("sms") == pool_service.PoolStatus(waiting=24, chosen=6)

    def test_rows_are_right_when_the_store_changes_under_a_query(self, lw: Loopwise) -> None:
        """Another worker removes the space while this one computes the missing rows: the
        rows returned are still each candidate's own, in the order asked."""
        make_text_project(lw, training=NO_HOLDOUT)
        seeded_model(lw)
        lw.add_to_pool("sms", candidates(12))
        lw.query("sms", 1, strategy="margin")  # stores the features of all twelve
        lw.add_to_pool("sms", candidates(20))
        production = lw.production_model("sms")
        assert production is not None
        row, model = production
        space = pool_features.space(row.id)
        ids = sorted(r["id"] for r in rows(lw, "pool_item") if r["item_id"] is None)[::-1]
        store = FeatureStore(lw.settings.artifacts)
        project = lw.project("sms")
        real = pool_features.pool_payloads

        def raced(ctx: Any, asked: Any) -> Any:
            store.retain(project.id, ())  # the space is gone before this worker appends
            return real(ctx, asked)

        got = pool_features.stored_features(lw.ctx, project, model, space, ids, raced)
        payloads = real(lw.ctx, ids)
        expected = features.model_features(model, [payloads[i]["text"] for i in ids])
        assert got.shape == expected.shape
        np.testing.assert_allclose(got.toarray(), expected.toarray())
        stored_ids, _ = store.load(project.id, space)
        assert sorted(stored_ids.tolist()) == sorted(ids[:8])  # the eight that were missing

    def test_a_promotion_queries_a_batch_with_the_new_model(self, lw: Loopwise) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        lw.set_active_learning("sms", {"batch": 4, "strategy": "margin", "explore": 0.0})
        lw.add_to_pool("sms", candidates(20))
        lw.import_labels("sms", sms_rows(40, skip=1000))
        candidate = lw.train("sms")

        result = lw.promote("sms", candidate.version)

        assert result.promoted
        assert result.query is not None
        assert (len(result.query.chosen), result.query.model_version) == (4, candidate.version)
        assert lw.pool_status("sms") == pool_service.PoolStatus(waiting=16, chosen=4)
        lw.set_active_learning("sms", {"requery_after_promotion": False})
        again = lw.promote("sms", lw.train("sms").version, force=True)
        assert again.query is None

    def test_a_query_the_settings_make_fail_leaves_the_promotion_standing(
        self, lw: Loopwise
    ) -> None:
        # bait refuses the thousands of TF-IDF columns of texts; the promotion, committed
        # before the query, raised it as if the promotion had failed
        make_text_project(lw, training=NO_HOLDOUT)
        lw.set_active_learning("sms", {"strategy": "bait"})
        lw.add_to_pool("sms", candidates(20))
        lw.import_labels("sms", sms_rows(300, skip=1000))  # a vocabulary past bait's 2,047
        candidate = lw.train("sms")

        result = lw.promote("sms", candidate.version)

        assert (result.promoted, result.query) == (True, None)
        assert result.query_error is not None
        assert result.query_error.startswith("pool.features: bait needs class x feature")
        production = lw.production_model("sms")
        assert production is not None
        assert production[0].version == candidate.version
        assert lw.pool_status("sms") == pool_service.PoolStatus(waiting=20, chosen=0)

    def test_a_promotion_queries_only_what_can_be_chosen(self, lw: Loopwise) -> None:
        """Candidates the client sent as items are not waiting: a batch of 4 from a pool of 6
        of which 4 were sent asks for the 2 left (it asked for 4, and the promotion failed)."""
        make_text_project(lw, training=NO_HOLDOUT)
        lw.set_active_learning("sms", {"batch": 4, "strategy": "margin", "explore": 0.0})
        pool = candidates(6)
        lw.add_to_pool("sms", pool)
        lw.submit("sms", pool[:4])
        lw.import_labels("sms", sms_rows(40, skip=1000))
        candidate = lw.train("sms")

        result = lw.promote("sms", candidate.version)

        assert result.promoted
        assert result.query is not None
        assert sorted(c.external_id for c in result.query.chosen) == sorted(
            p["external_id"] for p in pool[4:]
        )
        assert lw.pool_status("sms") == pool_service.PoolStatus(waiting=0, chosen=2)
        again = lw.promote("sms", lw.train("sms").version, force=True)  # nothing left
        assert again.promoted
        assert again.query is None
        assert len(events(lw, "pool.queried")) == 1

    def test_settings_are_validated(self, lw: Loopwise) -> None:
        make_text_project(lw)
        with nothing_written(lw):
            cases: list[tuple[dict[str, Any], str]] = [
                ({"strategy": "clairvoyance"}, "active_learning.strategy"),
                ({"batch": 0}, "active_learning.batch"),
                ({"explore": 1.0}, "active_learning.explore"),
                ({"speed": "max"}, "active_learning.speed"),
            ]
            for config, field in cases:
                with pytest.raises(InvalidInput) as info:
                    lw.set_active_learning("sms", config)
                assert info.value.field == field

    def test_chosen_items_are_reviewed_into_training_labels(self, lw: Loopwise) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        seeded_model(lw)
        lw.add_to_pool("sms", candidates(10))
        result = lw.query("sms", 3, strategy="entropy")
        add_reviewers(lw, "sms", "alice")
        for _ in result.chosen:
            entry = lw.claim_next("sms", "alice")
            assert entry is not None
            lw.submit_verdict("sms", entry.task.id, "alice", "correct", label="spam")
        labels = [
            r for r in rows(lw, "label") if r["item_id"] in {c.item_id for c in result.chosen}
        ]
        assert len(labels) == 3
        assert {r["source"] for r in labels} == {"reviewer"}
        assert {one(lw, "item", id=c.item_id)["status"] for c in result.chosen} == {"resolved"}
        # the export says active learning chose them, and with which strategy
        exported = {e["external_id"]: e for e in lw.export_labels("sms")}
        for chosen in result.chosen:
            row = exported[chosen.external_id]
            assert (row["source"], row["origin"]) == ("reviewer", "discovery")
            assert row["reasons"][0].startswith("chosen by active learning (entropy)")


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_chooses_in_the_loop(lw: Loopwise, strategy: str) -> None:
    """The service gives each strategy what it needs: probabilities, the labelled items'
    features (diversity) and a bootstrap committee (query by committee)."""
    make_text_project(lw, training=NO_HOLDOUT)
    lw.set_active_learning("sms", {"explore": 0.0})
    seeded_model(lw)
    lw.add_to_pool("sms", candidates(25))
    result = lw.query("sms", 4, strategy=strategy, seed=0)
    assert result.strategy == strategy
    assert len({c.external_id for c in result.chosen}) == 4
    again = lw.query("sms", 4, strategy=strategy, seed=0)
    assert not {c.external_id for c in again.chosen} & {c.external_id for c in result.chosen}


def loan_candidates(start: int, n: int) -> list[dict[str, Any]]:
    return [
        {"external_id": f"cand-{i}", "payload": {"features": [25.0 + i, 10.0 + 2 * i, 7.0 * i]}}
        for i in range(start, start + n)
    ]


@pytest.mark.parametrize("strategy", ["default", "bait"])
def test_on_a_table_bait_gets_the_models_probabilities_for_the_labelled_items(
    lw: Loopwise, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tabular features are dense and narrow, so the default is ``bait``, which weighs each
    labelled item by the production model's probabilities for it."""
    make_tabular_project(lw, training=NO_HOLDOUT)
    lw.set_active_learning("loans", {"explore": 0.0})
    lw.import_labels("loans", tabular_rows(20))
    candidate = lw.train("loans")
    lw.promote("loans", candidate.version, force=True)
    lw.add_to_pool("loans", loan_candidates(0, 30))
    seen: list[Pool] = []
    select = Bait.select

    def spy(self: Bait, pool: Pool, n: int, rng: np.random.Generator) -> Any:
        seen.append(pool)
        return select(self, pool, n, rng)

    monkeypatch.setattr(Bait, "select", spy)
    result = lw.query("loans", 4, strategy=strategy, seed=0)
    assert len({c.external_id for c in result.chosen}) == 4
    (pool,) = seen
    assert pool.labelled is not None
    assert pool.labelled_probabilities is not None
    assert pool.labelled_probabilities.shape == (20, 2)
    np.testing.assert_allclose(pool.labelled_probabilities.sum(axis=1), 1.0)
    # the production model's own probabilities: it fits the training rows, so it is sure of most
    assert (pool.labelled_probabilities.max(axis=1) > 0.5).all()


def test_bait_on_a_real_vocabulary_is_refused_by_field_and_the_default_still_chooses(
    lw: Loopwise,
) -> None:
    """TF-IDF of 400 texts has thousands of columns: ``bait``'s ``d x d`` blocks do not fit, so
    asking for it is a clear error that writes nothing, and the default (margin without
    near-duplicates on sparse features) is unaffected."""
    make_text_project(lw, training=NO_HOLDOUT)
    lw.import_labels("sms", sms_rows(400))
    candidate = lw.train("sms")
    lw.promote("sms", candidate.version, force=True)
    lw.add_to_pool("sms", candidates(10, skip=400))
    with refused(lw, InvalidInput, "pool.features") as info:
        lw.query("sms", 2, strategy="bait")
    assert "too many" in str(info.value)
    assert len(lw.query("sms", 2, seed=0).chosen) == 2
