"""The HTTP service: ``create_app(settings)`` (FastAPI), served by ``loopwise serve``."""

from loopwise.api.app import create_app

__all__ = ["create_app"]
