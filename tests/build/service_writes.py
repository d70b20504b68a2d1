"""Lint: no test writes to a built service or one of its parts (``make lint`` runs it on ``tests/``).

A test that needs another part, other settings or a failing method passes it to
``seedream.wiring.build_services(..., overrides=...)`` (or a function's ``*_services`` builder, or
``local.runtime.LocalFunction(..., overrides=...)``) instead of overwriting what was built.

The rule, on each module's syntax tree (``ast``):

- A **service expression** is an expression whose chain of attributes, subscripts and calls reaches
  ``svc`` (a name or an attribute: the functions' module global, the unit tests' fixture), or reaches a
  name the same function (or module) bound to a service expression or to the result of ``build_services``,
  a ``*_services`` builder or ``svc_with``. ``svc.replies.states``, ``module.svc.store`` and
  ``fetcher`` after ``fetcher = svc.fetcher`` are service expressions.
- A **write** is any of: an assignment, augmented assignment, annotated assignment or ``del`` whose
  target is ``E.attr`` or ``E[key]`` with ``E`` a service expression; an assignment to an attribute
  named ``svc`` (``module.svc = ...``: replacing a function's built services); ``setattr(E, ...)`` and any
  ``X.setattr(E, ...)`` (``monkeypatch.setattr``, ``MonkeyPatch.context().setattr``) with ``E`` a service
  expression, or with the attribute name ``"svc"`` (``monkeypatch.setattr(module, "svc", ...)``), or with a
  dotted-path string naming ``svc``.

``python -m tests.build.service_writes [PATH ...]`` prints ``path:line: what`` for each write found
(default path: ``tests``) and exits 1 if there is any, 0 otherwise.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

SERVICE = "svc"
BUILDERS = ("build_services", "svc_with")
"""Calls whose result is a built service (besides any ``*_services`` function)."""


def _root(node: ast.expr) -> Iterator[ast.expr]:
    """``node`` and every expression its attribute/subscript/call chain passes through, outermost first."""
    while True:
        yield node
        if isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        else:
            return


def _builds(node: ast.expr) -> bool:
    """``node`` calls a builder of services."""
    if not isinstance(node, ast.Call):
        return False
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    return name in BUILDERS or name.endswith("_services")


class _Scope:
    def __init__(self, parent: _Scope | None = None):
        self.parent, self.aliases = parent, set()

    def alias(self, name: str) -> bool:
        return name in self.aliases or (self.parent is not None and self.parent.alias(name))


class _Finder(ast.NodeVisitor):
    def __init__(self, path: str):
        self.path, self.scope, self.found = path, _Scope(), []

    def service(self, node: ast.expr) -> bool:
        """``node`` is a service expression (module docstring)."""
        for part in _root(node):
            if _builds(part):
                return True
            if isinstance(part, ast.Attribute) and part.attr == SERVICE:
                return True
            if isinstance(part, ast.Name) and (part.id == SERVICE or self.scope.alias(part.id)):
                return True
        return False

    def report(self, node: ast.AST, what: str) -> None:
        self.found.append((self.path, node.lineno, what))

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer, self.scope = self.scope, _Scope(self.scope)
        self.generic_visit(node)
        self.scope = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def _target(self, target: ast.expr, node: ast.AST) -> None:
        if isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._target(element, node)
        elif isinstance(target, ast.Starred):
            self._target(target.value, node)
        elif isinstance(target, ast.Attribute | ast.Subscript) and (
                getattr(target, "attr", None) == SERVICE or self.service(target.value)):
            self.report(node, f"{ast.unparse(target)} = ...")

    def _bind(self, targets: list[ast.expr], value: ast.expr | None) -> None:
        if value is not None and (self.service(value) or _builds(value)):
            self.scope.aliases.update(t.id for t in targets if isinstance(t, ast.Name))

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target, node)
        self._bind(node.targets, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target, node)
        self._bind([node.target], node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._target(target, node)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._bind([node.target], node.value)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        named = getattr(func, "id", None) if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if named == "setattr" and node.args:
            first, second = node.args[0], node.args[1] if len(node.args) > 1 else None
            dotted = isinstance(first, ast.Constant) and isinstance(first.value, str) \
                and SERVICE in first.value.split(".")
            by_name = isinstance(second, ast.Constant) and second.value == SERVICE
            if dotted or by_name or self.service(first):
                self.report(node, ast.unparse(node)[:100])
        self.generic_visit(node)


def writes(source: str, path: str = "<test>") -> list[tuple[str, int, str]]:
    """``(path, line, what)`` of every write to a built service in ``source`` (module docstring)."""
    finder = _Finder(path)
    finder.visit(ast.parse(source, path))
    return finder.found


def main(argv: list[str]) -> int:
    roots = [Path(p) for p in argv] or [Path("tests")]
    files = sorted(f for root in roots for f in ([root] if root.is_file() else root.rglob("*.py")))
    found = [hit for f in files for hit in writes(f.read_text(), str(f))]
    for path, line, what in found:
        print(f"{path}:{line}: writes to a built service: {what}")
    if found:
        print(f"{len(found)} write(s) to built services; pass replacements to build_services(..., overrides=...)",
              file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
