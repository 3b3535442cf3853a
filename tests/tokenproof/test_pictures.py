"""Pictures: the sequence diagram and the token-derivation graph are produced
and carry the expected labels (rendered by graphviz dot)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenproof import pictures as P
from tokenproof.commands.replay import command
from tokenproof.narrative import replay_trace
from tokenproof.trace import load_trace

CEX = Path(__file__).resolve().parents[2] / "counterexamples"
MUT = CEX / "mutant-install-without-assign-primary-privilege.json"
FORK = CEX / "mutant-fork-copies-the-effective-token.json"


def test_derivation_graph_edges():
    g = P.derivation_graph(replay_trace(load_trace(MUT)))
    labels = {d["label"] for _, _, d in g.edges(data=True)}
    assert "[1] ioctl_duplicate" in labels and "primary" in labels and "real" in labels
    assert g.nodes["token:6"]["label"].startswith("tok1")


def test_sequence_dot_has_lanes_tokens_and_arrows():
    dot = P.sequence_dot(replay_trace(load_trace(FORK)))
    for label in ("thread srv1 (svc's server)", "kacs_impersonate_peer", "impersonate peer", "fork", "bob"):
        assert label in dot, label


needs_dot = pytest.mark.skipif(not P.dot_available(), reason="graphviz's dot is not installed "
                               "(apt-get install -y graphviz)")


@needs_dot
def test_svg_files_are_written_with_the_labels(tmp_path):
    seq, graph = tmp_path / "seq.svg", tmp_path / "graph.svg"
    r = CliRunner().invoke(command, [str(MUT), "--svg", str(seq), "--graph", str(graph)])
    assert r.exit_code == 0, r.output
    s = seq.read_text()
    assert s.lstrip().startswith("<?xml") and "<svg" in s
    for label in ("thread init (SYSTEM&#39;s init)", "ioctl_install", "ioctl_duplicate", "tok1", "install"):
        assert label in s, label
    g = graph.read_text()
    for label in ("tok1", "ioctl_duplicate", "process init", "thread init", "primary"):
        assert label in g, label


def test_no_renderer_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(P.shutil, "which", lambda _: None)
    with pytest.raises(P.NoRenderer, match="apt-get install -y graphviz"):
        P.write_graph_svg(replay_trace(load_trace(MUT)), str(tmp_path / "g.svg"))
