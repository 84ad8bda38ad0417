"""What candidates keep when added, which no model changes: numeric candidates their inputs,
texts their term counts; a new model's features are computed from them, not from payloads read
back and parsed (or analysed) again, and are what the model computes from the payloads."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from loopwise import Loopwise
from loopwise.core.enums import InputKind
from loopwise.services import pool_features
from loopwise.store.features import FeatureStore
from loopwise.store.terms import TermStore
from loopwise.training import features
from loopwise.training.models import model_inputs, untrained
from loopwise.training.terms import analysis_key
from tests.factories import (
    NO_HOLDOUT,
    make_tabular_project,
    make_text_project,
    seed_rows,
    seeded_model,
    sms_rows,
    tabular_rows,
)
from tests.integration.helpers import rows
from tests.integration.services.test_pool import candidates, loan_candidates
from tests.unit.store.test_features import chunks_read


def payloads_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many pool payloads each read asked for, from now on."""
    read: list[int] = []
    real = pool_features.pool_payloads

    def counted(ctx: Any, asked: Any) -> Any:
        read.append(len(asked))
        return real(ctx, asked)

    monkeypatch.setattr(pool_features, "pool_payloads", counted)
    return read


def assert_production_features(lw: Loopwise, project: str) -> int:
    """The production model's stored features of the pool are what it computes from the
    payloads; how many there are."""
    production = lw.production_model(project)
    assert production is not None
    row, model = production
    store = FeatureStore(lw.settings.artifacts)
    ids, matrix = store.load(lw.project(project).id, pool_features.space(row.id))
    payloads = {r["id"]: r["payload"] for r in rows(lw, "pool_item")}
    texts = [payloads[i]["text"] for i in ids.tolist()]
    expected = features.model_features(model, texts)
    assert matrix.shape == expected.shape
    assert np.array_equal(matrix.indptr, expected.indptr)
    assert np.array_equal(matrix.indices, expected.indices)
    np.testing.assert_array_equal(matrix.data, expected.data)
    return len(ids)


def features_interleaved(lw: Loopwise, name: str) -> tuple[Any, Any]:
    """The production model's features of every candidate, asked for in an order where those
    added first and those added later interleave (``stored_features`` in a new space), and what
    the model computes from their payloads."""
    project = lw.project(name)
    production = lw.production_model(name)
    assert production is not None
    _, model = production
    payloads = {r["id"]: r["payload"] for r in rows(lw, "pool_item")}
    asked = sorted(payloads)[::-1]
    asked = asked[::2] + asked[1::2]
    got = pool_features.stored_features(
        lw.ctx, project, model, "model-x", asked, pool_features.pool_payloads, inputs=True
    )
    inputs = model_inputs(project.input_kind, [payloads[i] for i in asked])
    return got, features.model_features(model, inputs)


DEFAULT_ANALYSIS = analysis_key(untrained(InputKind.TEXT))


