"""pytest integration: ``pytest --tokenproof`` collects every catalog property as a test.

Registered through the ``pytest11`` entry point (``pyproject.toml``), so it
is loaded whenever tokenproof is installed, but it does nothing unless
``--tokenproof`` is given.  With the flag, one item per property is added
(node id ``tokenproof::<property id>``, marked ``tokenproof``), so

* ``pytest --tokenproof -m tokenproof`` runs only the properties,
* ``-k`` selects by property id (``-k "sessions and not revive"``),
* ``--junitxml`` gives JUnit from pytest itself, ``-n`` (pytest-xdist)
  spreads the properties over workers.

An item passes when the property meets its expected verdict for the profile
and fails with the verdict, the detail, the counterexample to induction or
the replayed counterexample (its file and steps) in the failure text.  The
proof cache of ``tokenproof prove`` is used (``--tokenproof-cache-dir``,
``--tokenproof-no-cache``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

_RUNNER_KEY = "_tokenproof_runner"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("tokenproof", "tokenproof property catalog")
    g.addoption("--tokenproof", action="store_true", default=False,
                help="Collect every tokenproof catalog property as a test item (id = property id).")
    g.addoption("--tokenproof-profile", default="kacs", metavar="NAME", help="Rule set (default: kacs).")
    g.addoption("--tokenproof-timeout", type=int, default=10000, metavar="MS",
                help="Solver timeout per query in ms (default: 10000).")
    g.addoption("--tokenproof-depth", type=int, default=3, metavar="N",
                help="BMC depth for properties induction cannot settle (default: 3).")
    g.addoption("--tokenproof-scenario", default="standard", metavar="NAME", help="Initial world (default: standard).")
    g.addoption("--tokenproof-out", default="counterexamples/found", metavar="DIR",
                help="Where replayed counterexamples are written (default: counterexamples).")
    g.addoption("--tokenproof-cache-dir", default=".tokenproof-cache", metavar="DIR",
                help="Proof cache directory, relative to the rootdir (default: .tokenproof-cache).")
    g.addoption("--tokenproof-no-cache", action="store_true", default=False, help="Do not use the proof cache.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tokenproof: a tokenproof catalog property (added by --tokenproof)")


class PropertyFailed(Exception):
    def __init__(self, record: Any):
        super().__init__(record.id)
        self.record = record


class CatalogCollector(pytest.Collector):
    """The catalog: one ``PropertyItem`` per property, sorted by id."""

    def collect(self):
        from tokenproof.catalog_run import load_catalog

        catalog = load_catalog()
        profile = self.config.getoption("tokenproof_profile")
        for pid in sorted(catalog):
            p = catalog[pid]
            item = PropertyItem.from_parent(self, name=pid, prop_id=pid)
            item.add_marker(pytest.mark.tokenproof)
            item.user_properties.extend([("kind", p.kind), ("expected", p.expected(profile)),
                                         ("sections", " ".join(p.sections))])
            yield item


class PropertyItem(pytest.Item):
    def __init__(self, *, prop_id: str, **kw: Any):
        super().__init__(**kw)
        self.prop_id = prop_id
        self.record = None

    def runtest(self) -> None:
        runner = _runner(self.config)
        rec = runner.prove(self.prop_id)
        self.record = rec
        self.user_properties.append(("verdict", rec.verdict))
        if rec.cached:
            self.user_properties.append(("cached", "yes"))
        if not rec.as_expected:
            raise PropertyFailed(rec)

    def repr_failure(self, excinfo, style=None):  # type: ignore[override]
        if isinstance(excinfo.value, PropertyFailed):
            from tokenproof.report import failure_text

            return failure_text(excinfo.value.record)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        from tokenproof.catalog_run import load_catalog

        f, line = load_catalog()[self.prop_id].source
        return Path(f), line - 1, f"tokenproof: {self.prop_id}"


def _runner(config: pytest.Config):
    runner = getattr(config, _RUNNER_KEY, None)
    if runner is None:
        from tokenproof.catalog_run import Runner, RunOptions, check_options

        cache_dir = None
        if not config.getoption("tokenproof_no_cache"):
            cache_dir = str(Path(config.rootpath) / config.getoption("tokenproof_cache_dir"))
        opts = RunOptions(profile=config.getoption("tokenproof_profile"),
                          timeout_ms=config.getoption("tokenproof_timeout"),
                          depth=config.getoption("tokenproof_depth"),
                          scenario=config.getoption("tokenproof_scenario"),
                          out_dir=str(Path(config.rootpath) / config.getoption("tokenproof_out")),
                          cache_dir=cache_dir)
        try:
            check_options(opts)
        except (KeyError, ValueError) as e:
            raise pytest.UsageError(f"tokenproof: {e.args[0] if e.args else e}") from None
        runner = Runner(opts)
        setattr(config, _RUNNER_KEY, runner)
    return runner


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Add the properties before ``-k``/``-m`` deselection (which runs after this hook)."""
    if not config.getoption("tokenproof"):
        return
    try:
        from model.profiles import get_profile

        get_profile(config.getoption("tokenproof_profile"))
    except KeyError as e:
        raise pytest.UsageError(f"tokenproof: {e.args[0]}") from None
    collector = CatalogCollector.from_parent(session, name="tokenproof", nodeid="tokenproof")
    try:  # collected like any other node, so the terminal and junit count the items
        from _pytest.runner import collect_one_node

        rep = collect_one_node(collector)
        collector.ihook.pytest_collectreport(report=rep)
        if rep.failed:
            raise pytest.UsageError(f"tokenproof: the catalog does not load: {rep.longreprtext}")
        new = [x for x in rep.result if isinstance(x, pytest.Item)]
    except ImportError:  # pragma: no cover - private pytest API moved
        new = list(collector.collect())
    items.extend(new)
