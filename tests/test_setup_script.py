"""scripts/setup.sh on a fresh Debian/Ubuntu machine, with apt and Python stubbed at the edge.

The real script runs in a copy of the repository's layout; `dpkg`, `apt-get`, `sudo` and
the Python interpreter are stubs on PATH that record what the script asked for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

PYTHON_STUB = """#!/bin/bash
if [ "$1" = -c ] && [ "$2" = "import ensurepip" ]; then exit "$ENSUREPIP_RC"; fi
if [ "$1" = -c ]; then echo python3.99-venv; exit 0; fi
if [ "$1" = -m ] && [ "$2" = venv ]; then
  [ -f "$STATE/venv-installed" ] || { echo "ensurepip is not available" >&2; exit 1; }
  mkdir -p "$3/bin" && printf '#!/bin/sh\\nexit 0\\n' > "$3/bin/python" && chmod +x "$3/bin/python"
fi
exit 0
"""


def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(body)
    path.chmod(0o755)


@pytest.mark.parametrize("ensurepip_rc", [1, 0], ids=["no-ensurepip", "ensurepip"])
def test_setup_installs_the_venv_package_only_when_python_lacks_it(
    tmp_path: Path, ensurepip_rc: int
) -> None:
    repo, bin_dir, state = tmp_path / "repo", tmp_path / "bin", tmp_path / "state"
    for folder in (repo / "scripts", bin_dir, state):
        folder.mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup.sh", repo / "scripts" / "setup.sh")
    shutil.copy(REPO / "pyproject.toml", repo / "pyproject.toml")
    if ensurepip_rc == 0:
        (state / "venv-installed").touch()
    stub(bin_dir, "python-stub", PYTHON_STUB)
    # dpkg: everything is installed but a python3.X-venv until apt-get installs it
    stub(
        bin_dir,
        "dpkg",
        '#!/bin/bash\n[ "$2" != python3.99-venv ] || [ -f "$STATE/venv-installed" ]\n',
    )
    stub(
        bin_dir,
        "apt-get",
        '#!/bin/bash\necho "$*" >> "$STATE/apt.log"\n'
        'case " $* " in *" python3.99-venv "*) touch "$STATE/venv-installed";; esac\n',
    )
    stub(bin_dir, "sudo", '#!/bin/bash\nexec "$@"\n')
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHON": "python-stub",
        "STATE": str(state),
        "ENSUREPIP_RC": str(ensurepip_rc),
    }
    result = subprocess.run(
        ["bash", str(repo / "scripts" / "setup.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (repo / ".venv" / "bin" / "python").exists()
    apt_log = (state / "apt.log").read_text() if (state / "apt.log").exists() else ""
    if ensurepip_rc:
        assert "install" in apt_log and "python3.99-venv" in apt_log, apt_log
    else:
        assert apt_log == ""
