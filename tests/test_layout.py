"""The package's floors: physics → networks → methods → api → widgets / CLI / batch / training / bench.

Read from the source with ``ast`` (every ``import``, also inside functions): no import circle, no arrow back up, and the
light entry points (``import napari_deepblur``, the registries, ``--help``) stay free of torch.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "napari_deepblur"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    first = ".".join(base + ([node.module] if node.module else []))
                else:
                    first = node.module or ""
                targets = [first] + [f"{first}.{a.name}" for a in node.names]
            for t in targets:
                while t and t not in modules and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in modules and t != mod and not mod.startswith(t + "."):
                    graph[mod].add(t)
    return graph


def _floor(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_circles():
    graph = _import_graph()
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, cycles


UPPER = {"api", "_widgets", "cli", "batch", "training", "bench"}


@pytest.mark.parametrize(
    ("floor", "forbidden"),
    [
        ("physics", UPPER | {"networks", "methods"}),
        ("networks", UPPER | {"methods"}),
        ("methods", UPPER),
        ("api", {"_widgets", "cli", "batch", "training", "bench"}),
        ("training", {"bench", "batch", "_widgets", "cli"}),
        ("bench", {"training", "batch", "cli"}),
        # the docks sit on the API: not on the batch runner or the CLI (the Calibrate dock still trains through
        # training/ and reads the methods' registry: issue 34)
        ("_widgets", {"batch", "cli", "bench"}),
    ],
)
def test_no_arrow_runs_back_up(floor, forbidden):
    back = sorted(
        f"{m} -> {t}" for m, ts in _import_graph().items() if _floor(m) == floor for t in ts if _floor(t) in forbidden
    )
    assert not back, back


@pytest.mark.parametrize(
    "code",
    [
        "import napari_deepblur",
        "import napari_deepblur.physics as p; assert p.available_families()[0] == 'zernike'",
        "from napari_deepblur.methods import METHODS; assert next(iter(METHODS)) == 'deepblur'",
        "from napari_deepblur.api.params import parse_noise, NOISE_FORMS",
        "from napari_deepblur.training.config import IdentifyConfig, DeblurConfig",
        "from napari_deepblur.bench.protocol import ROWS",
        "from napari_deepblur.cli import main\n"
        "helps = (['--help'], ['deblur', '--help'], ['train', 'identify', '--help'], ['bench', 'deblur', '--help'])\n"
        "for argv in helps:\n"
        "    assert main(argv) == 0, argv",
    ],
)
def test_light_entry_points_do_not_import_torch(code):
    check = f"{code}\nimport sys\nassert 'torch' not in sys.modules, 'torch was imported'\n"
    res = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]


def test_public_api_is_visible_to_tools():
    """``__init__.pyi`` names what ``napari_deepblur`` gives (static analysers read it); each name resolves."""
    import napari_deepblur

    stub = ast.parse((PKG / "__init__.pyi").read_text())
    named = {a.asname or a.name for n in ast.walk(stub) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {"identify", "deblur", "IdentifyResult", "DeblurResult", "METHODS", "DeblurInputError"} <= named
    for name in named:
        assert getattr(napari_deepblur, name) is not None
