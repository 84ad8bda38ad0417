"""Out-of-distribution detectors on real data (SMS texts, scikit-learn's tabular sets), their
thresholds, refusals and registry. Every detector runs the same suite with fixed seeds."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import sparse
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import NotFittedError
from sklearn.metrics.pairwise import cosine_distances, euclidean_distances
from sklearn.neighbors import NearestNeighbors

from loopwise.core.enums import InputKind
from loopwise.datasets import load_sms_spam, load_trec_questions
from loopwise.errors import InvalidInput
from loopwise.scoring import (
    DETECTORS,
    IsolationForestDetector,
    KNNDistance,
    OODDetector,
    make_detector,
)
from loopwise.scoring.ood import mean_nearest_distance
from loopwise.training import fit_model, model_features

FloatArray = npt.NDArray[np.float64]
NAMES = sorted(DETECTORS)
N_TRAIN = 2500


@dataclass(frozen=True)
class TextSplit:
    """TF-IDF features of the default text model, trained on SMS messages."""

    train: Any
    held_out: Any
    trec: Any
    unknown_words: Any
    word_salad: Any


@pytest.fixture(scope="module")
def sms() -> TextSplit:
    data = load_sms_spam()
    order = np.random.default_rng(0).permutation(len(data))
    texts = [data.texts[i] for i in order]
    labels = [data.labels[i] for i in order]
    model = fit_model(
        "tfidf_logreg", InputKind.TEXT, texts[:N_TRAIN], labels[:N_TRAIN], data.label_set
    )
    rng = np.random.default_rng(1)
    words = [w for w in model.estimator[0].get_feature_names_out() if " " not in w]
    gibberish = ["".join(rng.choice(list("qxzjvkw"), size=12)) for _ in range(200)]
    salad = [" ".join(rng.choice(words, size=8)) for _ in range(300)]
    return TextSplit(
        train=model_features(model, texts[:N_TRAIN]),
        held_out=model_features(model, texts[N_TRAIN:]),
        trec=model_features(model, list(load_trec_questions().texts[:1000])),
        unknown_words=model_features(model, gibberish),
        word_salad=model_features(model, salad),
    )


FitOnSms = Callable[[str, float], OODDetector]


@pytest.fixture(scope="module")
def fitted_on_sms(sms: TextSplit) -> FitOnSms:
    """A detector fitted on the SMS training features, once per name and quantile for the
    module (each fit takes about a second)."""
    fitted: dict[tuple[str, float], OODDetector] = {}

    def get(name: str, quantile: float) -> OODDetector:
        if (name, quantile) not in fitted:
            fitted[name, quantile] = make_detector(name, quantile=quantile).fit(sms.train)
        return fitted[name, quantile]

    return get


def share(flags: npt.NDArray[np.bool_]) -> float:
    return float(flags.mean())


@pytest.mark.parametrize("name", NAMES)
class TestTextFeatures:
    def test_new_sms_messages_are_flagged_about_as_often_as_the_quantile_allows(
        self, sms: TextSplit, fitted_on_sms: FitOnSms, name: str
    ) -> None:
        # Measured: 0.6% (knn) / 0.7% (isolation_forest) at 0.99; 6.7% / 6.1% at 0.90.
        # Below 1 - quantile: training texts own vocabulary no new text can have.
        assert share(fitted_on_sms(name, 0.99).is_anomalous(sms.held_out)) <= 0.03
        assert 0.03 <= share(fitted_on_sms(name, 0.9).is_anomalous(sms.held_out)) <= 0.15

    def test_texts_made_of_unknown_words_are_all_flagged(
        self, sms: TextSplit, fitted_on_sms: FitOnSms, name: str
    ) -> None:
        assert sms.unknown_words.nnz == 0
        detector = fitted_on_sms(name, 0.99)
        assert detector.is_anomalous(sms.unknown_words).all()

    def test_random_strings_of_known_words_are_flagged_more_than_real_messages(
        self, sms: TextSplit, fitted_on_sms: FitOnSms, name: str
    ) -> None:
        # Measured at 0.90: 53% vs 6.7% (knn), 29% vs 6.1% (isolation_forest).
        detector = fitted_on_sms(name, 0.9)
        salad = share(detector.is_anomalous(sms.word_salad))
        assert salad >= 2.5 * share(detector.is_anomalous(sms.held_out))

    @pytest.mark.xfail(
        strict=True,
        raises=AssertionError,
        reason="known limitation: TF-IDF drops the words that make TREC questions foreign, and "
        "what is left ('what is the') is common in SMS; measured 0.0% (knn) and 0.4% "
        "(isolation_forest) flagged at 0.99, ROC AUC 0.37 / 0.58 against held-out SMS",
    )
    def test_questions_from_another_corpus_are_mostly_flagged(
        self, sms: TextSplit, fitted_on_sms: FitOnSms, name: str
    ) -> None:
        assert share(fitted_on_sms(name, 0.99).is_anomalous(sms.trec)) >= 0.5

    def test_fit_and_score_take_about_a_second(self, sms: TextSplit, name: str) -> None:
        # Measured about 0.6 s (knn) and 0.8 s (isolation_forest) to fit, 0.04 s to score;
        # the bound only catches a blow-up such as a dense pairwise matrix.
        start = time.perf_counter()
        make_detector(name).fit(sms.train).score(sms.held_out[:1000])
        assert time.perf_counter() - start < 10.0


TABULAR: list[Callable[..., Any]] = [load_breast_cancer, load_digits]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("loader", TABULAR, ids=["breast_cancer", "digits"])
def test_tabular_rows_far_from_the_training_rows_are_flagged(
    loader: Callable[..., Any], name: str
) -> None:
    x, y = loader(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    train, test = order[: len(x) * 2 // 3], order[len(x) * 2 // 3 :]
    targets = [str(v) for v in y]
    model = fit_model(
        "logreg",
        InputKind.TABULAR,
        x[train],
        [targets[i] for i in train],
        tuple(sorted(set(targets))),
    )
    detector = make_detector(name).fit(model_features(model, x[train]))
    noise = rng.uniform(x.min(axis=0), x.max(axis=0), size=x[test].shape)
    # Measured: 0.5-2% in distribution; 100% shifted; 94-100% uniform noise.
    assert share(detector.is_anomalous(model_features(model, x[test]))) <= 0.05
    assert share(detector.is_anomalous(model_features(model, x[test] * 10 + 50))) >= 0.95
    assert share(detector.is_anomalous(model_features(model, noise))) >= 0.8


def gaussian(n: int, seed: int, d: int = 5) -> FloatArray:
    return np.random.default_rng(seed).normal(size=(n, d))


def loo_knn_threshold(distances: FloatArray, k: int, quantile: float) -> float:
    """The threshold worked out by brute force: each row's k nearest *other* rows."""
    np.fill_diagonal(distances, np.inf)
    nearest = np.sort(distances, axis=1)[:, :k]
    return float(np.quantile(nearest.mean(axis=1), quantile))


