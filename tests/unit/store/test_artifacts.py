"""Model files on disk: checksummed on save, verified before anything is unpickled."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import joblib
import numpy as np
import pytest

from loopwise.core.enums import InputKind
from loopwise.errors import ArtifactIntegrityError
from loopwise.store.artifacts import ArtifactStore
from loopwise.training import TrainedModel, fit_model

PROBE = np.asarray([[-2.0, -1.0], [0.1, 0.2], [2.0, 1.5], [5.0, -5.0]])


class TouchOnUnpickle:
    """A pickle that creates ``marker`` when it is loaded: evidence of unpickling."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return Path.touch, (self.marker,)


def dump(obj: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


@pytest.fixture
def model() -> TrainedModel:
    rng = np.random.default_rng(11)
    x = np.vstack([rng.normal(-1.0, 0.5, (20, 2)), rng.normal(1.0, 0.5, (20, 2))])
    y = ["no"] * 20 + ["yes"] * 20
    return fit_model("logreg", InputKind.TABULAR, x, y, ("no", "yes", "maybe"))


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def test_round_trip_gives_identical_predictions(store: ArtifactStore, model: TrainedModel) -> None:
    path, sha256 = store.save(model, project_id=3, version=2)
    loaded = store.load(path, sha256)
    assert loaded.labels == ("no", "yes", "maybe")
    assert loaded.algorithm == "logreg"
    assert np.array_equal(loaded.predict_proba(PROBE), model.predict_proba(PROBE))


def test_save_names_the_file_and_records_its_checksum(
    store: ArtifactStore, model: TrainedModel
) -> None:
    path, sha256 = store.save(model, project_id=3, version=2)
    written = Path(path)
    assert written.parent == store.root / "project-3"
    assert written.name == f"model-v2-{sha256[:12]}.joblib"
    assert hashlib.sha256(written.read_bytes()).hexdigest() == sha256
    assert [p.name for p in written.parent.iterdir()] == [written.name], "no temporary files"


def test_a_tampered_file_is_refused(store: ArtifactStore, model: TrainedModel) -> None:
    path, sha256 = store.save(model, project_id=1, version=1)
    data = bytearray(Path(path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(path).write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="refusing to load it"):
        store.load(path, sha256)


def test_a_wrong_checksum_is_refused(store: ArtifactStore, model: TrainedModel) -> None:
    path, sha256 = store.save(model, project_id=1, version=1)
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ArtifactIntegrityError) as info:
        store.load(path, wrong)
    assert f"has sha256 {sha256[:12]}" in info.value.message
    assert f"the record says {wrong[:12]}" in info.value.message


def test_a_missing_file_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model-v1.joblib"
    with pytest.raises(ArtifactIntegrityError, match="cannot be read"):
        store.load(str(missing), "0" * 64)


def test_a_replaced_file_is_refused_before_it_is_unpickled(
    store: ArtifactStore, model: TrainedModel, tmp_path: Path
) -> None:
    path, sha256 = store.save(model, project_id=1, version=1)
    marker = tmp_path / "unpickled"
    Path(path).write_bytes(dump(TouchOnUnpickle(marker)))
    with pytest.raises(ArtifactIntegrityError, match="refusing to load it"):
        store.load(path, sha256)
    assert not marker.exists()


def test_a_matching_file_that_is_not_a_model_is_refused(
    store: ArtifactStore, tmp_path: Path
) -> None:
    # The control for the test above: with a matching checksum the file is unpickled.
    marker = tmp_path / "unpickled"
    path = tmp_path / "other.joblib"
    data = dump(TouchOnUnpickle(marker))
    path.write_bytes(data)
    with pytest.raises(ArtifactIntegrityError, match="does not hold a loopwise model"):
        store.load(str(path), hashlib.sha256(data).hexdigest())
    assert marker.exists()


def test_discard_removes_the_file_and_tolerates_a_missing_one(
    store: ArtifactStore, model: TrainedModel
) -> None:
    path, _ = store.save(model, project_id=1, version=1)
    store.discard(path)
    assert not Path(path).exists()
    store.discard(path)
    assert not Path(path).exists()
