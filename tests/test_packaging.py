"""What a napari-hub / PyPI user gets: the wheel's contents, its metadata, and a description that renders there.

``python tests/test_packaging.py`` rewrites ``resources/pypi.md`` (the README without its screenshots and relative
links, which PyPI cannot show) after a README change.
"""

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPI = ROOT / "resources" / "pypi.md"


def pypi_description(readme: str) -> str:
    """The README without image lines, relative links reduced to their text."""
    text = "\n".join(line for line in readme.splitlines() if not line.lstrip().startswith("!["))
    text = re.sub(r"\[([^\]]+)\]\((?!https?://)[^)]+\)", r"\1", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def test_pypi_description_is_the_readme_without_what_pypi_cannot_show():
    expected = pypi_description((ROOT / "README.md").read_text())
    assert PYPI.read_text() == expected, "resources/pypi.md is stale: run `python tests/test_packaging.py`"
    assert "![" not in expected and not re.search(r"\]\((?!https?://)", expected)


def test_readme_is_a_short_users_guide():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    commands = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    assert commands[0].strip().endswith("napari-deepblur view") and commands[1].strip() == ".ci/run"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {res.stderr[-500:]}")
    return next(out.glob("*.whl"))


def test_wheel_carries_code_manifest_weights_and_model_cards_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    data = [n for n in names if not n.endswith(".py") and ".dist-info/" not in n]
    allowed = re.compile(r"napari_deepblur/(napari\.yaml|.*\.pyi|resources/[\w-]+\.(pt|md))$")
    assert data and all(allowed.match(n) for n in data), [n for n in data if not allowed.match(n)]
    assert {"napari_deepblur/resources/deblur.pt", "napari_deepblur/resources/deblur.md"} <= set(names)
    assert not any(n.endswith(".png") for n in names)


def test_wheel_metadata(wheel):
    name = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    meta = zipfile.ZipFile(wheel).read(name).decode()
    assert "Requires-Python: >=3.11" in meta and "Programming Language :: Python :: 3.11" in meta
    assert re.search(r"^License-Expression: BSD-3-Clause$", meta, flags=re.M)
    assert "Project-URL:" in meta
    torch_req = next(line for line in meta.splitlines() if line.startswith("Requires-Dist: torch"))
    assert ">=" in torch_req and "<" not in torch_req  # a lower bound, no cap on the user's torch
    assert "](resources/" not in meta


if __name__ == "__main__":
    PYPI.write_text(pypi_description((ROOT / "README.md").read_text()))
    print(f"wrote {PYPI}")
