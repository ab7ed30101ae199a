"""The package's shape: no import cycle between its packages and modules."""
import ast
from pathlib import Path

import deepdeconv

ROOT = Path(deepdeconv.__file__).parent


def _unit(module):
    """The package (`deepdeconv.data`) or top-level module (`deepdeconv.gan`) a module belongs to."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _imports():
    """{unit: {unit it imports}} over every import statement, deferred ones included."""
    graph = {}
    for path in ROOT.rglob("*.py"):
        module = ".".join(("deepdeconv",) + path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        edges = graph.setdefault(_unit(module), set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
                names = [base] if base != "deepdeconv" else [f"deepdeconv.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            edges.update(_unit(n) for n in names if n.startswith("deepdeconv."))
    for unit, edges in graph.items():
        edges.discard(unit)
    return graph


def _cycle(graph):
    """One import cycle as a list of units, or None."""
    state = {}

    def visit(unit, trail):
        state[unit] = "open"
        for nxt in sorted(graph.get(unit, ())):
            if state.get(nxt) == "open":
                return trail[trail.index(nxt):] + [nxt] if nxt in trail else [unit, nxt]
            if nxt not in state and (found := visit(nxt, trail + [nxt])):
                return found
        state[unit] = "done"
        return None

    for unit in sorted(graph):
        if unit not in state and (found := visit(unit, [unit])):
            return found
    return None


def test_no_import_cycle_between_packages_and_top_level_modules():
    graph = _imports()
    assert "deepdeconv.metrics" in graph["deepdeconv.callbacks"]  # the graph sees deferred imports too
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