class TestKNNLeaveOneOut:
    def test_a_fresh_in_distribution_sample_is_flagged_at_the_rate_asked_for(self) -> None:
        detector = KNNDistance(k=1, quantile=0.9).fit(gaussian(1000, seed=0))
        fresh = share(detector.is_anomalous(gaussian(20_000, seed=1)))
        assert 0.06 <= fresh <= 0.14
        # The check has teeth: scoring training rows in-sample finds each row itself at
        # distance 0 (up to rounding), a threshold that would flag every fresh row.
        in_sample, _ = detector.nn_.kneighbors(gaussian(1000, seed=0), n_neighbors=1)
        naive = float(np.quantile(in_sample.mean(axis=1), 0.9))
        assert naive < 1e-3 * detector.threshold_
        assert share(detector.score(gaussian(20_000, seed=1)) > naive) > 0.99

    def test_threshold_matches_brute_force_even_with_duplicate_rows(self) -> None:
        x = np.vstack([gaussian(30, seed=2), gaussian(10, seed=2)])  # ten rows twice
        detector = KNNDistance(k=3, quantile=0.8).fit(x)
        expected = loo_knn_threshold(euclidean_distances(x), 3, 0.8)
        assert detector.threshold_ == pytest.approx(expected, rel=1e-9)

    def test_cosine_threshold_matches_brute_force_on_sparse_rows(self) -> None:
        x = sparse.random(60, 12, density=0.3, random_state=3, format="csr")
        detector = KNNDistance(k=4, quantile=0.7).fit(x)
        assert detector.normalize_ is True
        expected = loo_knn_threshold(cosine_distances(x), 4, 0.7)
        assert detector.threshold_ == pytest.approx(expected, rel=1e-9)

    def test_k_shrinks_to_fit_a_small_training_set(self) -> None:
        detector = KNNDistance(k=10).fit(gaussian(4, seed=0))
        assert detector.n_neighbors_ == 3
        assert detector.score(gaussian(2, seed=1)).shape == (2,)


