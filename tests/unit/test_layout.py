"""The tree shows the architecture: the core (``copilot/``) never imports the language server
(``lsp/``, installed as ``copilot.lsp``) or the model tooling (``models/``, installed as
``copilot.models``); both import the core. Modules stay small enough to read in one sitting."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "copilot"
OUTSIDE_THE_CORE = ("copilot.lsp", "copilot.models")
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_modules() -> list[str]:
    return [module_name(path) for path in sorted(CORE.rglob("*.py"))]


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """Every module ``path`` imports, relative imports resolved, with its line (function-level ones too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, *([base] if base else [])])
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
            found.append((node.lineno, base))
    return found


def test_no_module_of_the_core_imports_the_server_or_the_model_tooling() -> None:
    offending = [
        f"{path.relative_to(CORE.parent)}:{line}: {name}"
        for path in CORE.rglob("*.py")
        for line, name in imported_modules(path, module_name(path))
        if name.startswith(OUTSIDE_THE_CORE)
    ]
    assert offending == []


def test_the_whole_core_imports_with_the_server_and_the_tooling_unimportable() -> None:
    """Also finds imports made by name at run time (importlib), which the source scan cannot see."""
    script = textwrap.dedent(
        f"""
        import importlib, importlib.abc, sys

        class RefuseToRun(importlib.abc.Loader):
            def create_module(self, spec):
                return None

            def exec_module(self, module):
                raise ImportError(f"the core imported {{module.__name__}}")

        # Finds the server and the tooling as usual (their files may be located: the default
        # model is a data file of the tooling), but refuses to run them.
        class Refuse(importlib.abc.MetaPathFinder):

            def find_spec(self, name, path=None, target=None):
                if not name.startswith({OUTSIDE_THE_CORE!r}):
                    return None
                for finder in sys.meta_path:
                    spec = None if finder is self else finder.find_spec(name, path, target)
                    if spec is not None:
                        spec.loader = RefuseToRun()
                        return spec
                return None

        sys.meta_path.insert(0, Refuse())
        for name in {core_modules()!r}:
            importlib.import_module(name)
        from copilot import paths
        assert paths.default_model().is_file(), paths.default_model()
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_modules_stay_small() -> None:
    sizes = {module_name(path): len(path.read_text().splitlines()) for path in CORE.rglob("*.py")}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}


def test_the_top_of_the_core_holds_only_what_every_stage_uses() -> None:
    top_level = [path.stem for path in CORE.glob("*.py") if path.stem != "__init__"]
    assert len(top_level) <= 12, sorted(top_level)


def test_every_package_folder_is_installed() -> None:
    """pyproject lists its packages one by one (the folders map to ``copilot.*`` names): a folder
    left out works in the editable install of the tests and is missing from a built wheel."""
    import tomllib

    root = CORE.parent
    setup = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: root / folder for name, folder in setup["package-dir"].items()}
    found = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            if "__pycache__" not in relative:
                found.add(".".join([name, *relative]))
    assert sorted(found - set(setup["packages"])) == []
