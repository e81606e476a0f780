"""Render clips to video on a CPU with no display: trimesh meshes through a vectorised software rasteriser.

The character is built from trimesh primitives (a sphere per joint, a cylinder per bone, which
together read as capsules, and a larger sphere for the head), the flag from a pole and a cloth.
Every triangle of a frame is rasterised at once with torch: each triangle's bounding box is
expanded into candidate pixels, barycentric coordinates decide coverage, and a z-buffer built
with scatter_reduce keeps the nearest surface. The ground (a checkerboard fading into fog, with
a soft shadow under the character) is shaded per pixel by intersecting view rays with z = 0, so
it costs no triangles. Videos are written with imageio: H.264 mp4 (yuv420p) or GIF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch
import trimesh
from torch import Tensor
from tqdm import tqdm

from motion.atomic import atomic_path
from motion.clip import resample
from motion.errors import InputError
from motion.skeleton import Skeleton

BODY = (0.93, 0.52, 0.18)
"""Character colour (orange): bones; joints are a darker shade, the head a lighter one."""
JOINT = (0.78, 0.36, 0.10)
HEAD = (0.98, 0.70, 0.45)
POLE = (0.85, 0.85, 0.82)
CLOTH = (0.85, 0.12, 0.15)
GROUND_LIGHT, GROUND_DARK = (0.80, 0.82, 0.84), (0.56, 0.59, 0.63)
SKY_TOP, SKY_HORIZON = (0.55, 0.70, 0.88), (0.86, 0.90, 0.95)
LIGHT = (0.35, -0.45, 0.82)  # towards the light, world frame (Z-up)

CHARACTER_COLOURS = (BODY, JOINT, HEAD)
"""Base colours of the character's surfaces (shading scales them)."""


@dataclass(frozen=True)
class RenderConfig:
    """Image size, camera and body proportions.

    Attributes:
        width, height: pixels.
        fps: frames per second of the video; clips at other rates are resampled.
        fov: vertical field of view, degrees.
        distance: camera distance from the followed point, metres.
        elevation: camera elevation above the horizon, degrees.
        azimuth: direction the camera looks along on the ground, degrees from +x.
        follow_seconds: time constant of the camera's smoothing of the root's path.
        bone_radius, joint_radius, head_radius: metres.
    """

    width: int = 640
    height: int = 360
    fps: float = 30.0
    fov: float = 45.0
    distance: float = 4.2
    elevation: float = 18.0
    azimuth: float = 60.0
    follow_seconds: float = 0.6
    bone_radius: float = 0.045
    joint_radius: float = 0.055
    head_radius: float = 0.11


