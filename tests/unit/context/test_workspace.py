"""Walking a workspace: what is indexed, what is pruned, in which order."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from copilot.context.privacy import IgnoreRules
from copilot.context.workspace import generated_file, read_source, skipped_dir, walk_workspace

MAX_BYTES = 1000

# Relative path -> content; bytes for binary files.
TREE: dict[str, str | bytes] = {
    "main.py": "print('hi')\n",
    "README.md": "# not source\n",
    "src/app.ts": "export {}\n",
    "src/a-b.go": "package a\n",
    "src/a/b.go": "package a\n",
    "src/Zed.java": "class Zed {}\n",
    "src/blob.py": b"\x00\x01\x02binary",
    "src/big.py": "x = 1\n" * 200,  # over MAX_BYTES
    "src/app.min.js": "minified()\n",
    "src/api_pb2.py": "generated = 1\n",
    "src/types.generated.ts": "export {}\n",
    "src/secrets.py": "KEY = 1\n",  # a source file, not a secrets file (secrets.json would be)
    "src/secrets.json": "{}\n",
    "node_modules/lib/index.js": "module.exports = 1\n",
    "vendor/dep.go": "package dep\n",
    "build/out.py": "x = 1\n",
    "pkg.egg-info/x.py": "x = 1\n",
    "myenv/pyvenv.cfg": "home = /usr\n",
    "myenv/lib/site.py": "x = 1\n",
    ".git/hooks/pre-commit.py": "x = 1\n",
    ".gitignore": "ignored_dir/\n*.gen.py\n",
    "ignored_dir/a.py": "x = 1\n",
    "ignored_dir/deep/b.py": "x = 1\n",
    "lib/c.gen.py": "x = 1\n",
    "lib/util.rs": "fn f() {}\n",
    "lib/.gitignore": "local.rs\n",
    "lib/local.rs": "fn g() {}\n",
}

EXPECTED = ["lib/util.rs", "main.py", "src/Zed.java", "src/a/b.go", "src/a-b.go", "src/app.ts", "src/secrets.py"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    for name, content in TREE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    (root / "linked").symlink_to(root / "src", target_is_directory=True)  # not followed
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "alias.py").symlink_to(root / "main.py")
    return root


def walk(root: Path, max_files: int = 20_000) -> list[str]:
    rules = IgnoreRules.for_root(root)
    return [path.relative_to(root).as_posix() for path in walk_workspace(root, rules, MAX_BYTES, max_files)]


def test_walk_yields_only_source_worth_indexing(root: Path) -> None:
    assert walk(root) == EXPECTED


def test_walk_order_is_sorted_and_stable(root: Path) -> None:
    first = walk(root)
    assert first == walk(root)
    assert first == sorted(first, key=lambda path: path.split("/"))


def test_walk_prunes_ignored_and_skipped_directories(root: Path) -> None:
    asked: list[str] = []

    class Spy(IgnoreRules):
        def ignored(self, path: Path, is_dir: bool | None = None) -> str | None:
            asked.append(path.relative_to(root).as_posix())
            return super().ignored(path, is_dir)

    list(walk_workspace(root, Spy(root), MAX_BYTES))
    assert "ignored_dir" in asked
    for pruned in ("ignored_dir/", "node_modules", "vendor", "build", "pkg.egg-info", "myenv", ".git", "linked"):
        assert not [path for path in asked if path.startswith(pruned) and path != "ignored_dir"], pruned


@pytest.mark.parametrize("max_files", [1, 2, 5])
def test_walk_stops_after_max_files(root: Path, max_files: int) -> None:
    assert walk(root, max_files=max_files) == EXPECTED[:max_files]


def test_walk_polls_should_stop(root: Path) -> None:
    rules = IgnoreRules.for_root(root)
    stop = threading.Event()
    seen = []
    for path in walk_workspace(root, rules, MAX_BYTES, should_stop=stop.is_set):
        seen.append(path)
        stop.set()
    assert len(seen) == 1


def test_walk_respects_max_file_bytes(root: Path) -> None:
    rules = IgnoreRules.for_root(root)
    found = [path.name for path in walk_workspace(root, rules, max_file_bytes=10_000)]
    assert "big.py" in found
    assert "blob.py" not in found


def test_walk_of_missing_root_is_empty(tmp_path: Path) -> None:
    assert list(walk_workspace(tmp_path / "missing", IgnoreRules.for_root(tmp_path / "missing"))) == []


@pytest.mark.parametrize(
    ("name", "skipped"),
    [
        ("node_modules", True),
        ("__pycache__", True),
        ("target", True),
        ("foo.egg-info", True),
        (".idea", True),
        ("src", False),
        ("environment", False),
    ],
)
def test_skipped_dir(tmp_path: Path, name: str, skipped: bool) -> None:
    assert skipped_dir(name, str(tmp_path / name)) is skipped


@pytest.mark.parametrize(
    ("name", "generated"),
    [
        ("app.min.js", True),
        ("style.min.css", True),
        ("main.bundle.js", True),
        ("app.js.map", True),
        ("api_pb2.py", True),
        ("api.pb.go", True),
        ("schema.generated.ts", True),
        ("package-lock.json", True),
        ("Cargo.lock", True),
        ("main.js", False),
        ("pb2.py", False),
        ("generated.py", False),
    ],
)
def test_generated_file(name: str, generated: bool) -> None:
    assert generated_file(name) is generated


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("héllo = 1\n".encode(), "héllo = 1\n"),
        (b"", ""),
        (b"x = 1\x00\n", None),  # binary
        (b"caf\xe9 = 1\n", None),  # not UTF-8
        (b"x" * (MAX_BYTES + 1), None),  # too large
        (b"x" * MAX_BYTES, "x" * MAX_BYTES),
    ],
)
def test_read_source(tmp_path: Path, content: bytes, expected: str | None) -> None:
    path = tmp_path / "file.py"
    path.write_bytes(content)
    assert read_source(path, MAX_BYTES) == expected


def test_read_source_of_missing_file(tmp_path: Path) -> None:
    assert read_source(tmp_path / "missing.py", MAX_BYTES) is None
