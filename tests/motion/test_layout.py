import pytest

from motion.layout import SegmentLayout, WindowLayout


def test_default_layout_is_the_papers_487_variables():
    layout = SegmentLayout()
    assert layout.size == 24 * 20 + 7 == 487
    assert layout.current_frame == 9
    assert (layout.context, layout.next_poses, layout.goals) == (slice(0, 180), slice(180, 480), slice(480, 487))
    assert layout.goal_root_position == slice(480, 483) and layout.goal_forward == slice(483, 486)
    assert layout.goal_head_height == slice(486, 487)


def test_named_slices_tile_the_vector_and_round_trip():
    layout = SegmentLayout(joints=22)
    slices = layout.slices()
    pieces = sorted(
        v for k, v in slices.items() if k.startswith(("context_block", "next_pose_")) or k.startswith("goal_")
    )
    assert pieces[0][0] == 0 and pieces[-1][1] == layout.size
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    assert SegmentLayout.from_dict(layout.to_dict()) == layout
    assert WindowLayout.from_dict(WindowLayout().to_dict()) == WindowLayout()
    assert WindowLayout().size == 50 * 20 * 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"context_blocks": ((0, 7), (8, 10))},
        {"next_frames": (11, 15)},
        {"goal_frames": (10, 41)},
    ],
)
def test_inconsistent_layouts_are_refused(kwargs):
    with pytest.raises(ValueError):
        SegmentLayout(**kwargs)
