"""Every ```python block of the documentation runs.

The blocks of one file (docs/*.md and README.md) are executed in order in one namespace, in a
fresh temporary working directory, so a page reads like a session. A block whose first line is
the comment ``# doctest: +SKIP`` is shown but not run; keep that for blocks that need a GPU,
several processes or minutes of CPU time. A block written as a doctest session (it has
``>>>`` prompts) is run by doctest in the same namespace, and its printed output must match. Pages added later are picked up automatically: the test is parametrized per file
at collection time.
"""
from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP_MARK = "# doctest: +SKIP"

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)[^`]*$")


def doc_files():
    files = sorted((ROOT / "docs").glob("*.md"))
    readme = ROOT / "README.md"
    if readme.exists():
        files.append(readme)
    return files


def python_blocks(text: str):
    """[(first line number (1-based) of the code, code)] of the ```python fenced blocks.

    Fences may be indented (inside list items); the indentation of the opening fence is
    removed from every line of the block. Other fenced blocks (bash, text, ...) are skipped,
    and a python block nested in another fence is not treated as code.
    """
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.group("indent"), m.group("fence"), m.group("info").lower()
        close = re.compile(r"^[ \t]*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        if info in ("python", "py", "python3"):
            body = []
            for line in lines[i + 1:j]:
                body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            blocks.append((i + 2, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def _run_doctest(code: str, namespace: dict, path: Path, line: int):
    """Run a ``>>>`` block with doctest in ``namespace`` (names it defines stay there)."""
    name = f"{path.name}:{line}"
    test = doctest.DocTestParser().get_doctest(code, namespace, name, str(path), line - 1)
    report = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=report.append, clear_globs=False)
    namespace.update(test.globs)
    if runner.failures:
        raise AssertionError(f"{path.relative_to(ROOT)}: the doctest block starting at line "
                             f"{line} failed:\n" + "".join(report))


def _is_doctest(code: str) -> bool:
    return any(l.lstrip().startswith(">>> ") or l.strip() == ">>>" for l in code.splitlines())


def _first_line(code: str) -> str:
    for line in code.splitlines():
        if line.strip():
            return line.strip()
    return ""


def test_block_extraction():
    text = "\n".join([
        "intro", "```python", "a = 1", "```", "```bash", "echo no", "```",
        "- item", "  ```python", "  # doctest: +SKIP", "  import gpu_only", "  ```",
        "````markdown", "```python", "not code", "```", "````", "```py", "b = a + 1", "```",
    ])
    blocks = python_blocks(text)
    assert [b[0] for b in blocks] == [3, 10, 19]
    assert blocks[0][1] == "a = 1\n"
    assert _first_line(blocks[1][1]) == SKIP_MARK
    assert blocks[2][1] == "b = a + 1\n"


def test_doctest_blocks_share_the_namespace_and_check_output():
    ns = {}
    _run_doctest(">>> x = 2\n>>> x + 1\n3\n", ns, ROOT / "README.md", 1)
    assert ns["x"] == 2
    with pytest.raises(AssertionError, match="doctest block"):
        _run_doctest(">>> x * 10\n21\n", ns, ROOT / "README.md", 1)


def runnable_blocks(path):
    blocks = python_blocks(path.read_text(encoding="utf-8"))
    return [(line, code) for line, code in blocks if _first_line(code) != SKIP_MARK]


def pages_with_examples():
    """The doc pages that hold at least one runnable python block (pages of tables and
    prose only, such as the API reference, have nothing to run)."""
    return [p for p in doc_files() if runnable_blocks(p)]


def test_the_tutorial_pages_have_runnable_examples():
    names = {p.name for p in pages_with_examples()}
    for page in ["README.md", "getting_started.md", "concepts.md", "tutorial_replicas.md",
                 "storage.md", "analysis.md", "performance.md", "parallel.md"]:
        assert page in names, f"{page} has no runnable python block"


@pytest.mark.parametrize("path", pages_with_examples(),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_examples_run(path, tmp_path, monkeypatch):
    runnable = runnable_blocks(path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__docs__", "__file__": str(path)}
    for line, code in runnable:
        if _is_doctest(code):
            _run_doctest(code, namespace, path, line)
            continue
        # pad with newlines so that tracebacks point at the line in the markdown file
        compiled = compile("\n" * (line - 1) + code, str(path), "exec")
        try:
            exec(compiled, namespace)
        except Exception as exc:  # name the block in the failure message
            raise AssertionError(f"{path.relative_to(ROOT)}: the python block starting at line "
                                 f"{line} failed: {type(exc).__name__}: {exc}") from exc
    try:  # close figures a page may have opened
        import sys
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
    except Exception:  # pragma: no cover
        pass
