"""Model artifacts on disk: written atomically with their sha256, verified on every load."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import joblib

from loopwise.errors import ArtifactIntegrityError
from loopwise.training.models import TrainedModel


class ArtifactStore:
    """Save and load :class:`TrainedModel` files under ``root``.

    The checksum recorded in the database is what makes loading safe: a file whose bytes do not
    hash to the recorded value is refused before it is unpickled.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, model: TrainedModel, project_id: int, version: int) -> tuple[str, str]:
        """Write ``model`` and return ``(path, sha256)``."""
        buffer = io.BytesIO()
        joblib.dump(model, buffer, compress=3)
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        folder = self.root / f"project-{project_id}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"model-v{version}-{digest[:12]}.joblib"
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(path), digest

    def load(self, path: str, sha256: str) -> TrainedModel:
        """Read the model at ``path`` after checking its bytes hash to ``sha256``.

        Raises
        ------
        ArtifactIntegrityError
            The file is missing or its checksum differs from the record.
        """
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ArtifactIntegrityError(f"model artifact {path} cannot be read: {exc}") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise ArtifactIntegrityError(
                f"model artifact {path} has sha256 {digest[:12]}…, the record says {sha256[:12]}…; "
                "refusing to load it"
            )
        model = joblib.load(io.BytesIO(data))
        if not isinstance(model, TrainedModel):
            raise ArtifactIntegrityError(f"model artifact {path} does not hold a loopwise model")
        return model

    def discard(self, path: str) -> None:
        Path(path).unlink(missing_ok=True)