class Camera:
    """A pinhole camera looking at `target` from `distance` at `elevation`, heading `azimuth`.

    Args:
        target: (3,) the point looked at, metres.
        config: image size and camera angles.
    """

    def __init__(self, target: Tensor, config: RenderConfig) -> None:
        azimuth, elevation = math.radians(config.azimuth), math.radians(config.elevation)
        forward = torch.tensor(
            [math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), -math.sin(elevation)]
        )
        self.position = target - config.distance * forward
        right = torch.linalg.cross(forward, torch.tensor([0.0, 0.0, 1.0]))
        right = right / right.norm()
        up = torch.linalg.cross(right, forward)
        self.rotation = torch.stack((right, up, forward))  # rows: camera x (right), y (up), z (forward)
        self.focal = 0.5 * config.height / math.tan(math.radians(config.fov) / 2)
        self.width, self.height = config.width, config.height

    def to_camera(self, points: Tensor) -> Tensor:
        """(..., 3) world points to camera coordinates (x right, y up, z depth)."""
        return (points - self.position) @ self.rotation.T

    def project(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """(..., 3) world points to pixel coordinates (column, row) and depth, metres."""
        local = self.to_camera(points)
        depth = local[..., 2]
        column = self.focal * local[..., 0] / depth + self.width / 2
        row = -self.focal * local[..., 1] / depth + self.height / 2
        return torch.stack((column, row), -1), depth

    def rays(self) -> Tensor:
        """(height, width, 3) unit world directions through the pixel centres."""
        rows, columns = torch.meshgrid(torch.arange(self.height) + 0.5, torch.arange(self.width) + 0.5, indexing="ij")
        local = torch.stack(
            ((columns - self.width / 2) / self.focal, -(rows - self.height / 2) / self.focal, torch.ones_like(rows)),
            -1,
        )
        world = local @ self.rotation
        return world / world.norm(dim=-1, keepdim=True)


class _Primitive:
    """A trimesh primitive's vertices, smooth normals and faces as tensors."""

    def __init__(self, mesh: trimesh.Trimesh, normals: np.ndarray | None = None) -> None:
        self.vertices = torch.tensor(mesh.vertices, dtype=torch.float32)
        self.normals = torch.tensor(mesh.vertex_normals if normals is None else normals, dtype=torch.float32)
        self.faces = torch.tensor(mesh.faces, dtype=torch.long)


def _open_cylinder(sections: int) -> _Primitive:
    """A unit cylinder along z from 0 to 1 without caps (the joint spheres close it), radial normals."""
    mesh = trimesh.creation.cylinder(radius=1.0, height=1.0, sections=sections)
    side = np.abs(mesh.face_normals[:, 2]) < 0.5
    mesh = trimesh.Trimesh(mesh.vertices, mesh.faces[side], process=False)
    mesh.vertices[:, 2] += 0.5
    normals = mesh.vertices * np.array([1.0, 1.0, 0.0])
    return _Primitive(mesh, normals / np.linalg.norm(normals, axis=1, keepdims=True).clip(1e-9))


def _frame_along(direction: Tensor) -> Tensor:
    """(..., 3, 3) rotations whose third column is the unit `direction` (..., 3)."""
    z = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    helper = torch.where(z[..., 2:3].abs() < 0.9, torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 0.0]))
    x = torch.linalg.cross(helper, z)
    x = x / x.norm(dim=-1, keepdim=True)
    return torch.stack((x, torch.linalg.cross(z, x), z), -1)


@dataclass
class Mesh:
    """Triangles to rasterise: vertices (V, 3), normals (V, 3), faces (F, 3), colours (F, 3)."""

    vertices: Tensor
    normals: Tensor
    faces: Tensor
    colours: Tensor

    @staticmethod
    def concatenate(meshes: list[Mesh]) -> Mesh:
        offsets = np.cumsum([0] + [len(mesh.vertices) for mesh in meshes[:-1]])
        return Mesh(
            torch.cat([mesh.vertices for mesh in meshes]),
            torch.cat([mesh.normals for mesh in meshes]),
            torch.cat([mesh.faces + int(offset) for mesh, offset in zip(meshes, offsets)]),
            torch.cat([mesh.colours for mesh in meshes]),
        )


