"""CLI subcommands, one module each; every module exposes ``command``."""

from __future__ import annotations

import importlib

import click

# Add a module name here when you add a subcommand module.
MODULES: list[str] = ["merge", "prove", "run", "access", "access_proofs", "check", "mutants", "coverage", "crosscheck", "review", "replay", "explore"]


def all_commands() -> list[click.Command]:
    return [importlib.import_module(f"tokenproof.commands.{m}").command for m in MODULES]
