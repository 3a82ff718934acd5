"""kb sits between the engine and conversations: it may use the engine, never conversations."""

import ast
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings


def _imports(path: Path) -> Iterator[str]:
    # Every import statement, also those inside functions: a hidden import is still a dependency.
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_kb_never_imports_conversations() -> None:
    root = Path(settings.BASE_DIR)
    found = [
        f"{path.relative_to(root)} imports {name}"
        for path in sorted((root / "kb").rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] == "conversations"
    ]
    assert found == []