class TestMeanNearestDistance:
    """The query-time search gives what scikit-learn's ``kneighbors`` gives, block by block."""

    @pytest.mark.parametrize("cosine", [True, False], ids=["cosine", "euclidean"])
    @pytest.mark.parametrize("k", [1, 4, 37])
    @pytest.mark.parametrize("block_bytes", [1, 8 * 37 * 5, 32 * 2**20])
    def test_it_is_scikit_learns_mean_neighbour_distance(
        self, cosine: bool, k: int, block_bytes: int
    ) -> None:
        points, queries = gaussian(37, seed=4, d=6), gaussian(23, seed=5, d=6)
        queries[3] = 0.0  # a zero row: as far as can be by cosine
        if cosine:
            points /= np.linalg.norm(points, axis=1, keepdims=True)
            queries[queries.any(axis=1)] /= np.linalg.norm(
                queries[queries.any(axis=1)], axis=1, keepdims=True
            )
        metric = "cosine" if cosine else "euclidean"
        nn = NearestNeighbors(metric=metric, algorithm="brute").fit(points)
        expected = nn.kneighbors(queries, n_neighbors=k)[0].mean(axis=1)
        found = mean_nearest_distance(
            queries, points, (points**2).sum(axis=1), k, cosine, block_bytes=block_bytes
        )
        assert found == pytest.approx(expected, rel=1e-12, abs=1e-12)

    def test_a_detector_pickled_without_its_points_scores_the_same(self) -> None:
        x = sparse.random(80, 30, density=0.2, random_state=6, format="csr")
        detector = KNNDistance(k=5, n_components=8).fit(x)
        queries = sparse.random(40, 30, density=0.2, random_state=7, format="csr")
        now = detector.score(queries)
        old = pickle.loads(pickle.dumps(detector))
        del old.points_, old.squared_norms_
        assert old.score(queries) == pytest.approx(now, rel=1e-12, abs=1e-12)


def test_dense_rows_keep_their_magnitude_unless_asked_to_normalise() -> None:
    """Cosine cannot see a row that is a training row scaled up, so dense input uses Euclidean."""
    x = gaussian(500, seed=0)
    scaled = x[:50] * 10
    assert KNNDistance().fit(x).is_anomalous(scaled).all()
    assert share(KNNDistance(normalize=True).fit(x).is_anomalous(scaled)) <= 0.1


def test_an_empty_sparse_row_scores_highest_for_the_isolation_forest() -> None:
    x = sparse.random(200, 30, density=0.2, random_state=0, format="csr")
    detector = IsolationForestDetector().fit(x)
    scores = detector.score(sparse.csr_matrix((3, 30)))
    assert scores == pytest.approx([1.0, 1.0, 1.0])
    assert detector.threshold_ < 1.0


