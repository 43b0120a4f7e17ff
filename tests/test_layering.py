"""The layering rules of DESIGN.md, checked on the source: golden imports nothing of
models, hw or sim; hw and models import nothing of sim; the project's module import graph
has no cycle.

Every module of golden/, models/, hw/ and sim/ is parsed with :mod:`ast`; an import at any
depth counts (inside a function too: a lazy import still ties the modules together).
``from package import name`` counts as an import of the submodule ``package.name`` when
there is one, else of ``package``. A submodule's implicit import of its parent packages is
not an edge (a package's ``__init__`` importing its own submodules is no cycle).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("golden", "models", "hw", "sim")
#: What each layer must not import.
FORBIDDEN = {"golden": ("models", "hw", "sim"), "models": ("sim",), "hw": ("sim",)}

#: ``(importer, imported)`` layering violations that are known and being removed. Each
#: entry must still be real (the test fails once it is gone, so that it is deleted here).
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules) -> set[str]:
    """Every module ``name`` (at ``path``) imports, at any depth of its syntax tree."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                found.add(sub if sub in modules else mod)
    return found


def _graph() -> dict[str, set[str]]:
    """The import graph restricted to the project's modules (targets of ``import a.b.c``
    are ``a.b.c`` itself, or its nearest enclosing project module)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        edges = set()
        for target in _imports(name, path, modules):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def _raw_imports() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _violations() -> set[tuple[str, str]]:
    out = set()
    for name, targets in _raw_imports().items():
        banned = FORBIDDEN.get(name.partition(".")[0], ())
        for target in targets:
            if target.partition(".")[0] in banned:
                out.add((name, target))
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_parser_sees_imports_at_any_depth():
    graph = _graph()
    assert len(graph) > 100
    assert {"golden.spec", "sim.compiler.tiling", "hw.accel.top"} <= set(graph)
    assert "golden.spec" in graph["sim.compiler.parts.mac_array"]  # module level
    assert "sim.compiler" in graph["sim.accel_cli"]  # inside a function
    assert "sim.compiler.tiling" in graph["sim.compiler.operands"]  # from package import sub


def test_layers_import_only_downwards():
    found = _violations()
    assert found - KNOWN_VIOLATIONS == set(), "layering violations (importer, imported)"
    assert KNOWN_VIOLATIONS - found == set(), "fixed: delete these from KNOWN_VIOLATIONS"


def test_the_compiler_needs_only_numpy_and_golden():
    """sim/compiler imports the standard library, numpy, golden and itself, nothing else
    (no torch, amaranth or cocotb, and nothing of the rest of sim)."""
    allowed = set(sys.stdlib_module_names) | {"numpy", "golden"}
    for name, targets in _raw_imports().items():
        if name == "sim.compiler" or name.startswith("sim.compiler."):
            other = {t for t in targets if t.partition(".")[0] not in allowed
                     and t != "sim.compiler" and not t.startswith("sim.compiler.")}
            assert other == set(), name


def test_the_import_graph_has_no_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_cycle_is_found_and_reported():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
