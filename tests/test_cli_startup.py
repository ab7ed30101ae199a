"""Commands start quietly: TensorFlow's harmless start-up lines are filtered, real errors kept."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deepdeconv.cli.common import _stderr_filtered

ROOT = Path(__file__).resolve().parents[1]
NOISE = ("E0000", "I0000", "cuInit", "oneDNN", "absl::InitializeLog")


def test_the_filter_drops_known_start_up_lines_and_keeps_everything_else(capfd):
    with _stderr_filtered():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                    b"I0000 00:00:1796011134.716562    6340 port.cc:153] oneDNN custom operations are on.\n"
                    b"E0000 00:00:1796011957.626928   19903 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n"
                    b"E0000 00:00:1796011957.626928   19903 other.cc:12] a real error\n"
                    b"plain text\n")
    assert capfd.readouterr().err == "E0000 00:00:1796011957.626928   19903 other.cc:12] a real error\nplain text\n"


@pytest.mark.slow
@pytest.mark.parametrize("args", [["--help"], ["--dry-run", "--data", "digits", "--steps", "1"]])
def test_train_py_prints_no_tensorflow_start_up_noise(tmp_path, args):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), *args, "--outdir", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not [line for line in done.stderr.splitlines() if any(n in line for n in NOISE)], done.stderr


def test_every_command_parses_its_arguments_without_importing_tensorflow():
    """--help and argument errors answer at once: TensorFlow is imported only once there is work."""
    code = ("import sys\n"
            "from deepdeconv.cli import evaluate, export, restore, sample, train\n"
            "for cli in (evaluate, export, restore, sample, train):\n"
            "    cli.build_parser().format_help()\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
