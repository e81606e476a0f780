"""The architecture: which package may import which, and where commands live (README, "Layout")."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"motion", "preprocessing", "training", "playback", "evaluation", "cli"}
ALLOWED = {
    "motion": {"motion"},
    "preprocessing": {"motion", "preprocessing"},
    "training": {"motion", "training"},
    "playback": {"motion", "playback"},
    "evaluation": {"motion", "preprocessing", "training", "playback", "evaluation"},
    "cli": OURS,
}


def imports(path: Path) -> set[str]:
    """Top-level packages a module imports, wherever in the module (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_the_layers_below_it(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        used = imports(path) & OURS
        assert used <= ALLOWED[package], f"{path.relative_to(ROOT)} imports {sorted(used - ALLOWED[package])}"
        if package != "cli":  # commands live in cli; the packages below it are the typed API
            assert "argparse" not in imports(path), f"{path.relative_to(ROOT)} parses arguments"


def test_every_package_says_what_it_holds():
    for package in sorted(OURS):
        docstring = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text()))
        assert docstring and len(docstring) > 40, package
