"""The pytest plugin (``pytest --tokenproof``), run in-process with pytester on fast properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

pytest_plugins = ["pytester"]

FAST = "fork-yields-a-distinct-token"
OTHER = "exec-leaves-no-impersonation"


@pytest.fixture
def opts(tmp_path):
    return ["-p", "no:cacheprovider", "--tokenproof-timeout=5000", f"--tokenproof-cache-dir={tmp_path / 'cache'}",
            f"--tokenproof-out={tmp_path / 'cex'}"]


def test_plugin_is_registered_and_inert_without_the_flag(pytester):
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    res = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    res.assert_outcomes(passed=1)
    res = pytester.runpytest_inprocess("--help")
    res.stdout.fnmatch_lines(["*--tokenproof *Collect every tokenproof catalog property*"])


def test_properties_are_items_selected_by_k(pytester, opts):
    res = pytester.runpytest_inprocess("--tokenproof", "--collect-only", "-q", *opts)
    from tokenproof.catalog_run import load_catalog

    n = len(load_catalog())
    res.stdout.fnmatch_lines([f"tokenproof::{FAST}", f"{n} tests collected*"])
    res = pytester.runpytest_inprocess("--tokenproof", "-k", f"{FAST} or {OTHER}", "-v", *opts,
                                       f"--junitxml={pytester.path / 'j.xml'}")
    res.assert_outcomes(passed=2, deselected=n - 2)
    res.stdout.fnmatch_lines([f"tokenproof::{OTHER} PASSED*", f"tokenproof::{FAST} PASSED*"])
    cases = ET.parse(pytester.path / "j.xml").getroot().findall(".//testcase")
    assert sorted(c.get("name") for c in cases) == sorted([FAST, OTHER])


def test_a_property_not_as_expected_fails_with_the_verdict(pytester, opts):
    pytester.makeconftest(f"""
from tokenproof.catalog_run import load_catalog
_saved = {{}}

def pytest_configure(config):
    p = load_catalog()[{FAST!r}]
    _saved["expect"] = dict(p.expect)
    p.expect["kacs"] = "refuted"

def pytest_unconfigure(config):
    load_catalog()[{FAST!r}].expect.clear()
    load_catalog()[{FAST!r}].expect.update(_saved["expect"])
""")
    res = pytester.runpytest_inprocess("--tokenproof", "-k", FAST, "-m", "tokenproof", *opts)
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines([f"*{FAST}: proved, expected refuted (kacs profile)*", "*statement: *"])


def test_bad_profile_is_a_usage_error(pytester, opts):
    res = pytester.runpytest_inprocess("--tokenproof", "--tokenproof-profile=nope", *opts)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
