"""Test worlds (thin wrappers over ``model.scenarios``)."""

from model.scenarios import standard


def standard_world():
    return standard()
