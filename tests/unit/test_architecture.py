"""Guards of the architecture: a pure core, and a public surface that changes only on purpose."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
from pathlib import Path

import pytest

PURE_PACKAGES = [
    "core",
    "scoring",
    "routing",
    "training",
    "consensus",
    "queue",
    "webhooks",
    "active_learning",
]
ADAPTER_LIBRARIES = {"fastapi", "starlette", "sqlalchemy", "alembic"}
PURE_INTERNAL = {f"loopwise.{name}" for name in PURE_PACKAGES} | {"loopwise.errors"}

EXPECTED_PUBLIC_API = [
    "AuditEvent",
    "Client",
    "Decision",
    "InputKind",
    "Item",
    "ItemIn",
    "ItemStatus",
    "Label",
    "LabelSource",
    "Loopwise",
    "LoopwiseError",
    "ModelStage",
    "ModelVersion",
    "Prediction",
    "Priority",
    "Project",
    "QueueEntry",
    "Review",
    "ReviewConfig",
    "ReviewTask",
    "Reviewer",
    "Role",
    "Route",
    "RoutingConfig",
    "Routed",
    "ServiceUnavailable",
    "Settings",
    "Stage",
    "TaskStatus",
    "TrainingConfig",
    "Verdict",
    "__version__",
]


def package_root() -> Path:
    """Where ``loopwise`` lives, found without importing it."""
    spec = importlib.util.find_spec("loopwise")
    assert spec is not None
    assert spec.submodule_search_locations is not None
    return Path(next(iter(spec.submodule_search_locations)))


def imported_modules(source: str) -> set[str]:
    """Every absolute module named by an import statement, anywhere in ``source``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def sources(package: str) -> list[Path]:
    files = sorted((package_root() / package).rglob("*.py"))
    assert files, f"no source files found for loopwise.{package}"
    return files


def test_the_import_scanner_sees_every_form_of_import() -> None:
    source = (
        "import sqlalchemy as sa\n"
        "from fastapi import APIRouter\n"
        "from . import sibling\n"
        "def f() -> None:\n"
        "    import starlette.requests\n"
        "if TYPE_CHECKING:\n"
        "    from sqlalchemy.orm import Session\n"
    )
    assert imported_modules(source) == {
        "sqlalchemy",
        "fastapi",
        "starlette.requests",
        "sqlalchemy.orm",
    }


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_the_core_imports_no_web_or_database_library(package: str) -> None:
    offenders = [
        f"{path.relative_to(package_root())}: {module}"
        for path in sources(package)
        for module in sorted(imported_modules(path.read_text(encoding="utf-8")))
        if module.split(".")[0] in ADAPTER_LIBRARIES
    ]
    assert offenders == []


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_the_core_imports_only_the_core_from_loopwise(package: str) -> None:
    """Importing ``loopwise.store`` or ``loopwise.services`` would bring SQLAlchemy in."""
    offenders = [
        f"{path.relative_to(package_root())}: {module}"
        for path in sources(package)
        for module in sorted(imported_modules(path.read_text(encoding="utf-8")))
        if module.split(".")[0] == "loopwise"
        and not any(module == p or module.startswith(p + ".") for p in PURE_INTERNAL)
    ]
    assert offenders == []


def test_the_public_api_is_exactly_the_expected_list() -> None:
    import loopwise

    assert sorted(loopwise.__all__) == sorted(EXPECTED_PUBLIC_API)
    assert len(set(loopwise.__all__)) == len(loopwise.__all__)


@pytest.mark.parametrize("name", EXPECTED_PUBLIC_API)
def test_every_public_name_is_importable(name: str) -> None:
    module = importlib.import_module("loopwise")
    assert getattr(module, name, None) is not None


def test_the_version_matches_the_distribution() -> None:
    import loopwise

    assert loopwise.__version__ == importlib.metadata.version("loopwise")


@pytest.mark.parametrize(
    "package",
    [
        "core",
        "scoring",
        "routing",
        "training",
        "consensus",
    ],
)
def test_every_subpackage_export_is_importable(package: str) -> None:
    module = importlib.import_module(f"loopwise.{package}")
    exported: list[str] = getattr(module, "__all__", [])
    assert [name for name in exported if not hasattr(module, name)] == []