@pytest.mark.parametrize("name", NAMES)
class TestContract:
    def test_scores_are_deterministic_and_survive_pickling(self, name: str) -> None:
        x = sparse.random(300, 200, density=0.05, random_state=0, format="csr")
        first = make_detector(name).fit(x)
        second = make_detector(name).fit(x)
        assert isinstance(first, KNNDistance | IsolationForestDetector)
        assert first.svd_ is not None
        assert np.array_equal(first.score(x), second.score(x))
        assert first.threshold_ == second.threshold_
        restored = pickle.loads(pickle.dumps(first))
        assert np.array_equal(restored.score(x), first.score(x))

    def test_shapes_and_the_fitted_width(self, name: str) -> None:
        detector = make_detector(name).fit(gaussian(100, seed=0, d=80))
        assert detector.n_features_in_ == 80
        scores = detector.score(gaussian(7, seed=1, d=80))
        assert scores.shape == (7,)
        assert scores.dtype == np.float64
        assert detector.is_anomalous(gaussian(7, seed=1, d=80)).dtype == np.bool_
        assert detector.score(np.zeros((0, 0))).shape == (0,)

    def test_scoring_before_fit_is_refused(self, name: str) -> None:
        with pytest.raises(NotFittedError, match="not fitted"):
            make_detector(name).score(gaussian(3, seed=0))

    @pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
    def test_another_width_is_refused(self, name: str, dense: bool) -> None:
        detector = make_detector(name).fit(gaussian(50, seed=0))
        other: Any = gaussian(3, seed=0, d=6)
        with pytest.raises(InvalidInput) as info:
            detector.score(other if dense else sparse.csr_matrix(other))
        assert info.value.field == "features"
        assert "6 feature(s)" in info.value.message

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    @pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
    def test_nan_and_infinity_are_refused_naming_the_row(
        self, name: str, bad: float, dense: bool
    ) -> None:
        x = gaussian(50, seed=0)
        x[7, 2] = bad
        matrix: Any = x if dense else sparse.csr_matrix(x)
        with pytest.raises(InvalidInput) as fitting:
            make_detector(name).fit(matrix)
        assert fitting.value.field == "features[7]"
        detector = make_detector(name).fit(gaussian(50, seed=1))
        with pytest.raises(InvalidInput) as scoring:
            detector.score(matrix)
        assert scoring.value.field == "features[7]"

    @pytest.mark.parametrize(
        "features", [np.zeros(5), [["a", "b"]], np.zeros((1, 3)), np.zeros((4, 0))]
    )
    def test_fit_refuses_what_is_not_a_training_matrix(self, name: str, features: Any) -> None:
        with pytest.raises(InvalidInput) as info:
            make_detector(name).fit(features)
        assert info.value.field == "features"


@pytest.mark.parametrize("quantile", [0.0, 1.0, -0.1, 1.5, float("nan"), "0.9", None, True])
def test_quantile_must_be_inside_zero_one(quantile: Any) -> None:
    for name in NAMES:
        with pytest.raises(InvalidInput) as info:
            make_detector(name, quantile=quantile)
        assert info.value.field == "quantile"


@pytest.mark.parametrize(
    ("name", "param"),
    [("knn", "k"), ("knn", "n_components"), ("isolation_forest", "n_estimators")],
)
@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_counts_must_be_positive_integers(name: str, param: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        make_detector(name, **{param: value})
    assert info.value.field == param


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("value", [1, "yes", 0.0])
def test_normalize_is_true_false_or_none(name: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        make_detector(name, normalize=value)
    assert info.value.field == "normalize"


class TestRegistry:
    def test_detectors_by_name(self) -> None:
        expected: dict[str, type[OODDetector]] = {
            "knn": KNNDistance,
            "isolation_forest": IsolationForestDetector,
        }
        assert expected == DETECTORS
        for name, cls in DETECTORS.items():
            assert cls.name == name
            assert type(make_detector(name)) is cls

    def test_parameters_reach_the_detector(self) -> None:
        detector = make_detector("knn", k=3, quantile=0.95, n_components=8)
        assert isinstance(detector, KNNDistance)
        assert (detector.k, detector.quantile, detector.n_components) == (3, 0.95, 8)
        assert make_detector("isolation_forest", quantile=np.float64(0.9)).quantile == 0.9

    def test_an_unknown_name_is_refused(self) -> None:
        with pytest.raises(InvalidInput) as info:
            make_detector("mahalanobis")
        assert info.value.field == "ood.method"
        assert "isolation_forest" in info.value.message

    def test_an_unknown_parameter_is_refused(self) -> None:
        with pytest.raises(InvalidInput) as info:
            make_detector("isolation_forest", k=5)
        assert info.value.field == "ood.params"
