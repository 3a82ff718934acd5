"""Dependencies point one way: conversations -> kb -> engine. A function-level import is an import too."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Each app, and the apps it must never import (directly, lazily inside a function, or under TYPE_CHECKING).
FORBIDDEN = {"engine": ("kb", "conversations"), "kb": ("conversations",)}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, wherever the import statement stands, with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend([(node.lineno, node.module)])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
            "import_module",
            "import_string",
            "__import__",
        ):
            found.extend((node.lineno, arg.value) for arg in node.args if isinstance(arg, ast.Constant))
    return found


def offending_imports(app: str) -> list[str]:
    forbidden = FORBIDDEN[app]
    problems = []
    for path in sorted((ROOT / app).rglob("*.py")):
        for line, module in imported_modules(path):
            if isinstance(module, str) and module.split(".")[0] in forbidden:
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return problems


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_app_never_imports_the_layers_above_it(app):
    assert offending_imports(app) == []


def test_the_check_sees_imports_hidden_inside_functions(tmp_path):
    hidden = tmp_path / "hidden.py"
    hidden.write_text(
        "def later():\n    from conversations.services import answers\n    import kb.selectors\n"
        "    return importlib.import_module('conversations.models')\n",
        encoding="utf-8",
    )
    assert [module for _, module in imported_modules(hidden)] == [
        "conversations.services",
        "kb.selectors",
        "conversations.models",
    ]
