"""Check genrenet's import graph: no circles (imports inside functions and ``TYPE_CHECKING``
blocks count too) and every import pointing down the layers of the data flow.

    python tools/check_imports.py          # prints the problems, exits 1 if there are any
    python tools/check_imports.py --graph  # also prints every module's genrenet imports

The layers, lowest first, follow the README's layout: a module may import its own layer and the
layers below it, never one above. ``cli`` sits on top and nothing but ``cli`` imports it. Grid
search sits above the facade because it builds a ``Classifier`` per cell; cross-validation and
single runs take any estimator with the facade's methods (``evaluation.experiment.Estimator``).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "genrenet"

#: Lowest first. A module's layer is the first entry that is its name or a prefix of it.
LAYERS: list[tuple[str, ...]] = [
    ("genrenet", "genrenet.errors", "genrenet.files", "genrenet.devices"),
    ("genrenet.audio",),
    ("genrenet.features",),
    ("genrenet.data",),
    ("genrenet.patches", "genrenet.augment"),
    ("genrenet.models", "genrenet.pretrained"),
    ("genrenet.training",),
    ("genrenet.inference",),
    ("genrenet.bundle",),
    ("genrenet.evaluation",),
    ("genrenet.classifier",),
    ("genrenet.evaluation.grid", "genrenet.report", "genrenet.demo", "genrenet.tagging"),
    ("genrenet.serve", "genrenet.library", "genrenet.engines"),
    ("genrenet.cli", "beetsplug"),
]


def modules() -> dict[str, Path]:
    """Every module under ``src/``: dotted name -> file."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and parts[0] in (PACKAGE, "beetsplug"):
            found[".".join(parts)] = path
    return found


def imported_names(name: str, path: Path) -> Iterator[str]:
    """Absolute dotted names imported anywhere in the file (functions included)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def graph() -> dict[str, set[str]]:
    """Module -> the genrenet modules it imports (not counting its own parent packages)."""
    mods = modules()

    def owner(target: str) -> str | None:
        while target and target not in mods:
            target = target.rpartition(".")[0]
        return target or None

    edges: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for target in imported_names(name, path):
            found = owner(target)
            if found and found != name and not name.startswith(found + "."):
                edges[name].add(found)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layer_of(name: str) -> int:
    """Index in :data:`LAYERS` of the longest matching prefix."""
    best, best_len = len(LAYERS), -1
    for i, names in enumerate(LAYERS):
        for prefix in names:
            nested = prefix != PACKAGE and name.startswith(prefix + ".")
            if (name == prefix or nested) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    return best


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Imports that point to a higher layer than the importing module's."""
    return [
        f"{source} -> {target}"
        for source, targets in sorted(edges.items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(source)
    ]


def main(argv: list[str]) -> int:
    edges = graph()
    if "--graph" in argv:
        for name, targets in sorted(edges.items()):
            print(f"{name}: {', '.join(sorted(targets)) or '-'}")
    circles = cycles(edges)
    wrong_way = upward(edges)
    for circle in circles:
        print("import circle:", " <-> ".join(circle))
    for edge in wrong_way:
        print("imports a higher layer:", edge)
    print(
        f"{len(edges)} modules, {sum(map(len, edges.values()))} imports: "
        f"{len(circles)} circles, {len(wrong_way)} upward imports"
    )
    return 1 if circles or wrong_way else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