class Scene:
    """Builds the meshes of the character, the flag and their instances for one frame.

    Args:
        skeleton: joint names and parents (bones join each joint to its parent).
        config: body proportions.
    """

    def __init__(self, skeleton: Skeleton, config: RenderConfig) -> None:
        self.sphere = _Primitive(trimesh.creation.icosphere(subdivisions=1))
        self.cylinder = _open_cylinder(12)
        self.children = torch.tensor([j for j, p in enumerate(skeleton.parents) if p >= 0])
        self.parents = torch.tensor([skeleton.parents[j] for j in self.children.tolist()])
        heads = [j for j, name in enumerate(skeleton.joints) if name.lower() == "head"]
        self.radii = torch.full((len(skeleton),), config.joint_radius)
        self.radii[heads] = config.head_radius
        self.joint_colours = torch.tensor([HEAD if j in heads else JOINT for j in range(len(skeleton))])
        self.config = config

    def _spheres(self, centres: Tensor, radii: Tensor, colours: Tensor) -> Mesh:
        prim = self.sphere
        vertices = centres[:, None] + radii[:, None, None] * prim.vertices  # (n, v, 3)
        return self._instances(vertices, prim.normals.expand(len(centres), -1, -1), prim.faces, colours)

    def _cylinders(self, starts: Tensor, ends: Tensor, radius: float, colours: Tensor) -> Mesh:
        prim = self.cylinder
        axis = ends - starts
        rotation = _frame_along(axis)  # (n, 3, 3)
        scale = torch.stack(
            (torch.full_like(axis[:, 0], radius), torch.full_like(axis[:, 0], radius), axis.norm(dim=-1)), -1
        )
        vertices = starts[:, None] + (prim.vertices[None] * scale[:, None]) @ rotation.transpose(1, 2)
        normals = prim.normals[None] @ rotation.transpose(1, 2)
        return self._instances(vertices, normals, prim.faces, colours)

    @staticmethod
    def _instances(vertices: Tensor, normals: Tensor, faces: Tensor, colours: Tensor) -> Mesh:
        count, per = vertices.shape[:2]
        offsets = (torch.arange(count) * per)[:, None, None]
        return Mesh(
            vertices.reshape(-1, 3),
            normals.reshape(-1, 3),
            (faces[None] + offsets).reshape(-1, 3),
            colours[:, None].expand(-1, len(faces), -1).reshape(-1, 3),
        )

    def character(self, pose: Tensor) -> Mesh:
        """Meshes of one pose (J, 3), metres."""
        bones = self._cylinders(
            pose[self.parents], pose[self.children], self.config.bone_radius,
            torch.tensor([BODY]).expand(len(self.children), -1),
        )  # fmt: skip
        return Mesh.concatenate([bones, self._spheres(pose, self.radii, self.joint_colours)])

    def flag(self, position: Tensor) -> Mesh:
        """A pole 1.6 m tall with a cloth at its top, at `position` (2,) on the ground."""
        base = torch.tensor([float(position[0]), float(position[1]), 0.0])
        top = base + torch.tensor([0.0, 0.0, 1.6])
        pole = self._cylinders(base[None], top[None], 0.025, torch.tensor([POLE]))
        knob = self._spheres(top[None], torch.tensor([0.04]), torch.tensor([POLE]))
        corners = torch.stack((top, top - torch.tensor([0.0, 0.0, 0.35]), top + torch.tensor([0.5, 0.0, -0.17])))
        normals = torch.tensor([[0.0, 1.0, 0.0]] * 3 + [[0.0, -1.0, 0.0]] * 3)
        faces = torch.tensor([[0, 1, 2], [3, 5, 4]])
        cloth = Mesh(torch.cat((corners, corners)), normals, faces, torch.tensor([CLOTH, CLOTH]))
        return Mesh.concatenate([pole, knob, cloth])


