"""The example decks run (shortened) through the command line."""
import os
import subprocess
import sys

import mdlearn as md

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(args, env=None, cwd=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "mdlearn.cli"] + args, env=e, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_quickstart_runs_shortened(tmp_path):
    out = run_cli(["run", os.path.join(ROOT, "examples", "quickstart.py")],
                  env={"MDLEARN_QUICK_STEPS": "40"}, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["Step", "Time", "PotEng"] and "TestAcc" in lines[0]
    assert lines[-1].startswith("final sgn test accuracy")


def test_replicas_example_runs_resumes_and_refuses(tmp_path):
    store = str(tmp_path / "r.zarr")
    deck = os.path.join(ROOT, "examples", "replicas.py")
    out = run_cli(["run", deck, "--steps", "30", "--out", store])
    assert out.returncode == 0, out.stderr[-3000:]
    run = md.io.open_run(store)
    assert run.observable("q_layers")["value"].shape[1] == 9
    assert run.spins()["sample"].tolist() == [0, 0, 0, 1, 1, 1]
    again = run_cli(["run", deck, "--steps", "30", "--out", store])
    assert again.returncode != 0 and "finished run" in again.stderr


def test_cli_info_and_errors(tmp_path):
    out = run_cli(["info"])
    assert out.returncode == 0 and "mdlearn" in out.stdout
    bad = run_cli(["run", str(tmp_path / "nope.py")])
    assert bad.returncode == 2 and "does not exist" in bad.stderr