class TestKeptTermCounts:
    def test_texts_added_keep_their_counts_and_a_new_model_reads_no_text(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        lw.set_active_learning("sms", {"batch": 2, "strategy": "margin", "explore": 0.0})
        seeded_model(lw)
        lw.add_to_pool("sms", candidates(30))
        lw.add_to_pool("sms", candidates(35))  # five more, a second chunk
        store, project = FeatureStore(lw.settings.artifacts), lw.project("sms").id
        assert DEFAULT_ANALYSIS is not None
        assert DEFAULT_ANALYSIS in store.spaces(project)
        blocks = TermStore(lw.settings.artifacts).load(project, DEFAULT_ANALYSIS)
        assert [len(b.ids) for b in blocks] == [30, 5]  # a block per add
        read = payloads_read(monkeypatch)
        lw.query("sms")
        for _ in range(2):  # two more models, each promotion querying a batch
            lw.import_labels("sms", sms_rows(6, skip=2000 + 6 * len(lw.models("sms"))))
            result = lw.promote("sms", lw.train("sms").version, force=True)
            assert result.query is not None
            assert len(result.query.chosen) == 2
        assert read == []  # no text read back to compute features
        assert assert_production_features(lw, "sms") == 31  # 35 less the first two chosen
        assert DEFAULT_ANALYSIS in store.spaces(project)  # kept across promotions

    def test_with_no_model_yet_texts_are_counted_as_the_default_model_will(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        lw.set_active_learning("sms", {"batch": 3, "strategy": "margin", "explore": 0.0})
        lw.add_to_pool("sms", candidates(20))
        lw.import_labels("sms", seed_rows())
        read = payloads_read(monkeypatch)
        result = lw.promote("sms", lw.train("sms").version, force=True)
        assert result.query is not None
        assert len(result.query.chosen) == 3
        assert read == []  # no text read back to compute features
        assert assert_production_features(lw, "sms") == 20

    def test_a_large_add_is_counted_in_parts(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        seeded_model(lw)
        monkeypatch.setattr(pool_features, "COUNT_CHUNK", 4)
        lw.add_to_pool("sms", candidates(10))  # three parts: 4, 4 and 2
        read = payloads_read(monkeypatch)
        assert len(lw.query("sms", 2, strategy="margin").chosen) == 2
        assert read == []
        assert assert_production_features(lw, "sms") == 10

    def test_texts_without_counts_are_counted_from_their_payloads(self, lw: Loopwise) -> None:
        """As after a process stopped between adding candidates and keeping their counts."""
        make_text_project(lw, training=NO_HOLDOUT)
        seeded_model(lw)
        lw.add_to_pool("sms", candidates(7))
        store, project = FeatureStore(lw.settings.artifacts), lw.project("sms")
        store.retain(project.id, ())  # their counts are lost
        lw.add_to_pool("sms", candidates(13))
        got, expected = features_interleaved(lw, "sms")
        np.testing.assert_array_equal(got.toarray(), expected.toarray())
        assert DEFAULT_ANALYSIS is not None
        blocks = TermStore(lw.settings.artifacts).load(project.id, DEFAULT_ANALYSIS)
        counted = np.concatenate([b.ids for b in blocks])
        assert sorted(counted.tolist()) == sorted(r["id"] for r in rows(lw, "pool_item"))

    def test_a_model_that_analyses_text_otherwise_counts_again(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        lw.set_active_learning("sms", {"batch": 2, "strategy": "margin", "explore": 0.0})
        seeded_model(lw)
        lw.add_to_pool("sms", candidates(12))
        words = make_pipeline(TfidfVectorizer(ngram_range=(1, 1)), LogisticRegression())
        other = analysis_key(words)
        assert other is not None
        assert other != DEFAULT_ANALYSIS
        read = payloads_read(monkeypatch)
        lw.promote("sms", lw.train("sms", estimator=words).version, force=True)
        assert read[0] == 12  # counted from their texts, once
        store, project = FeatureStore(lw.settings.artifacts), lw.project("sms").id
        assert other in store.spaces(project)
        assert DEFAULT_ANALYSIS not in store.spaces(project)  # no model takes those now
        lw.add_to_pool("sms", candidates(15))  # counted as the new model analyses text
        blocks = TermStore(lw.settings.artifacts).load(project, other)
        assert sorted(len(b.ids) for b in blocks) == [3, 12]  # the query's, and the add's
        assert assert_production_features(lw, "sms") == 12  # the three added not queried yet

    def test_a_model_whose_analysis_is_code_keeps_no_counts(self, lw: Loopwise) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        lw.import_labels("sms", seed_rows())
        split = make_pipeline(
            TfidfVectorizer(tokenizer=str.split, token_pattern=None), LogisticRegression()
        )
        lw.promote("sms", lw.train("sms", estimator=split).version, force=True)
        lw.add_to_pool("sms", candidates(9))
        store, project = FeatureStore(lw.settings.artifacts), lw.project("sms").id
        assert not [s for s in store.spaces(project) if s.startswith("terms-")]
        chosen = lw.query("sms", 2, strategy="margin")
        assert len(chosen.chosen) == 2
        assert assert_production_features(lw, "sms") == 9


def loans_with_labels(lw: Loopwise) -> None:
    """The ``loans`` table project, batches of 2 without exploration, 20 labels imported."""
    make_tabular_project(lw, training=NO_HOLDOUT)
    lw.set_active_learning("loans", {"batch": 2, "explore": 0.0})
    lw.import_labels("loans", tabular_rows(20))


class TestKeptInputs:
    """Numeric candidates keep their inputs when added, and a new model's features are computed
    from them, not from their payloads read back."""

    def test_a_new_models_features_come_from_the_inputs_kept(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        loans_with_labels(lw)
        lw.add_to_pool("loans", loan_candidates(0, 30))
        store, project = FeatureStore(lw.settings.artifacts), lw.project("loans").id
        ids, kept = store.load(project, pool_features.INPUTS)
        assert len(ids) == 30
        payloads = {r["id"]: r["payload"]["features"] for r in rows(lw, "pool_item")}
        np.testing.assert_array_equal(kept, [payloads[i] for i in ids.tolist()])
        read = payloads_read(monkeypatch)
        for _ in range(2):  # two models, each promotion querying a batch
            result = lw.promote("loans", lw.train("loans").version, force=True)
            assert result.query is not None
            assert len(result.query.chosen) == 2
        assert read == []  # no payload read back to compute features
        production = lw.production_model("loans")
        assert production is not None
        row, model = production
        ids, matrix = store.load(project, pool_features.space(row.id))
        expected = features.model_features(model, np.asarray([payloads[i] for i in ids.tolist()]))
        np.testing.assert_allclose(matrix, expected)
        assert pool_features.INPUTS in store.spaces(project)  # kept across promotions

    def test_a_query_reads_the_inputs_of_the_candidates_added_since_only(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        loans_with_labels(lw)
        lw.promote("loans", lw.train("loans").version, force=True)
        lw.add_to_pool("loans", loan_candidates(0, 30))
        lw.query("loans", 2)  # the first 30 candidates' features computed and stored
        folder = FeatureStore(lw.settings.artifacts).folder(lw.project("loans").id, "inputs")
        (first,) = folder.glob("*.npz")
        lw.add_to_pool("loans", loan_candidates(30, 5))
        (later,) = set(folder.glob("*.npz")) - {first}
        read = chunks_read(monkeypatch)
        assert len(lw.query("loans", 2).chosen) == 2
        assert [path for path in read if path.parent == folder] == [later]
        monkeypatch.undo()
        got, expected = features_interleaved(lw, "loans")
        np.testing.assert_allclose(got, expected)

    def test_candidates_without_kept_inputs_are_computed_from_their_payloads(
        self, lw: Loopwise
    ) -> None:
        """As after a process stopped between adding candidates and keeping their inputs."""
        make_tabular_project(lw, training=NO_HOLDOUT)
        lw.import_labels("loans", tabular_rows(20))
        lw.promote("loans", lw.train("loans").version, force=True)
        lw.add_to_pool("loans", loan_candidates(0, 7))
        store, project = FeatureStore(lw.settings.artifacts), lw.project("loans")
        store.retain(project.id, ())  # their inputs are lost
        lw.add_to_pool("loans", loan_candidates(7, 6))
        got, expected = features_interleaved(lw, "loans")
        np.testing.assert_allclose(got, expected)


def test_candidates_are_added_when_what_they_keep_cannot_be_written(
    lw: Loopwise, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk, say: the candidates are committed already, so the add answers as usual and
    says what was not kept; a query computes their features from their payloads."""
    make_text_project(lw, training=NO_HOLDOUT)
    seeded_model(lw)

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FeatureStore, "append_fields", full)
    assert lw.add_to_pool("sms", candidates(6)) == 6
    assert "the inputs of 6 candidates added to 'sms' were not kept" in caplog.text
    monkeypatch.undo()
    assert lw.pool_status("sms").waiting == 6
    assert len(lw.query("sms", 2, strategy="margin").chosen) == 2
    assert assert_production_features(lw, "sms") == 6