def rasterise(mesh: Mesh, camera: Camera) -> tuple[Tensor, Tensor]:
    """Shade the nearest triangle at every pixel.

    Args:
        mesh: triangles in world coordinates.
        camera: the view.
    Returns:
        colour (H, W, 3) in [0, 1] (zeros where nothing is drawn) and covered (H, W) bool.
    """
    H, W = camera.height, camera.width
    screen, depth = camera.project(mesh.vertices)
    tri_screen, tri_depth = screen[mesh.faces], depth[mesh.faces]  # (F, 3, 2), (F, 3)
    # Back faces are hidden behind front ones (surfaces are closed, the cloth has both sides).
    facing_camera = (mesh.normals[mesh.faces].sum(1) * (camera.position - mesh.vertices[mesh.faces[:, 0]])).sum(1) > 0
    visible = (tri_depth > 0.05).all(1) & facing_camera
    low = tri_screen.amin(1).floor().clamp(0, max(W, H)).long()
    high = tri_screen.amax(1).ceil().long()
    low = torch.stack((low[:, 0].clamp(max=W), low[:, 1].clamp(max=H)), 1)
    high = torch.stack((high[:, 0].clamp(0, W), high[:, 1].clamp(0, H)), 1)
    size = (high - low).clamp_min(0)
    keep = visible & (size > 0).all(1)
    faces = torch.nonzero(keep)[:, 0]
    size, low = size[faces], low[faces]
    counts = size[:, 0] * size[:, 1]
    triangle = torch.repeat_interleave(faces, counts)
    first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    offset = torch.arange(len(triangle)) - first
    width = torch.repeat_interleave(size[:, 0], counts)
    column = torch.repeat_interleave(low[:, 0], counts) + offset % width
    row = torch.repeat_interleave(low[:, 1], counts) + offset // width

    # Barycentric coordinates of the pixel centres (either winding).
    a, b, c = tri_screen[triangle, 0], tri_screen[triangle, 1], tri_screen[triangle, 2]
    p = torch.stack((column + 0.5, row + 0.5), 1).float()

    def edge(u: Tensor, v: Tensor, w: Tensor) -> Tensor:
        return (v[:, 0] - u[:, 0]) * (w[:, 1] - u[:, 1]) - (v[:, 1] - u[:, 1]) * (w[:, 0] - u[:, 0])

    area = edge(a, b, c)
    weights = torch.stack((edge(b, c, p), edge(c, a, p), edge(a, b, p)), 1) / area[:, None]
    inside = (weights >= 0).all(1) & (area.abs() > 1e-9)
    triangle, weights, pixel = triangle[inside], weights[inside], (row * W + column)[inside]
    inverse_depth = (weights / tri_depth[triangle]).sum(1)  # 1/z is linear in screen space

    nearest = torch.zeros(H * W).scatter_reduce(0, pixel, inverse_depth, "amax", include_self=True)
    front = inverse_depth >= nearest[pixel]
    triangle, weights, pixel = triangle[front], weights[front], pixel[front]

    normal = (mesh.normals[mesh.faces[triangle]] * weights[..., None]).sum(1)
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    toward_camera = camera.position - (mesh.vertices[mesh.faces[triangle]] * weights[..., None]).sum(1)
    toward_camera = toward_camera / toward_camera.norm(dim=-1, keepdim=True)
    light = torch.tensor(LIGHT) / torch.tensor(LIGHT).norm()
    diffuse = (normal @ light).clamp_min(0)
    half = light + toward_camera
    half = half / half.norm(dim=-1, keepdim=True)
    specular = (normal * half).sum(-1).clamp_min(0) ** 24
    shade = 0.38 + 0.62 * diffuse
    colour = (mesh.colours[triangle] * shade[:, None] + 0.25 * specular[:, None]).clamp(0, 1)

    image = torch.zeros(H * W, 3)
    image[pixel] = colour
    covered = torch.zeros(H * W, dtype=torch.bool)
    covered[pixel] = True
    return image.reshape(H, W, 3), covered.reshape(H, W)


