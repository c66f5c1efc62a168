"""Every paper deck (examples/paper/*.py) runs at ``--scale tiny`` and writes its figure.

The decks run in this process (runpy) and share one output directory, so a run that several
decks need (e.g. the correlation runs of Fig. 1b, 2, S3, S5) is computed once and reused.
"""
import os
import runpy
import sys

import pytest

pytest.importorskip("matplotlib")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DECKS = os.path.join(ROOT, "examples", "paper")

EXPECTED = {
    "fig1b": ["fig1b.png"], "fig2": ["fig2.png"], "fig3": ["fig3.png"], "fig4": ["fig4.png"],
    "figS1": ["figS1.png"], "figS2": ["figS2.png"], "figS3": ["figS3.png"],
    "figS4": ["figS4.png"], "figS5": ["figS5.png"], "figS6": ["figS6.png"],
    "figS7_S9": ["figS7.png", "figS8.png", "figS9.png"],
}


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)   # tiny tensors: one thread is faster
    yield str(tmp_path_factory.mktemp("paper"))
    torch.set_num_threads(n)


def run_deck(name, argv):
    old = sys.argv
    sys.argv = [name + ".py"] + list(argv)
    try:
        runpy.run_path(os.path.join(DECKS, name + ".py"), run_name="__main__")
    finally:
        sys.argv = old


def test_every_deck_is_tested():
    decks = sorted(f[:-3] for f in os.listdir(DECKS) if f.endswith(".py") and f[0] != "_")
    assert decks == sorted(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_deck_runs_at_tiny_scale(name, outdir, capsys):
    run_deck(name, ["--scale", "tiny", "--out", outdir, "--quiet"])
    for fig in EXPECTED[name]:
        path = os.path.join(outdir, fig)
        assert os.path.getsize(path) > 5000, fig
    out = capsys.readouterr().out
    assert f"[{name}] wrote" in out


def test_decks_reuse_complete_stores(outdir, capsys):
    run_deck("figS4", ["--scale", "tiny", "--out", outdir, "--quiet"])
    out = capsys.readouterr().out
    assert "reuse" in out and "] run " not in out


def test_paper_scale_needs_the_full_mnist(tmp_path):
    sys.path.insert(0, DECKS)
    try:
        import _common as C
    finally:
        sys.path.remove(DECKS)
    args = C.parse_args("", ["--scale", "paper", "--out", str(tmp_path)])
    assert (args.scale_.M, args.scale_.t_star, args.scale_.t_ws) == (2000, 500_000,
                                                                     (1_000, 10_000, 50_000))
    with pytest.raises(SystemExit, match="--mnist-dir"):
        C.dataset(args, 2000)
    spec = C.corr_spec(args)
    assert spec.steps == 550_000 and spec.t_spawn == 50_000 and spec.samples * spec.replicas == 48
