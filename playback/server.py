"""`motion serve`'s web server: the page (playback/web) and a WebSocket at /ws per character (aiohttp).

Each connection gets a LiveSession (playback.live), up to `max_sessions`; one more is told the
server is full and closed. Per session, a producer keeps `ahead_frames` frames generated ahead in a
worker thread and a sender plays them at the clip rate, so frames never wait on a decision; a
frame shows the user's newest flag when it was placed after the frame was generated, so a new
flag shows on the next frame. A malformed message is
answered with {"type": "error", "message": ...} and the session goes on; a closed tab frees its
session. Decisions of all sessions share `workers` threads and torch runs one thread in each, so
concurrent decisions do not oversubscribe the cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch
from aiohttp import WSCloseCode, WSMsgType, web

from motion.errors import InputError
from motion.models import DRMM, load_model
from motion.posing import pose_skeleton
from playback.live import LiveSession, ProtocolError, parse_message, rounded
from playback.loop import Playback, PlaybackConfig

log = logging.getLogger(__name__)

WEB = Path(str(files("playback") / "web"))
"""The page's files: index.html, app.js, style.css and the vendored three.js with its licence."""


MAX_MESSAGE_BYTES = 64 * 1024
"""A client message longer than this closes its connection (aiohttp's limit; see README)."""


@dataclass(frozen=True)
class ServeConfig:
    """Attributes:
    host: the address to bind; the loopback address unless the user opens it up.
    port: TCP port.
    max_sessions: characters at once; one connection each.
    ahead_frames: frames generated ahead of playback per session (one decision makes 5).
    workers: threads deciding for all sessions (default: the CPU count, at most max_sessions).
    seed: the first session's seed; later sessions count up from it.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    max_sessions: int = 4
    ahead_frames: int = 8
    workers: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_sessions < 1:
            raise InputError(f"max_sessions: must be >= 1, got {self.max_sessions}")
        if self.ahead_frames < 1:
            raise InputError(f"ahead_frames: must be >= 1, got {self.ahead_frames}")
        if self.seed < 0:
            raise InputError(f"seed: must be >= 0, got {self.seed}")
        if not 1 <= self.port < 65536:
            raise InputError(f"port: must be in [1, 65535], got {self.port}")


class LiveServer:
    """The application: models loaded once, sessions per connection.

    Args:
        model: the locomotion DRMM (motion train drmm on segments).
        pose_model: a DRMM trained on poses for the posing tab, or None.
    """

    def __init__(self, model: DRMM, pose_model: DRMM | None = None, config: ServeConfig | None = None) -> None:
        self.model, self.pose_model, self.config = model.eval(), pose_model, config or ServeConfig()
        if pose_model is not None:
            pose_model.eval()
        workers = self.config.workers or min(os.cpu_count() or 1, self.config.max_sessions)
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="decide")
        # Pose and export requests wait in a line of their own: a client sending many cannot hold
        # up the decisions that keep every stream going.
        self.requests = ThreadPoolExecutor(1, thread_name_prefix="request")
        self.sessions: set[LiveSession] = set()
        self.sockets: set[web.WebSocketResponse] = set()
        self.started = 0
        Playback(model, PlaybackConfig())  # fail now, not per connection, on a model Playback cannot take

    @classmethod
    def from_checkpoints(
        cls, model: str | Path, pose_model: str | Path | None = None, config: ServeConfig | None = None
    ) -> LiveServer:
        """Raises InputError: unreadable checkpoints, or not a locomotion DRMM and a pose DRMM."""
        drmm = load_model(model, "cpu", kinds=("drmm",))
        poses = None
        if pose_model is not None:
            poses = load_model(pose_model, "cpu", kinds=("drmm",))
            try:
                pose_skeleton(poses)
            except InputError as err:
                raise InputError(f"{pose_model}: {err}") from None
        try:
            return cls(drmm, poses, config)
        except (InputError, ValueError) as err:
            raise InputError(f"{model}: {err}") from None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.index)
        app.router.add_get("/ws", self.websocket)
        app.router.add_static("/static/", WEB, show_index=False)
        app.on_shutdown.append(self._close_sessions)
        app.on_cleanup.append(self._stop_workers)
        return app

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "index.html")

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        # Client messages are small; a pose request is the largest (a few hundred bytes).
        socket = web.WebSocketResponse(heartbeat=20, max_msg_size=MAX_MESSAGE_BYTES)
        await socket.prepare(request)
        if len(self.sessions) >= self.config.max_sessions:
            await socket.send_json(
                {"type": "error", "message": f"the server is full: {self.config.max_sessions} sessions at most "
                 "(motion serve --max-sessions); close another tab and reload"}
            )  # fmt: skip
            await socket.close()
            return socket
        session = LiveSession(self.model, self.config.seed + self.started, self.pose_model)
        self.started += 1
        self.sessions.add(session)
        self.sockets.add(socket)
        log.info("session %d opened (%d of %d)", self.started, len(self.sessions), self.config.max_sessions)
        stream = _Stream(session, socket, self.executor, self.config.ahead_frames)
        try:
            await socket.send_json(session.hello(self.config.max_sessions))
            await stream.run(self._messages(session, socket, stream))
        finally:
            self.sessions.discard(session)
            self.sockets.discard(socket)
            log.info("session closed (%d open)", len(self.sessions))
        return socket

    async def _messages(self, session: LiveSession, socket: web.WebSocketResponse, stream: _Stream) -> None:
        """Read the client's messages until it closes; answer each bad one and go on."""
        loop = asyncio.get_running_loop()
        async for received in socket:
            if received.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            try:
                message = parse_message(received.data)
                if message["type"] == "export":
                    reply = await loop.run_in_executor(self.requests, session.export, message["format"])
                elif message["type"] == "pose":
                    reply = await loop.run_in_executor(
                        self.requests, session.poses, message["targets"], message["ceiling"]
                    )
                else:
                    reply = session.apply(message)
                    stream.changed(message["type"])
            except ProtocolError as err:
                reply = {"type": "error", "message": str(err)}
            except Exception as err:  # noqa: BLE001 - a bug must not end the session: say so, go on
                log.exception("message %r failed", received.data[:200])
                reply = {"type": "error", "message": f"the server failed on that message: {err!r}"}
            if reply is not None:
                await socket.send_json(reply)

    async def _close_sessions(self, app: web.Application) -> None:
        """On Ctrl-C: close open tabs' sockets, so shutting down does not wait on them."""
        for socket in list(self.sockets):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server stopped")

    async def _stop_workers(self, app: web.Application) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.requests.shutdown(wait=False, cancel_futures=True)


