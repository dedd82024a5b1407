"""The layers point one way (flows -> tasks -> storage -> omnimotion_core), no import cycle exists among the
project's modules, and the README's method list is the registry's."""

from __future__ import annotations

import ast
from pathlib import Path

from omnimotion_core.methods import format_methods

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"omnimotion_core": 0, "storage": 1, "tasks": 2, "flows": 3}
"""Package -> layer: a module may import its own layer and the layers below."""


def _module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module of the layer packages under ``root``."""
    return {_module_name(root, path): path
            for package in LAYERS if (root / package).is_dir() for path in sorted((root / package).rglob("*.py"))}


def _imports(root: Path, path: Path, modules: dict[str, Path], top_level_only: bool) -> set[str]:
    """The project modules ``path`` imports, with the packages they sit in (Python imports those first),
    leaving out ``if TYPE_CHECKING:`` blocks, and function bodies when ``top_level_only``."""
    name = _module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                base = ".".join(part for part in (base, node.module or "") if part)
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                continue
            elif top_level_only and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            else:
                visit([child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)])
                continue
            for target in targets:
                parts = target.split(".")
                for end in range(1, len(parts) + 1):
                    module = ".".join(parts[:end])
                    if module in modules and module != name and not name.startswith(f"{module}."):
                        found.add(module)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


def _upward_imports(root: Path) -> list[str]:
    modules = _modules(root)
    return sorted(f"{name} imports {target}" for name, path in modules.items()
                  for target in _imports(root, path, modules, top_level_only=False)
                  if LAYERS[target.split(".")[0]] > LAYERS[name.split(".")[0]])


def _import_cycles(root: Path) -> list[list[str]]:
    """Every cycle a depth-first walk of the module-level import graph closes."""
    modules = _modules(root)
    graph = {name: _imports(root, path, modules, top_level_only=True) for name, path in modules.items()}
    state: dict[str, str] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def walk(name: str) -> None:
        state[name] = "open"
        stack.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append([*stack[stack.index(target):], target])
            elif target not in state:
                walk(target)
        stack.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            walk(name)
    return cycles


def test_no_module_imports_from_a_layer_above_it() -> None:
    assert _upward_imports(ROOT) == []


def test_no_import_cycle_among_project_modules() -> None:
    assert _import_cycles(ROOT) == []


def test_the_checks_find_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    (tmp_path / "storage").mkdir()
    (tmp_path / "flows").mkdir()
    for package in ("storage", "flows"):
        (tmp_path / package / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "flows" / "cli.py").write_text("", encoding="utf-8")
    (tmp_path / "storage" / "a.py").write_text("from storage.b import thing\n", encoding="utf-8")
    (tmp_path / "storage" / "b.py").write_text("from . import a\n\n\ndef f():\n    from flows import cli\n",
                                               encoding="utf-8")
    assert _import_cycles(tmp_path) == [["storage.a", "storage.b", "storage.a"]]
    assert _upward_imports(tmp_path) == ["storage.b imports flows", "storage.b imports flows.cli"]


def test_readme_lists_every_builtin_method_as_the_registry_describes_it() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- methods: generated by `omnimotion methods` -->\n", "\n<!-- end of methods -->"
    assert start in readme and end in readme
    assert readme[readme.index(start) + len(start): readme.index(end)] == format_methods()
