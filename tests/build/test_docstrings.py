"""Every public function, method and class of the core (``layers/core/seedream``) says what it does: shapes, units,
errors and, where a provider fact is involved, its source (counted with ``ast``; names with a leading ``_`` are
private)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "layers" / "core" / "seedream"


def undocumented(tree: ast.AST, where: str) -> list[str]:
    """``where:line name`` of each public def or class in ``tree`` (nested in public classes too) without a docstring."""
    found = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            if ast.get_docstring(node) is None:
                found.append(f"{where}:{node.lineno} {node.name}")
            if isinstance(node, ast.ClassDef):
                found += undocumented(node, where)
    return found


def test_the_counter_finds_a_public_def_without_a_docstring_and_passes_private_ones():
    tree = ast.parse('class A:\n    """A."""\n    def f(self):\n        pass\n    def _g(self):\n        pass\n'
                     'def _h():\n    pass\n')
    assert undocumented(tree, "x.py") == ["x.py:3 f"]


def test_every_public_function_and_class_of_the_core_has_a_docstring():
    missing = [line for path in sorted(CORE.rglob("*.py"))
               for line in undocumented(ast.parse(path.read_text()), str(path.relative_to(CORE)))]
    assert missing == []
