"""The direction of dependencies: ``data_prep`` and ``experiments`` build on ``rcnreid``, the
library never reaches into them, rcnreid's subpackages sit on floors (:data:`FLOORS`: a floor
imports only the floors below it) and its modules import each other without cycles.

Imports are read from the source (ast), at any depth: module level, inside functions and
classes, ``try`` blocks included, relative imports resolved.
"""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("rcnreid", "data_prep", "experiments")


def module_files():
    """{module name: file path} of every module under the three packages."""
    out = {}
    for pkg in PACKAGES:
        for folder, dirs, files in os.walk(os.path.join(ROOT, pkg)):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__pycache__"))]
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                out[".".join(rel)] = path
    return out


def imported_names(path, module):
    """Every module name ``module`` (file ``path``) imports, anywhere in the file."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    is_pkg = os.path.basename(path) == "__init__.py"
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                base = parts if is_pkg else parts[:-1]
                base = base[:len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module
            names.add(stem)
            # ``from pkg import mod`` imports the module pkg.mod when there is one
            names.update("%s.%s" % (stem, a.name) for a in node.names)
    return names


def import_graph():
    files = module_files()
    graph = {}
    for mod, path in files.items():
        deps = set()
        for name in imported_names(path, mod):
            # the module itself, or the closest enclosing package we know
            parts = name.split(".")
            while parts and ".".join(parts) not in files:
                parts = parts[:-1]
            if parts and ".".join(parts) != mod:
                deps.add(".".join(parts))
        graph[mod] = deps
    return graph


def test_the_graph_sees_imports_inside_functions():
    g = import_graph()
    assert "rcnreid.data.synthetic" in g["rcnreid.demo"]           # imported inside run_demo
    assert "rcnreid.data.frames" in g["data_prep.images"]
    assert any(d.startswith("rcnreid") for d in g["data_prep.ilidsvid"])


def test_rcnreid_never_imports_data_prep_or_experiments():
    g = import_graph()
    bad = sorted("%s -> %s" % (m, d) for m, deps in g.items() if m.split(".")[0] == "rcnreid"
                 for d in deps if d.split(".")[0] in ("data_prep", "experiments"))
    assert not bad, "the library reaches into data_prep/experiments: %s" % bad


def test_data_prep_never_imports_experiments():
    g = import_graph()
    bad = sorted("%s -> %s" % (m, d) for m, deps in g.items() if m.startswith("data_prep")
                 for d in deps if d.startswith("experiments"))
    assert not bad


def find_cycle(graph):
    """One import cycle (list of modules, first == last) or None (iterative DFS)."""
    state = {}
    for root in sorted(graph):
        if state.get(root):
            continue
        stack = [(root, iter(sorted(graph[root])))]
        path = [root]
        state[root] = 1                      # 1: on the current path, 2: done
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(sorted(graph[nxt]))))
                path.append(nxt)
    return None


#: rcnreid's subpackages and top modules, lowest floor first (docs/DEVELOPING.md, "Layout"). A
#: module imports its own group and the floors below its own, never one beside or above it.
FLOORS = (
    ("errors",),                 # UserError
    ("config_dict",),            # the one from_dict of the configuration dataclasses
    ("store",),                  # files on disk: atomic writers, locks
    ("backend",),                # Theano configured, repaired, started; threads; GPU; oneDNN
    ("rcnreid",),                # the package's __init__: the OpenBLAS kernel choice (backend)
    ("data", "metric"),          # dataset files and network inputs; metric learning (numpy)
    ("nn",),                     # the network of Fig. 2, its config and update rules
    ("configs", "baselines"),    # named run configurations; hand-crafted representations
    ("engine",),                 # training: epoch loop, trainer, checkpoints, log, resume
    ("evaluation", "vgg"),       # CMC and evaluation; VGG-16, its fine-tuning and fc7
    ("viz", "diagnostics"),      # pictures; benchmark, op profile, GPU check
    ("demo",),                   # the whole pipeline on synthetic data
    ("commands",),               # one thin module per `rcnreid` sub-command
    ("cli",),                    # the dispatcher
    ("__main__", "bench"),       # spellings of the command line: python -m rcnreid[.bench]
)


def group_of(module):
    """``rcnreid.nn.model`` -> ``nn``; ``rcnreid`` -> ``rcnreid``; None outside the library."""
    parts = module.split(".")
    if parts[0] != "rcnreid":
        return None
    return parts[1] if len(parts) > 1 else "rcnreid"


def test_every_library_module_has_a_floor():
    placed = {g for floor in FLOORS for g in floor}
    groups = {group_of(m) for m in import_graph() if group_of(m)}
    assert groups <= placed, "give these a floor in FLOORS: %s" % sorted(groups - placed)


def upward_imports(graph):
    """``"module (group) -> module (group)"`` for every import beside or up the floors."""
    floor = {g: i for i, names in enumerate(FLOORS) for g in names}
    bad = []
    for m, deps in graph.items():
        a = group_of(m)
        if a is None:
            continue
        for d in deps:
            b = group_of(d)
            if b is None or b == a or d == "rcnreid":     # own group; the enclosing package
                continue
            if floor[b] >= floor[a]:
                bad.append("%s (%s) -> %s (%s)" % (m, a, d, b))
    return sorted(bad)


def test_library_floors_import_only_downwards():
    bad = upward_imports(import_graph())
    assert not bad, "imports beside or up the floors: %s" % bad


def test_upward_imports_finds_up_and_sideways_but_not_down():
    g = {"rcnreid.engine.train": {"rcnreid.viz.training_plot", "rcnreid.nn.model",
                                  "rcnreid.engine.checkpoint", "rcnreid"},
         "rcnreid.viz.visrank": {"rcnreid.diagnostics.bench"}}
    assert upward_imports(g) == [
        "rcnreid.engine.train (engine) -> rcnreid.viz.training_plot (viz)",
        "rcnreid.viz.visrank (viz) -> rcnreid.diagnostics.bench (diagnostics)"]


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package", ["rcnreid"])
def test_no_import_cycle_among_library_modules(package):
    g = import_graph()
    # a package's __init__ importing nothing of its own does not make a cycle with its modules;
    # edges from a module to its enclosing package come from ``from pkg import mod`` resolution
    sub = {m: {d for d in deps if d.split(".")[0] == package and not m.startswith(d + ".")}
           for m, deps in g.items() if m.split(".")[0] == package}
    cycle = find_cycle(sub)
    assert cycle is None, "import cycle: %s" % " -> ".join(cycle)
