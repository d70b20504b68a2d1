"""The package maps stay current: every module of the core and every use case has its line in its package's docstring."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import seedream
import seedream.usecases


@pytest.mark.parametrize("package, pattern", [(seedream, r"^  (\w+/?)"), (seedream.usecases, r"``(\w+)``")])
def test_every_module_has_a_line_in_its_package_map(package, pattern):
    folder = Path(package.__file__).parent
    modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    modules |= {f"{p.name}/" for p in folder.iterdir() if (p / "__init__.py").exists()}
    named = set(re.findall(pattern, package.__doc__, flags=re.MULTILINE))
    assert modules <= named, f"not in {package.__name__}'s map: {sorted(modules - named)}"
