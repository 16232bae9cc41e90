"""The package's layers only look up: no import circle, and no module imports a layer below its own.

The layers, top (imported by everything) to bottom (imports everything), as in the package
docstring of :mod:`linkernel`:

    0  errors, validation, numerics, progress, threads, formatting, display   (import nothing of the package)
    1  architecture, problem, tasks, serialize                       what is asked
    2  theory/                                                       the numerical theory
    3  symbolic/                                                     the same theory in SymPy
    4  finite_n/                                                     finite width: reduction, samplers
    5  sequence, sweep, datasets, plots, figures/, report            tasks built on all of it, output
    6  cli, __main__, __init__                                       the interfaces

Every ``import`` statement counts, at module level or inside a function (a lazy import is still a
dependency: it decides what must exist for the code to run).  Strings naming modules (the lazy
``__init__``'s table) do not.
"""

from __future__ import annotations

import ast
import pathlib

import linkernel

ROOT = pathlib.Path(linkernel.__file__).parent

LAYERS = {
    0: ("errors", "validation", "numerics", "progress", "threads", "formatting", "display"),
    1: ("architecture", "problem", "tasks", "serialize"),
    2: ("theory",),
    3: ("symbolic",),
    4: ("finite_n",),
    5: ("sequence", "sweep", "datasets", "plots", "figures", "report"),
    6: ("cli", "__main__", "__init__"),
}


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 2:
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> int:
    head = module.split(".")[1] if "." in module else "__init__"
    for rank, names in LAYERS.items():
        if head in names:
            return rank
    raise AssertionError(f"module {module} belongs to no layer: add it to LAYERS in {__file__}")


def _modules() -> dict:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(path: pathlib.Path, name: str, known: set) -> set:
    """The package's modules that ``path`` imports (``from a import b`` counts a.b when b is a module)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith("linkernel"):
                found.add(t)
    return found


def _graph() -> dict:
    mods = _modules()
    known = set(mods)
    graph = {}
    for name, path in mods.items():
        graph[name] = _imports(path, name, known)
    return graph


def test_every_module_has_a_layer():
    for name in _modules():
        _layer(name)


def test_no_module_imports_a_layer_below_its_own():
    upward = [f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
              for a, targets in _graph().items() for b in sorted(targets) if _layer(b) > _layer(a)]
    assert not upward, "imports running back up:\n" + "\n".join(upward)


def _cycles(graph: dict) -> list:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    graph = _graph()
    # a package's __init__ that re-exports its own modules forms no circle with them
    for name in graph:
        if name.count(".") >= 1 and (ROOT.parent / name.replace(".", "/") / "__init__.py").exists():
            graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    assert not _cycles(graph), f"import circles: {_cycles(graph)}"


def test_the_layer_test_sees_a_planted_circle_and_an_upward_import():
    """The checks can fail: a circle and an upward arrow added to the real graph are found."""
    graph = {k: set(v) for k, v in _graph().items()}
    graph["linkernel.errors"].add("linkernel.problem")
    graph["linkernel.problem"].add("linkernel.errors")
    assert any("linkernel.errors" in c and "linkernel.problem" in c for c in _cycles(graph))
    assert _layer("linkernel.finite_n.exact") > _layer("linkernel.theory.action")