class Backdrop:
    """Sky and a checkerboard ground with fog and a soft shadow, for a camera that only translates.

    The view rays, where they meet the ground and the fog are the same in every frame of a
    following camera (fixed orientation and height), so they are computed once; a frame only
    shifts the checkerboard and draws the shadow near the character.

    Args:
        camera: any of the clip's cameras (they share orientation and height).
    """

    SHADOW_RADIUS = 1.5
    """Metres around the root within which the shadow is computed."""

    def __init__(self, camera: Camera) -> None:
        rays = camera.rays()
        up = rays[..., 2]
        sky_t = up.clamp(0, 1)[..., None] ** 0.6
        self.sky = torch.tensor(SKY_HORIZON) * (1 - sky_t) + torch.tensor(SKY_TOP) * sky_t
        self.hits = (up < -1e-4)[..., None]
        distance = torch.where(self.hits[..., 0], -camera.position[2] / up.clamp(max=-1e-4), 0.0)
        self.offsets = distance[..., None] * rays[..., :2]  # ground point minus camera x, y
        fog = (1 - torch.exp(-distance / 18.0))[..., None]
        self.fog = fog
        horizon = torch.tensor(SKY_HORIZON) * fog
        self.light = torch.tensor(GROUND_LIGHT) * (1 - fog) + horizon
        self.dark = torch.tensor(GROUND_DARK) * (1 - fog) + horizon

    def image(self, camera: Camera, shadow_points: Tensor, centre: Tensor) -> Tensor:
        """(H, W, 3) in [0, 1] for `camera`, shadowing under `shadow_points` (P, 3) near `centre` (2,)."""
        ground = camera.position[:2] + self.offsets  # (H, W, 2)
        checker = (ground.floor().sum(-1) % 2 == 0)[..., None]
        image = torch.where(self.hits, torch.where(checker, self.light, self.dark), self.sky)

        # Soft shadow: each joint darkens a blob below it that widens and fades with its height.
        near = self.hits[..., 0] & ((ground - centre).abs().amax(-1) < self.SHADOW_RADIUS)
        heights = shadow_points[:, 2].clamp_min(0)
        spread, strength = 0.12 + 0.15 * heights, 0.55 * torch.exp(-heights / 1.5)
        squared = (ground[near][:, None] - shadow_points[:, :2]).square().sum(-1)  # (N, P)
        darkness = (strength * torch.exp(-squared / (2 * spread**2))).amax(-1)[:, None]
        image[near] = image[near] * (1 - darkness * (1 - self.fog[near]))
        return image


def fill_forward(positions: np.ndarray) -> np.ndarray:
    """Occluded (NaN) values replaced by the last finite value of the same coordinate (before the first
    one, the next): a clip with gaps draws its joints where they were last seen instead of with holes.

    Args:
        positions: (frames, joints, 3).
    Returns:
        (frames, joints, 3) with no NaN (0 where a coordinate is never observed).
    """
    filled = positions.copy()
    for _ in range(2):
        for frame in range(1, len(filled)):
            gap = np.isnan(filled[frame])
            filled[frame][gap] = filled[frame - 1][gap]
        filled = filled[::-1]
    return np.nan_to_num(filled)


def follow(roots: Tensor, fps: float, seconds: float) -> Tensor:
    """The camera's target: the root's ground path smoothed forwards and backwards (no lag).

    Args:
        roots: (frames, 3) root positions.
    Returns:
        (frames, 3) targets at a fixed height of 0.9 m.
    """
    alpha = 1 - math.exp(-1 / max(seconds * fps, 1e-6))
    path = roots[:, :2].clone()
    for order in (range(1, len(path)), range(len(path) - 2, -1, -1)):
        for i in order:
            previous = i - 1 if order.step == 1 else i + 1
            path[i] = path[previous] + alpha * (path[i] - path[previous])
    return torch.cat((path, torch.full((len(path), 1), 0.9)), 1)


