"""The apps build on each other in one direction: registry (the foundation) imports neither consent
nor rights, consent does not import rights. A module-level or a lazy import both count."""
import ast
from pathlib import Path

import pytest
from django.conf import settings

FORBIDDEN = {"registry": ("consent", "rights"), "consent": ("rights",)}


def imported_apps(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_an_app_never_imports_the_apps_built_on_it(app):
    folder = Path(settings.BASE_DIR) / app
    offending = {str(path.relative_to(folder)): sorted(imported_apps(path) & set(FORBIDDEN[app]))
                 for path in folder.rglob("*.py") if imported_apps(path) & set(FORBIDDEN[app])}
    assert not offending
