"""Repository contract: the core never imports napari or Qt, and the code passes ruff."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_core_imports_without_napari_or_qt():
    code = (
        "import sys\n"
        "import napari_deepblur, napari_deepblur.physics, napari_deepblur.synthetic, napari_deepblur.display\n"
        "import napari_deepblur._sample_data, napari_deepblur.cli, napari_deepblur.bench.operators\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2',"
        " 'PySide6', 'magicgui', 'vispy', 'deepinv'})\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_cli_help_is_fast_and_works():
    res = subprocess.run([sys.executable, "-m", "napari_deepblur", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "bench" in res.stdout


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff not installed")
    res = subprocess.run([ruff, "check", "src", "tests"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout
