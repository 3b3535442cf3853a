"""Shared fixtures: a booted world with a few principals, and a simulator."""

from __future__ import annotations

import pytest
from hypothesis import settings

from model.sim import Simulator
from tests.scenario import standard_world

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=30, deadline=None, derandomize=True)
settings.load_profile("ci")


@pytest.fixture
def world():
    return standard_world()


@pytest.fixture
def sim(world):
    return Simulator(world)
