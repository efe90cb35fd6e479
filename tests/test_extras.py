"""ebmlab without its optional extras: the other families work, and a command that needs one says which."""

import subprocess
import sys

from ebmlab.errors import EXTRAS

# run in a fresh interpreter in which every module of the world extra fails to import, as if not installed
BLOCK = "import sys\nfor name in {names!r}: sys.modules[name] = None\n"


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK.format(names=sorted(EXTRAS)) + code], capture_output=True, text=True, timeout=300
    )


def test_every_module_outside_world_imports_without_the_world_extra():
    out = _python(
        "import importlib, pkgutil, ebmlab\n"
        "import ebmlab.cli\n"
        "bad = []\n"
        "for m in pkgutil.walk_packages(ebmlab.__path__, 'ebmlab.'):\n"
        "    if m.name.startswith('ebmlab.world') or m.name == 'ebmlab.__main__': continue\n"
        "    try: importlib.import_module(m.name)\n"
        "    except ImportError as e: bad.append(f'{m.name}: {e}')\n"
        "print(bad)\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_command_of_a_missing_extra_says_which_to_install():
    for argv in (["world", "train", "--env", "Pendulum-v1"], ["world", "--help"], ["demo", "--quick"]):
        out = _python(f"import sys\nsys.argv = ['ebmlab', *{argv!r}]\nfrom ebmlab.cli import main\nmain()\n")
        assert out.returncode == 2, (argv, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "pip install 'ebmlab[world]'" in lines[0], (argv, out.stderr)
    out = _python("import sys\nsys.argv = ['ebmlab', '--help']\nfrom ebmlab.cli import main\nmain()\n")
    assert out.returncode == 0 and "sparse" in out.stdout and "world" in out.stdout
