"""`motion serve`'s protocol over a real WebSocket, with the shipped models."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from motion.assets import DRMM_MODEL, POSE_MODEL
from motion.errors import InputError
from playback.live import ProtocolError, parse_message
from playback.server import LiveServer, ServeConfig


@pytest.fixture(scope="module")
def server_args():
    server = LiveServer.from_checkpoints(DRMM_MODEL, POSE_MODEL, ServeConfig(max_sessions=2))
    return server.model, server.pose_model


def run(server_args, test, max_sessions=2):
    """Run `test(client)` against a fresh server on a free port."""

    async def main():
        server = LiveServer(*server_args, ServeConfig(max_sessions=max_sessions))
        async with TestClient(TestServer(server.app())) as client:
            await test(client, server)

    asyncio.run(main())


async def next_of(socket, kind, timeout=10.0):
    """The next message of `kind`, skipping others."""
    deadline = time.monotonic() + timeout
    while True:
        message = await asyncio.wait_for(socket.receive_json(), max(deadline - time.monotonic(), 0.01))
        if message["type"] == kind:
            return message


def test_hello_then_frames_at_the_clip_rate(server_args):
    async def test(client, server):
        async with client.ws_connect("/ws") as socket:
            hello = await socket.receive_json()
            assert hello["type"] == "hello" and hello["fps"] == 30
            assert len(hello["names"]) == len(hello["parents"]) == 20
            assert hello["pose"]["names"]
            first = await next_of(socket, "frame")
            began, count = time.monotonic(), 0
            while count < 60:
                frame = await next_of(socket, "frame")
                count += 1
            rate = count / (time.monotonic() - began)
            assert len(frame["joints"]) == 20 and len(frame["root"]) == 3
            assert frame["index"] == first["index"] + 60
            assert 20 <= rate <= 40, rate  # 30 paced; slack for a loaded CI machine
            assert 0.5 < frame["root"][2] < 1.2  # hips above the floor, metres

    run(server_args, test)


def test_a_new_flag_shows_on_the_next_frames_and_is_reached(server_args):
    async def test(client, server):
        async with client.ws_connect("/ws") as socket:
            await socket.receive_json()
            frame = await next_of(socket, "frame")
            root = frame["root"]
            target = [root[0] + 2.0, root[1] + 0.5]
            sent = time.monotonic()
            await socket.send_json({"type": "flag", "x": target[0], "y": target[1]})
            while (frame := await next_of(socket, "frame"))["flag"] != pytest.approx(target, abs=1e-3):
                pass
            assert time.monotonic() - sent < 0.2
            reached = frame["reached"]
            deadline = time.monotonic() + 15
            while frame["reached"] == reached:
                assert time.monotonic() < deadline, "the flag was not reached in 15 s"
                frame = await next_of(socket, "frame")
            near = ((frame["root"][0] - target[0]) ** 2 + (frame["root"][1] - target[1]) ** 2) ** 0.5
            assert near <= 1.05  # the reach radius

    run(server_args, test)


def test_bad_messages_get_an_error_and_the_session_goes_on(server_args):
    bad = [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"type": "teleport"}),
        json.dumps({"type": "flag", "x": "a", "y": 0}),
        json.dumps({"type": "flag", "x": 1e9, "y": 0}),
        json.dumps({"type": "flag", "x": float("nan"), "y": 0}),
        '{"type": "flag", "x": 1' + "0" * 400 + ', "y": 0}',  # an integer too large for a float
        '{"type": "flag", "x": 1' + "0" * 5000 + ', "y": 0}',  # longer than Python parses
        "[" * 60000,  # nested deeper than the parser recurses (under the 64 KiB limit)
        json.dumps({"type": "ceiling", "height": 9}),
        json.dumps({"type": "facing", "on": "yes"}),
        json.dumps({"type": "export", "format": "bvh"}),  # nothing recorded
        json.dumps({"type": "pose", "targets": {"tail": [0, 0, 1]}}),
    ]

    async def test(client, server):
        async with client.ws_connect("/ws") as socket:
            await socket.receive_json()
            for text in bad:
                await socket.send_str(text)
                error = await next_of(socket, "error")
                assert error["message"] and "\n" not in error["message"]
            await socket.send_bytes(b"\xff\xfe")
            await next_of(socket, "error")
            first = (await next_of(socket, "frame"))["index"]
            assert (await next_of(socket, "frame"))["index"] == first + 1

    run(server_args, test)


def test_settings_pause_reset_record_export_and_pose(server_args):
    async def test(client, server):
        async with client.ws_connect("/ws") as socket:
            await socket.receive_json()
            for message in ({"type": "facing", "on": False}, {"type": "lock_feet", "on": False},
                            {"type": "ceiling", "height": 1.4}):  # fmt: skip
                await socket.send_json(message)
            await socket.send_json({"type": "record", "on": True})
            assert (await next_of(socket, "record"))["on"]
            for _ in range(40):
                frame = await next_of(socket, "frame")
            head = server_args[0].metadata.skeleton.joints.index("head")
            assert frame["joints"][head][2] < 1.4 + 0.05
            await socket.send_json({"type": "record", "on": False})
            stopped = await next_of(socket, "record")
            assert stopped["frames"] >= 40
            await socket.send_json({"type": "export", "format": "bvh"})
            bvh = await next_of(socket, "export")
            assert bvh["text"].startswith("HIERARCHY") and bvh["frames"] == stopped["frames"]
            await socket.send_json({"type": "export", "format": "csv"})
            csv = await next_of(socket, "export")
            assert len(csv["text"].splitlines()) == stopped["frames"] + 1
            await socket.send_json({"type": "pause", "on": True})
            for _ in range(20):  # what was in flight arrives, then nothing
                try:
                    await asyncio.wait_for(socket.receive_json(), 0.5)
                except asyncio.TimeoutError:
                    break
            else:
                pytest.fail("frames kept coming after the pause")
            await socket.send_json({"type": "pause", "on": False})
            await next_of(socket, "frame")  # playing again
            await socket.send_json({"type": "reset"})
            while (frame := await next_of(socket, "frame"))["take"] == 0:
                pass
            assert frame["take"] == 1 and frame["reached"] == 0 and abs(frame["root"][0]) < 0.5  # the start
            flag = [1.5, -2.0]  # placed right after a reset, it is the one walked to
            await socket.send_json({"type": "reset"})
            await socket.send_json({"type": "flag", "x": flag[0], "y": flag[1]})
            while (frame := await next_of(socket, "frame"))["take"] < 2 or frame["flag"] != flag:
                pass
            deadline = time.monotonic() + 15
            while frame["reached"] == 0:  # shown from now on, and walked to
                assert frame["flag"] == flag and time.monotonic() < deadline
                frame = await next_of(socket, "frame")
            near = ((frame["root"][0] - flag[0]) ** 2 + (frame["root"][1] - flag[1]) ** 2) ** 0.5
            assert near <= 1.05
            await socket.send_json({"type": "pose", "targets": {"right_hand": [0.3, -0.3, 1.3]}, "ceiling": 1.5})
            poses = await next_of(socket, "poses")
            hand, head = (server_args[1].metadata.skeleton.joints.index(n) for n in ("right_hand", "head"))
            best = poses["poses"][0]
            assert sum((a - b) ** 2 for a, b in zip(best[hand], [0.3, -0.3, 1.3])) ** 0.5 < 0.1
            assert best[head][2] < 1.5 + 0.05

    run(server_args, test)


def test_the_session_limit_and_a_closed_tab_frees_its_session(server_args):
    async def test(client, server):
        first = await client.ws_connect("/ws")
        await first.receive_json()
        async with client.ws_connect("/ws") as refused:
            message = await refused.receive_json()
            assert message["type"] == "error" and "full" in message["message"]
            assert (await refused.receive()).type.name in ("CLOSE", "CLOSED", "CLOSING")
        await first.close()
        for _ in range(50):
            if not server.sessions:
                break
            await asyncio.sleep(0.05)
        assert not server.sessions
        async with client.ws_connect("/ws") as again:
            assert (await again.receive_json())["type"] == "hello"

    run(server_args, test, max_sessions=1)


def test_parse_message_keeps_only_known_fields():
    assert parse_message('{"type": "flag", "x": 1, "y": -2, "extra": 3}') == {"type": "flag", "x": 1.0, "y": -2.0}
    assert parse_message('{"type": "ceiling", "height": null}') == {"type": "ceiling", "height": None}
    with pytest.raises(ProtocolError, match="'on' must be true or false"):
        parse_message('{"type": "facing", "on": 1}')


def test_serve_refuses_a_model_it_cannot_play():
    with pytest.raises(InputError, match="drmm-pose.pt"):
        LiveServer.from_checkpoints(POSE_MODEL)
    with pytest.raises(InputError, match="port"):
        ServeConfig(port=0)


def test_motion_serve_refuses_bad_input_in_one_line(capsys):
    from cli.serve import main

    assert main(["--port", "0"]) == 2
    assert main(["--model", str(POSE_MODEL), "--port", "8765"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors[0] == "error: --port: must be in [1, 65535], got 0"
    assert errors[1].startswith(f"error: {POSE_MODEL}:") and len(errors) == 2


def test_motion_serve_says_in_one_line_when_the_port_is_taken(capsys):
    import socket

    from cli.serve import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", str(port)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: --host 127.0.0.1 --port {port}: cannot listen there") and "\n" not in error
