"""The web tests use the API's served databases (the same projects, accounts and tokens)."""

from tests.api.conftest import served, tokens

__all__ = ["served", "tokens"]
