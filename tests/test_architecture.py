"""The layout, measured from the code's own imports (DESIGN: every import points down).

Walks `app/` with `ast`: every `import`/`from ... import` (at module level or inside a
function, `TYPE_CHECKING` blocks included) is an edge between two files. The test fails on
an edge that runs up the layers, on a cycle between files, and on SQL outside a repository.

Run it as a script (`python tests/test_architecture.py [app-dir]`) to print the findings.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"

# Longest matching prefix wins. Lower numbers are lower layers; an import may point at its
# own layer or below, never above.
LAYERS: dict[str, int] = {
    "app.core": 0,
    "app.integrations": 1,
    # The composition root: builds the pool, Redis and every vendor client once.
    "app.core.resources": 2,
    # The records everyone reads: the conversation and its messages, doctors, shifts,
    # memories, manager notices, media.
    "app.domain.conversations": 3,
    "app.domain.doctors": 3,
    "app.domain.shifts": 3,
    "app.domain.memory": 3,
    "app.domain.notices": 3,
    "app.domain.media": 3,
    # Julia's voice: pt-BR money and pay, and the checks every text to a doctor passes.
    "app.domain.voice": 3,
    # The weekly manager briefing from Drive: directives the agent reads.
    "app.domain.briefings": 3,
    # The one outbound gateway and what it decides with (status, chips, limiter, pacing).
    "app.domain.outbound": 4,
    "app.domain.outreach": 5,
    # The reservation loop: the team confirms or releases, the doctor hears it.
    "app.domain.reservations": 5,
    "app.domain.handoff": 6,
    "app.domain.privacy": 6,
    "app.domain.inbox": 7,
    "app.domain.agent": 8,
    "app.domain.operations": 9,
    "app.domain.dashboard": 10,
    "app.domain.imports": 10,
    "app.domain.demo": 10,
    "app.api": 11,
    "app.workers": 11,
    "app.cli": 12,
    "app.main": 12,
    "app.__main__": 13,
}
# Same layer, still never each other: routes do not run jobs, jobs do not call routes.
SEPARATE = [("app.api", "app.workers")]
# SQL lives in repositories; the migrations runner is the one exception.
SQL_ALLOWED = {"app.core.migrations"}
_SQL = re.compile(
    r"^\s*(?:SELECT|INSERT\s+INTO|UPDATE\s+\w+|DELETE\s+FROM|WITH\s+\w+\s+AS|"
    r"CREATE\s|ALTER\s|DROP\s|LOCK\s|LISTEN\s|NOTIFY\s)",
    re.IGNORECASE,
)
_QUERY_METHODS = {"execute", "executemany", "fetch", "fetchrow", "fetchval", "cursor"}


@dataclass(frozen=True)
class Finding:
    kind: str  # "up", "separate", "cycle", "sql"
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.where}: {self.detail}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _resolve(target: str, known: dict[str, Path]) -> str | None:
    """The file an imported name lives in: the longest known module prefix."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def imports(root: Path) -> dict[str, set[str]]:
    """File-level import graph of `root` (a package directory), edges between its modules."""
    known = modules(root)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
                    for _ in range(node.level - 1):
                        package = package.rsplit(".", 1)[0]
                    base = f"{package}.{base}" if base else package
                # `from app.domain.x import repository` names a module, not an attribute.
                targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
            for target in targets:
                resolved = _resolve(target, known)
                if resolved is not None and resolved != name:
                    graph[name].add(resolved)
    return graph


