"""`motion serve`'s page in a real headless Chromium (the system's, driven by Playwright): it connects,
draws the character, sends a flag where the ground is clicked, and the character reaches it.

Skipped where no Chromium is installed, unless MOTION_REQUIRE_BROWSER=1 (as .ci/run sets after
installing it), where a missing browser fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from motion.assets import DRMM_MODEL, POSE_MODEL
from playback.server import LiveServer, ServeConfig

CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None
)
if CHROMIUM is None and os.environ.get("MOTION_REQUIRE_BROWSER") != "1":
    pytest.skip("no Chromium installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def url():
    """A server on a free loopback port, in a thread of its own, for the module's tests."""
    assert CHROMIUM, "MOTION_REQUIRE_BROWSER=1 but no Chromium is installed"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = LiveServer.from_checkpoints(DRMM_MODEL, POSE_MODEL, ServeConfig(port=port))
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(server.app())
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def page(url):
    with sync_api.sync_playwright() as playwright:
        # SwiftShader: WebGL in software, as a machine without a GPU has it.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
        )
        page = browser.new_page(viewport={"width": 1000, "height": 640})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        yield page
        browser.close()
        assert not errors, errors


def state(page, expression):
    return page.evaluate(f"window.motionLive.{expression}")


def test_click_the_ground_and_the_character_reaches_the_flag(page, tmp_path: Path):
    page.wait_for_function("window.motionLive.frames > 5 && window.motionLive.rendered > 5", timeout=30000)
    before, reached = state(page, "flag"), state(page, "reached")
    # The camera looks at the character from behind-left; this point of the canvas is ground about 2-3 m away.
    page.mouse.click(700, 420)
    page.wait_for_function(
        f"window.motionLive.flag && Math.abs(window.motionLive.flag[0] - {before[0]}) > 1e-3", timeout=2000
    )
    placed = state(page, "flag")
    root = state(page, "lastFrame.root")
    assert 0.5 < np.hypot(placed[0] - root[0], placed[1] - root[1]) < 8
    # Reached counts every flag, and the one shown before the click may be reached while the new one is
    # on its way: wait for a reach next to the placed flag.
    page.wait_for_function(
        f"window.motionLive.reached > {reached} && Math.hypot(window.motionLive.lastFrame.root[0] - {placed[0]}, "
        f"window.motionLive.lastFrame.root[1] - {placed[1]}) < 1.5",
        timeout=30000,
    )
    root = state(page, "lastFrame.root")
    assert np.hypot(placed[0] - root[0], placed[1] - root[1]) < 1.5  # reached, and only just walked on
    # The canvas is drawn: the character and its shadow make it far from one flat colour.
    shot = tmp_path / "page.png"
    page.locator("#view").screenshot(path=str(shot))
    import imageio.v3 as iio

    pixels = iio.imread(shot)[..., :3].astype(float)
    assert pixels.std() > 5
    dark = (pixels.sum(-1) < 300).mean()  # the character's blue, the shadow
    assert dark > 0.001
    assert page.locator("#fps").inner_text() not in ("–", "0")


def test_posing_tab_shows_poses_for_the_targets(page):
    page.wait_for_function("window.motionLive.hello !== null", timeout=30000)
    page.click("#tab-pose")
    page.wait_for_function("window.motionLive.poses !== null", timeout=10000)
    poses = state(page, "poses")
    assert len(poses["poses"]) >= 1 and len(poses["poses"][0]) == 20
    page.check("#pose-ceiling-on")
    deadline = time.monotonic() + 10
    head = state(page, "hello.pose.names").index("head")
    while state(page, "poses.poses[0]")[head][2] > 1.45 + 0.05:
        assert time.monotonic() < deadline, "the ceiling did not reach the poses"
        time.sleep(0.1)