class _Stream:
    """One session's frames: generated ahead by a producer, played at the clip rate by a sender."""

    def __init__(self, session: LiveSession, socket: web.WebSocketResponse, executor, ahead: int) -> None:
        self.session, self.socket, self.executor, self.ahead = session, socket, executor, ahead
        self.frames: deque[tuple[int, dict]] = deque()
        self.wanted = asyncio.Event()  # the producer should generate
        self.ready = asyncio.Event()  # the sender has frames, or is unpaused
        self.index = 0

    def changed(self, kind: str) -> None:
        if kind in ("reset", "seed"):
            self.frames.clear()
        self.wanted.set()
        self.ready.set()

    async def run(self, messages) -> None:
        """Stream until the client closes (`messages` ends) or a task fails."""
        tasks = [asyncio.ensure_future(t) for t in (self._produce(), self._send(), messages)]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        # A closed tab ends the sender with a connection error; anything else is a server bug: say
        # so to the client, log it, and serve the other sessions on.
        for failure in outcomes:
            if isinstance(failure, Exception) and not isinstance(failure, (ConnectionError, asyncio.CancelledError)):
                log.error("session stream failed: %r", failure, exc_info=failure)
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.socket.send_json({"type": "error", "message": f"the session failed: {failure!r}"})

    async def _produce(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if len(self.frames) >= self.ahead or self.session.paused:
                self.wanted.clear()
                await self.wanted.wait()
                continue
            generation, frames = await loop.run_in_executor(self.executor, self.session.advance)
            if generation == self.session.generation:  # not from before a reset
                self.frames.extend((generation, frame) for frame in frames)
                self.ready.set()

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.session.fps
        due = loop.time()
        while True:
            if self.session.paused or not self.frames:
                self.ready.clear()
                await self.ready.wait()
                due = max(due, loop.time())
                continue
            generation, frame = self.frames.popleft()
            self.wanted.set()
            joints = frame["joints"]
            self.session.shown(joints)
            message = {
                "type": "frame",
                "index": self.index,
                "take": generation,
                "root": frame["root"],
                "joints": rounded(joints),
                "flag": self.session.flag(frame),
                "reached": frame["reached"],
                "decision_ms": None if np.isnan(self.session.decision_ms) else round(self.session.decision_ms, 1),
                "skating": self.session.skating() if self.index % 10 == 0 else None,
                "recording": len(self.session.recording) if self.session.recording_on else None,
            }
            await self.socket.send_str(json.dumps(message))
            self.index += 1
            due += period
            late = loop.time() - due
            if late > period:  # stalled: play on from now rather than rush to catch up
                due = loop.time()
            await asyncio.sleep(max(0.0, due - loop.time()))


def serve(server: LiveServer) -> None:
    """Run until Ctrl-C: bind, print the URL to open, serve. Torch runs one thread per decision
    (see the module's doc).

    Raises:
        InputError: the address cannot be bound (in use, or not this machine's).
    """
    torch.set_num_threads(1)
    asyncio.run(_serve(server))


async def _serve(server: LiveServer) -> None:
    config = server.config
    runner = web.AppRunner(server.app())
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, config.host, config.port).start()
        except OSError as err:
            raise InputError(
                f"--host {config.host} --port {config.port}: cannot listen there ({err.strerror or err})"
            ) from None
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(config.host, config.host)
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host  # an IPv6 address
        print(
            f"motion serve: open http://{host}:{config.port}/ (up to {config.max_sessions} sessions; Ctrl-C stops)",
            flush=True,
        )
        await asyncio.Event().wait()  # until Ctrl-C cancels this task
    finally:
        await runner.cleanup()
