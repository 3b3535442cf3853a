"""The review HTML page in a real headless Chromium (Debian's ``chromium``
package; .ci/run installs it): it loads with no console errors and shows the
diff table and at least one SVG picture.  Skipped only if chromium is absent."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tokenproof.commands.review import markdown  # noqa: F401  (the CLI module imports cleanly)
from tokenproof.htmlreport import render
from tokenproof.review import Behaviour, Change, CexView, Report

CHROMIUM = shutil.which("chromium") or (Path("/usr/bin/chromium").exists() and "/usr/bin/chromium") or None
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _report() -> Report:
    """A fixed report (no solver: the browser test is about the page)."""
    steps = [{"actor": "init", "call": "socket_create(server=server, capturing=True, socket=socket#1)",
              "rule": "socket_create", "errno": "OK", "changes": ["socket#1 created"]},
             {"actor": "init", "call": "socket_connect(socket=socket#1)", "rule": "socket_connect", "errno": "OK",
              "changes": []},
             {"actor": "srv1", "call": "kacs_impersonate_peer(socket=socket#1, imp_copy=token#6)",
              "rule": "kacs_impersonate_peer", "errno": "OK", "changes": ["srv1 impersonates token#6"]}]
    cex = CexView("se-impersonate-never-lifts-the-integrity-ceiling", 3, steps, None)
    ch = Change("se-impersonate-never-lifts-the-integrity-ceiling", "statement <with> & markup", "transition",
                "proved", "refuted", "counterexample of 3 step(s), replayed", cex)
    beh = Behaviour("kacs_impersonate_peer", "found", 1.0, "", "thread#3", "kacs_impersonate_peer(socket=1)",
                    "OK", "OK", ["thread_imp_level[3]: baseline 1, proposal 3"])
    return Report("SeImpersonatePrivilege lifts the integrity ceiling", "desc", "proposals/x.py", "working tree",
                  ["kacs_impersonate_peer"], "the properties named with --property",
                  [ch.prop], {ch.prop: ("proved", "refuted")}, [ch], [beh], {"total": 1.0})


def _page(tmp_path: Path) -> Path:
    page = tmp_path / "review.html"
    # a script that reports what the page shows; errors would surface in the DOM dump as well
    html = render(_report()).replace("</body>", "<script>document.body.setAttribute('data-check', JSON.stringify({"
                                     "rows: document.querySelectorAll('#diff tbody tr').length, "
                                     "svgs: document.querySelectorAll('svg.sequence').length, "
                                     "svgw: document.querySelector('svg.sequence').getBoundingClientRect().width}))"
                                     "</script></body>")
    page.write_text(html)
    return page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium chromium-driver)")
def test_page_loads_and_shows_table_and_picture(tmp_path):
    page = _page(tmp_path)
    profile = tmp_path / "profile"
    out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    assert 'id="diff"' in dom and "se-impersonate-never-lifts-the-integrity-ceiling" in dom
    check = json.loads(dom.split('data-check="', 1)[1].split('"', 1)[0].replace("&quot;", '"'))
    assert check["rows"] == 1 and check["svgs"] >= 1 and check["svgw"] > 100
    console_errors = [ln for ln in out.stderr.splitlines() if "CONSOLE" in ln and ("Error" in ln or "ERROR" in ln)]
    assert not console_errors, console_errors


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium chromium-driver)")
def test_page_screenshot_is_not_blank(tmp_path):
    page = _page(tmp_path)
    shot = tmp_path / "shot.png"
    out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'p2'}", f"--screenshot={shot}",
                          "--window-size=1200,1600", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and shot.exists() and shot.stat().st_size > 5000, out.stderr[-1000:]
