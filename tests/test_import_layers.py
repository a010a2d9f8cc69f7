"""Imports run one way: down the floors of docs/architecture.md, never up and never in a cycle (both checked).

Floor 1 (shared vocabulary) ← floor 2 (the library: models, losses, metrics, data, pictures; no Hydra) ←
floor 3 (``segfw.engine``: running a model; no Hydra) ← floor 4 (``segfw.apis``, ``segfw.analysis``, the
tool helpers). Each floor-2 package stands alone (it imports floor 1 and itself only; a segmentor also
uses ``segfw.losses``), and inside
``segfw.models`` and ``segfw.data`` the sub-packages are ordered too (a backbone never imports a neck,
a transform never imports a dataset). Every ``import`` statement counts, also one inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "segfw"

# Longest matching prefix wins: (floor, sub-floor). A module may import a module of a lower floor, or of the
# same floor and the same top package with a sub-floor no higher than its own.
FLOORS = {
    "segfw.errors": (1, 0),
    "segfw.constants": (1, 0),
    "segfw.autoimport": (1, 0),
    "segfw.registry": (1, 1),
    "segfw.atomic_write": (1, 1),
    "segfw.output_guard": (1, 1),
    "segfw.run_lock": (1, 1),
    "segfw": (2, 9),  # only the package's __init__ (exact match): the plain-module facade over floor 2
    "segfw.visualize": (2, 0),
    "segfw.metrics": (2, 0),
    "segfw.distance_metrics": (2, 0),
    "segfw.losses": (2, 0),
    "segfw.data.io": (2, 0),
    "segfw.data.loader": (2, 0),
    "segfw.data.transforms": (2, 0),
    "segfw.data.datasets": (2, 1),
    "segfw.data": (2, 2),
    "segfw.models.feature_spec": (2, 0),
    "segfw.models.layers": (2, 0),
    "segfw.models.dilated_conv": (2, 0),
    "segfw.models.layout_mean": (2, 0),
    "segfw.models.blocks": (2, 0),
    "segfw.models.attention": (2, 0),
    "segfw.models.input_channels": (2, 0),
    "segfw.models.param_groups": (2, 0),
    "segfw.models.state_dict": (2, 0),
    "segfw.models.drop_path": (2, 0),  # stochastic depth shared by transformer backbones
    "segfw.models.conversion": (2, 0),  # state-dict key renames of reference implementations
    "segfw.models.backbones": (2, 1),
    "segfw.models.necks": (2, 2),
    "segfw.models.heads": (2, 3),
    "segfw.models.heads.fcn": (2, 2),  # the plain FCN head, also the first stage of OCRNet's cascade (object_context)
    "segfw.models.inference": (2, 4),
    "segfw.models.segmentor": (2, 4),
    "segfw.models": (2, 5),
    "segfw.engine": (3, 0),
    "segfw.apis": (4, 0),
    "segfw.analysis": (4, 0),
    "segfw.config": (4, 0),
    "segfw.cli": (4, 0),
    "segfw.__main__": (4, 0),
}

# Floor-2 packages that may use another one: a segmentor computes its own losses (DESIGN.md §2).
FLOOR_2_USES = {("segfw.models", "segfw.losses")}

# Edges being removed by another change in flight, each with who removes it; empty otherwise.
PENDING: set[tuple[str, str]] = set()

NO_HYDRA_BELOW = 4  # floors 1-3 are usable without Hydra: only the tools' layer composes configs


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def place(name: str) -> tuple[str, tuple[int, int]]:
    """The FLOORS entry (prefix, floor) of module ``name``."""
    for prefix in sorted(FLOORS, key=len, reverse=True):
        if name == prefix or (prefix != "segfw" and name.startswith(prefix + ".")):
            return prefix, FLOORS[prefix]
    raise KeyError(name)


def top_package(name: str) -> str:
    return ".".join(name.split(".")[:2])


def is_module(name: str, package: Path) -> bool:
    path = package.parent / Path(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path, package_dir: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, also those inside functions."""
    name = module_name(path, package_dir)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from segfw.models import necks` imports segfw.models.necks: count the submodule when it is one
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if is_module(candidate, package_dir) else base))
    return found


def all_modules(package: Path = PACKAGE) -> list[Path]:
    return sorted(package.rglob("*.py"))


def upward_imports(package: Path = PACKAGE) -> list[str]:
    problems = []
    for path in all_modules(package):
        source = module_name(path, package)
        source_prefix, (floor, sub) = place(source)
        for line, target in imported_modules(path, package):
            where = f"{path.relative_to(package.parent)}:{line}"
            if target.split(".")[0] == "hydra" and floor < NO_HYDRA_BELOW:
                problems.append(f"{where}: {source} (floor {floor}) imports Hydra; only floor 4 composes configs")
            if not target.startswith("segfw") or (source, target) in PENDING:
                continue
            target_prefix, (target_floor, target_sub) = place(target)
            if target_floor > floor:
                problems.append(f"{where}: {source} (floor {floor}) imports {target} (floor {target_floor})")
            elif target_floor == floor == 2 and target_prefix != "segfw" and source_prefix != "segfw":
                if top_package(source) != top_package(target) and (
                        (top_package(source), top_package(target)) not in FLOOR_2_USES):
                    problems.append(f"{where}: {source} imports {target}; floor-2 packages stand alone")
                elif target_sub > sub:
                    problems.append(f"{where}: {source} imports {target}, which is above it inside "
                                    f"{top_package(source)}")
    return problems


def import_cycles(package: Path = PACKAGE) -> list[list[str]]:
    """Cycles among segfw's modules through module-level imports, those under ``if TYPE_CHECKING:`` included
    (imports inside functions run later and are left out)."""
    graph: dict[str, set[str]] = {}
    for path in all_modules(package):
        source = module_name(path, package)
        tree = ast.parse(path.read_text(), str(path))
        blocks = [n for n in tree.body if isinstance(n, ast.If)]
        top = [n for n in [*tree.body, *(m for b in blocks for m in b.body)] if isinstance(n, (ast.Import, ast.ImportFrom))]
        lines = {n.lineno for n in top}
        graph[source] = {t for line, t in imported_modules(path, package)
                         if line in lines and t.startswith("segfw") and t != source}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target] if target in stack else [node, target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


def test_every_module_has_a_floor():
    unplaced = []
    for path in all_modules():
        try:
            place(module_name(path))
        except KeyError:
            unplaced.append(module_name(path))
    assert not unplaced, f"give these modules a floor in FLOORS (and docs/architecture.md): {unplaced}"


def test_imports_only_go_down_or_sideways():
    problems = upward_imports()
    assert not problems, "imports running upward:\n" + "\n".join(problems)


def test_no_import_cycles():
    cycles = import_cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_catches_a_cycle(tmp_path):
    for module, text in (("segfw.a", "import segfw.b\n"), ("segfw.b", "from segfw import a\n"), ("segfw.__init__", "")):
        file = (tmp_path / Path(*module.split("."))).with_suffix(".py")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
    assert import_cycles(tmp_path / "segfw") == [["segfw.a", "segfw.b", "segfw.a"]]


@pytest.mark.parametrize("source, target", [
    ("segfw.data.datasets.base", "segfw.models.layers"),  # floor-2 packages stand alone
    ("segfw.models.backbones.resnet", "segfw.models.heads.fcn"),  # a backbone never imports a head
    ("segfw.engine.trainer", "segfw.apis.run"),  # engine below apis
    ("segfw.registry", "segfw.data.io"),  # the vocabulary imports nothing of the library
])
def test_the_rules_catch_an_upward_import(tmp_path, source, target):
    """The checker flags an upward import planted in a copy of the source (so the test above checks something)."""
    original = (PACKAGE.parent / Path(*source.split("."))).with_suffix(".py").read_text()
    for module, text in ((target, ""), (source, original + f"\nimport {target}\n")):
        file = (tmp_path / Path(*module.split("."))).with_suffix(".py")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
    problems = upward_imports(tmp_path / "segfw")
    assert [p for p in problems if f"imports {target}" in p], problems
