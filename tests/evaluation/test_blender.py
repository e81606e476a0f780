"""Our BVH files in a real client: Blender's own importer reads the joints where we put them."""

import numpy as np
import pytest

from evaluation.blender import PYTHON_VARIABLE, blender_positions, blender_python
from motion.formats import read_clips
from motion.formats.bvh import read_bvh_file
from motion.retarget import write_clip_bvh
from motion.rig import preset_rig
from tests.conftest import BANDAI_SAMPLES

pytestmark = pytest.mark.skipif(
    blender_python() is None, reason=f"Blender's Python module is absent: pip install bpy, or set {PYTHON_VARIABLE}"
)


@pytest.mark.parametrize("target", ["own", "lafan1", "like"])
def test_blender_imports_our_bvh_with_every_joint_where_we_put_it(tmp_path, target):
    source = BANDAI_SAMPLES / "data" / "dataset-2_wave-right-hand_normal_005.bvh"
    clip = read_clips(source)[0]
    rig = {"own": None, "lafan1": preset_rig("lafan1"), "like": read_bvh_file(source.read_text(), "s", "s").rig}[target]
    animation = write_clip_bvh(clip, tmp_path / "out.bvh", rig)
    names, positions = blender_positions(tmp_path / "out.bvh")
    assert names == list(animation.rig.skeleton.joints) and positions.shape[0] == clip.frames
    expected = animation.world_positions()
    rms = np.sqrt(((positions - expected) ** 2).sum(-1).mean())
    assert rms < 0.001  # the issue asks for 1 cm; Blender agrees to a micrometre
    if target != "lafan1":  # on the clip's own skeleton Blender shows the clip itself
        index = [names.index(joint) for joint in clip.skeleton.joints]
        assert np.sqrt(((positions[:, index] - clip.positions) ** 2).sum(-1).mean()) < 0.01