class Renderer:
    """Renders frames of a clip, with an optional flag per frame.

    Args:
        skeleton: the clip's skeleton.
        config: image size, camera, proportions.
    """

    def __init__(self, skeleton: Skeleton, config: RenderConfig = RenderConfig()) -> None:
        self.scene, self.config = Scene(skeleton, config), config
        self.root = 0 if -1 not in skeleton.parents else skeleton.parents.index(-1)

    def cameras(self, positions: Tensor) -> list[Camera]:
        """One camera per frame, following the root smoothly."""
        targets = follow(positions[:, self.root], self.config.fps, self.config.follow_seconds)
        return [Camera(target, self.config) for target in targets]

    def frame(
        self, pose: Tensor, camera: Camera, backdrop: Backdrop | None = None, flag: Tensor | None = None
    ) -> np.ndarray:
        """One image (H, W, 3) uint8 of `pose` (J, 3) seen by `camera`."""
        meshes = [self.scene.character(pose)]
        if flag is not None and torch.isfinite(flag).all():
            meshes.append(self.scene.flag(flag))
        colour, covered = rasterise(Mesh.concatenate(meshes), camera)
        backdrop = Backdrop(camera) if backdrop is None else backdrop
        sky_and_ground = backdrop.image(camera, pose, pose[self.root, :2])
        image = torch.where(covered[..., None], colour, sky_and_ground)
        return (image * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()

    @torch.no_grad()
    def frames(self, positions: np.ndarray, fps: float, flags: np.ndarray | None = None, progress: bool = False):
        """Yield the frames (H, W, 3) uint8 of a clip, resampled to the video rate.

        Args:
            positions: (frames, joints, 3) metres, Z-up.
            fps: the clip's rate.
            flags: (frames, 2) the flag at each frame, or None.
        """
        video_positions = torch.from_numpy(resample(positions.astype(np.float32), fps, self.config.fps))
        if flags is not None:
            index = np.minimum(np.round(np.arange(len(video_positions)) * fps / self.config.fps), len(flags) - 1)
            flags = torch.from_numpy(np.asarray(flags, np.float32)[index.astype(int)])
        cameras = self.cameras(video_positions)
        backdrop = Backdrop(cameras[0])
        for i in tqdm(range(len(video_positions)), unit="frame", desc="rendering", disable=not progress):
            yield self.frame(video_positions[i], cameras[i], backdrop, None if flags is None else flags[i])


def write_video(frames, path: str | Path, fps: float) -> int:
    """Write frames to an mp4 (H.264, yuv420p, plays everywhere) or a GIF, by suffix; returns the count.

    Written under a temporary name, then renamed: the file appears complete or not at all.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise InputError(f"{path}: the video must end in .mp4 or .gif")
    count = 0
    with atomic_path(path) as temporary:
        if suffix == ".mp4":
            writer = imageio.get_writer(
                temporary, fps=fps, codec="libx264", pixelformat="yuv420p", quality=7,
                macro_block_size=8, ffmpeg_log_level="error",
            )  # fmt: skip
        else:
            writer = imageio.get_writer(temporary, mode="I", duration=1000 / fps, loop=0)
        with writer:
            for frame in frames:
                writer.append_data(frame)
                count += 1
    return count


def write_stills(frames, folder: str | Path) -> int:
    """Write frames as numbered PNGs (frame_00000.png, ...) into `folder`; returns the count."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for count, frame in enumerate(frames, 1):
        with atomic_path(folder / f"frame_{count - 1:05d}.png") as temporary:
            imageio.imwrite(temporary, frame)
    return count


@torch.no_grad()
def pose_sheet(
    skeleton: Skeleton, poses: np.ndarray, columns: int = 5, config: RenderConfig | None = None
) -> np.ndarray:
    """Still poses side by side, each seen by the same camera relative to its root, best first
    (reading order).

    Args:
        poses: (poses, joints, 3) metres, Z-up.
    Returns:
        (rows * H, columns * W, 3) uint8 image.
    """
    # The poses face +x: the camera looks back along it, a little from the side, to show their fronts.
    config = config or RenderConfig(width=320, height=360, distance=3.0, elevation=10.0, azimuth=200.0)
    renderer = Renderer(skeleton, config)
    tiles = []
    for pose in torch.from_numpy(np.asarray(poses, np.float32)):
        target = pose[renderer.root].clone()
        target[2] = 0.9  # look at the body's middle, whatever the root's height
        tiles.append(renderer.frame(pose, Camera(target, config)))
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (rows * columns - len(tiles))
    return np.concatenate([np.concatenate(tiles[r * columns : (r + 1) * columns], 1) for r in range(rows)], 0)


def write_image(image: np.ndarray, path: str | Path) -> None:
    """Write one image (PNG, by the extension), atomically."""
    with atomic_path(path) as temporary:
        imageio.imwrite(temporary, image, extension=Path(path).suffix)
