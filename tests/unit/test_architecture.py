"""The package's shape: no import cycle between modules or between the package's parts, the layers and purity
contracts of pyproject.toml ([tool.importlinter]), and settings that load without the database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = "click2call"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(ROOT)  # TYPE_CHECKING imports count too: they are cycles to a reader


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each a cycle or a knot of them."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            component.append(node)
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_cycles_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back(graph):
    edges = {m: {n for n in graph.find_modules_directly_imported_by(m) if n.startswith(ROOT)} for m in graph.modules}
    assert cycles(edges) == []


def test_no_cycle_between_the_parts_of_the_package(graph):
    """click2call.stasis_app, click2call.webhooks, click2call.records ... as wholes: e.g. stasis_app.calls ->
    records -> stasis_app.call_flow is a cycle between two parts even though no module imports itself back."""
    def part(module: str) -> str:
        return ".".join(module.split(".")[:2])

    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith(ROOT + ".") and part(imported) != part(module):
                edges.setdefault(part(module), set()).add(part(imported))
    assert cycles(edges) == []


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"  # import-linter's command, in this environment
    result = subprocess.run([str(lint_imports)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_settings_load_without_the_database_or_webhooks_machinery():
    code = ("import sys, click2call.config; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'aiohttp', 'httpx') "
            "or m.startswith('click2call.webhooks.s') and m != 'click2call.webhooks.signing'))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