def layer(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for prefix, rank in LAYERS.items():
        if (module == prefix or module.startswith(prefix + ".")) and (
            best is None or len(prefix) > best[0]
        ):
            best = (len(prefix), rank)
    return None if best is None else best[1]


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layering(graph: dict[str, set[str]]) -> Iterator[Finding]:
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            src, dst = layer(source), layer(target)
            if src is None or dst is None:
                unplaced = source if src is None else target
                yield Finding("up", source, f"{unplaced} has no layer in LAYERS")
            elif dst > src:
                yield Finding("up", source, f"imports {target} (layer {dst} > {src})")
            for a, b in SEPARATE:
                if (_under(source, a) and _under(target, b)) or (
                    _under(source, b) and _under(target, a)
                ):
                    yield Finding("separate", source, f"imports {target}")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one file (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "x"
            for v in node.values
        )
    return None


def is_repository(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last == "repository" or last.endswith("_repository")


def sql_statements(path: Path) -> Iterator[int]:
    """Line numbers of SQL in a file: strings that read as SQL, and text given to a query call
    (each statement once)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    statements: dict[int, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _QUERY_METHODS and node.args and _text(node.args[0]):
                statements[id(node.args[0])] = node.args[0].lineno
        elif isinstance(node, ast.Constant | ast.JoinedStr):
            text = _text(node)
            if text and _SQL.match(text) and _looks_like_statement(text):
                statements[id(node)] = node.lineno
    yield from sorted(statements.values())


def _looks_like_statement(text: str) -> bool:
    """'Select a shift' is prose; SQL has a clause after its verb."""
    return bool(re.search(r"\b(?:FROM|INTO|SET|VALUES|WHERE|RETURNING|AS|TABLE|\$1)\b", text))


def sql_outside_repositories(root: Path) -> Iterator[Finding]:
    for name, path in modules(root).items():
        if is_repository(name) or name in SQL_ALLOWED:
            continue
        for line in sql_statements(path):
            yield Finding(
                "sql", f"{path.relative_to(root.parent)}:{line}", "SQL outside a repository"
            )


def findings(root: Path = APP) -> list[Finding]:
    graph = imports(root)
    result = list(layering(graph))
    result += [Finding("cycle", " -> ".join(c), "import cycle") for c in cycles(graph)]
    result += list(sql_outside_repositories(root))
    return result


# The tests ---------------------------------------------------------------------------------


def test_every_import_points_down() -> None:
    bad = [str(f) for f in layering(imports(APP))]
    assert bad == [], "\n".join(bad)


def test_no_import_cycles_between_files() -> None:
    assert cycles(imports(APP)) == []


def test_domain_never_imports_the_edges() -> None:
    graph = imports(APP)
    bad = [
        f"{source} -> {target}"
        for source, targets in graph.items()
        if _under(source, "app.domain")
        for target in targets
        if _under(target, "app.api") or _under(target, "app.workers") or _under(target, "app.cli")
    ]
    assert bad == []


def test_sql_lives_in_repositories() -> None:
    bad = [str(f) for f in sql_outside_repositories(APP)]
    assert bad == [], "\n".join(bad)


def test_every_module_has_a_layer() -> None:
    packages = {"app", "app.domain"}  # bare __init__ files
    assert [m for m in modules(APP) if layer(m) is None and m not in packages] == []


def test_the_checker_sees_what_it_must(tmp_path: Path) -> None:
    """The rules on a tiny tree: an upward import, a cycle, SQL in a service."""
    pkg = tmp_path / "app"
    for folder in ("core", "domain/outbound", "domain/conversations", "api"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "core/db.py").write_text("from app.api import routes\n")
    (pkg / "api/routes.py").write_text("from app.core import db\n")
    (pkg / "domain/conversations/repository.py").write_text(
        "async def get(conn, i):\n"
        '    return await conn.fetchrow("SELECT * FROM t WHERE id = $1", i)\n'
    )
    (pkg / "domain/outbound/gateway.py").write_text(
        "from app.domain.conversations import repository\n"
        "async def go(conn):\n"
        '    await conn.execute("UPDATE doctors SET x = 1 WHERE id = $1", 1)\n'
    )
    found = findings(pkg)
    kinds = sorted(f.kind for f in found)
    assert kinds == ["cycle", "sql", "up"], found
    assert any(f.where == "app.core.db" and "app.api.routes" in f.detail for f in found)
    assert any("gateway.py:3" in f.where for f in found)


if __name__ == "__main__":
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else APP
    results = findings(root)
    for finding in results:
        print(finding)
    counts: dict[str, int] = {}
    for finding in results:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    print(counts or "clean")
    sys.exit(1 if results else 0)
