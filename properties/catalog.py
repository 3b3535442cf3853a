"""The whole property catalog: importing this module registers every property
in ``properties.base.CATALOG`` (area modules below, one per spec area)."""

from __future__ import annotations

from properties import (  # noqa: F401  (registration by import)
    contracts_adjustment,
    contracts_authority,
    contracts_lifecycle,
    divergence,
    guards,
    goals,
    groups,
    handles,
    impersonation,
    lifecycle,
    privileges,
    sessions,
    types,
)
from properties.base import CATALOG, Property
from properties.catalog_support import AccessQuery

AREAS = ("lifecycle", "privileges", "groups", "types", "impersonation", "handles", "sessions", "goals", "divergence")

__all__ = ["CATALOG", "Property", "AccessQuery", "AREAS"]
