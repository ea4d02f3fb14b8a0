"""Helpers shared by the tests, one job a module. Test modules import helpers from here (or from their own
folder's helper module), never from ``conftest`` or from another ``test_*`` module."""

import pkgutil

import pytest

# The helpers assert; pytest explains their failures as it does a test's own asserts.
pytest.register_assert_rewrite(*(f"{__name__}.{module.name}" for module in pkgutil.iter_modules(__path__)))
