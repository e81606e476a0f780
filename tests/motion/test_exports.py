"""What a user imports: `motion` and `motion.models` export the library's names, and `import motion`
loads them on first use only (so `motion --help` starts without torch)."""

import subprocess
import sys

import motion
import motion.models


def test_motion_exports_each_name_from_its_module():
    assert set(motion.__all__) == {"__version__", *motion._EXPORTS}
    for name in motion._EXPORTS:
        value = getattr(motion, name)
        assert value.__module__.startswith("motion."), name
    assert motion.read_clips is __import__("motion.formats", fromlist=["read_clips"]).read_clips


def test_motion_models_exports_the_models_and_loading():
    assert {"DRMM", "HGVAE", "MDN", "Condition", "load_model"} <= set(motion.models.__all__)
    for kind, model in motion.models.KINDS.items():
        assert getattr(motion.models, model.__name__) is model and model.__module__ == f"motion.models.{kind}"


def test_importing_motion_and_the_command_does_no_heavy_work():
    probe = "import sys, motion, cli.main; print(sorted({'torch', 'numpy', 'pandas'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
