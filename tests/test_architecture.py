"""The shape the code promises (docs/architecture.md): layers without cycles, small pieces."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "stream"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node, except inside ``if TYPE_CHECKING:`` (names for type hints, never imported)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            continue
        yield node
        yield from _runtime_nodes(node)


def imports(path: Path) -> set[str]:
    """Every stream module a file imports when it runs, at the top or inside a function."""
    out = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stream"):
            for a in node.names:  # `from stream.x import y` may import module stream.x.y
                sub = f"{node.module}.{a.name}"
                out.add(sub if (LIB.parent / (sub.replace(".", "/") + ".py")).is_file() else node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("stream"))
    return out


def graph() -> dict[str, set[str]]:
    mods = {module_name(p): p for p in LIB.rglob("*.py")}
    return {m: {i for i in imports(p) if i in mods and i != m} for m, p in mods.items()}


def test_no_module_imports_one_that_imports_it_back():
    g = graph()
    back = sorted((a, b) for a, deps in g.items() for b in deps if a in g.get(b, set()) and a < b)
    assert not back, back


def test_the_library_has_no_import_cycles():
    g = {m: {d for d in deps if not d.endswith("__init__")} for m, deps in graph().items()}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> list[str] | None:
        state[m] = 1
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                return [*path, m, d]
            if d not in state and (cycle := visit(d, [*path, m])):
                return cycle
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state:
            cycle = visit(m, [])
            assert cycle is None, " -> ".join(cycle)


def test_no_function_in_the_library_is_over_60_lines():
    long = []
    for p in LIB.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > 60:
                    long.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, long


def test_the_front_door_and_the_commands_are_thin():
    assert len((ROOT / "launch.py").read_text().splitlines()) < 40
    big = [(p.name, n) for p in (LIB / "cli").glob("*.py")
           if (n := len(p.read_text().splitlines())) > 120]
    assert not big, big
    fat = [(p.name, n) for p in (ROOT / "workers").glob("*.py")
           if (n := len(p.read_text().splitlines())) > 10]
    assert not fat, fat


def test_the_launcher_does_not_load_torch():
    """The front door and the supervisor stay light: torch costs ~1 s to import and ~1 s to tear
    down, which every start and every Ctrl-C would pay (measured). Workers load the models."""
    import subprocess
    import sys

    # What a run's launcher touches: the commands, the app layer, the supervisor, the registry
    # and every source it checks before spawning the workers.
    code = ("import sys; from stream.cli import build_parser; import stream.app.pipeline, "
            "stream.app.replay, stream.app.sinks, stream.process.supervisor, stream.sources.audio, "
            "stream.sources.video, stream.sources.session, stream.session.importer; build_parser(); "
            "from stream.modalities.registry import modalities; modalities(); "
            "print(sorted(m for m in ('torch', 'transformers', 'torchaudio') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
