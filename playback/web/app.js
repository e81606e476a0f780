// The page of `motion serve`: draws the streamed character, sends the user's flags and settings.
// The protocol is in the README ("Live control in the browser"). Positions arrive in metres, Z-up;
// three.js is Y-up, so (x, y, z) is drawn at (x, z, -y).
import * as THREE from "./vendor/three.module.min.js";

const $ = (id) => document.getElementById(id);
const toScene = (p) => new THREE.Vector3(p[0], p[2], -p[1]);
const fromScene = (v) => [v.x, -v.z, v.y];

// What a test (or a curious user, in the console) can read of the page's state.
const live = (window.motionLive = {
  connected: false, hello: null, frames: 0, reached: 0, flag: null, lastFrame: null,
  rendered: 0, errors: [], poses: null,
});

// Scene ------------------------------------------------------------------------------------
const canvas = $("view");
const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
renderer.shadowMap.enabled = true;
renderer.shadowMap.type = THREE.PCFSoftShadowMap;
const scene = new THREE.Scene();
scene.background = new THREE.Color(0xdfe6ec);
scene.fog = new THREE.Fog(0xdfe6ec, 15, 40);
const camera = new THREE.PerspectiveCamera(45, 1, 0.05, 100);
scene.add(new THREE.HemisphereLight(0xffffff, 0x8899aa, 1.6));
const sun = new THREE.DirectionalLight(0xffffff, 2.2);
sun.castShadow = true;
sun.shadow.mapSize.set(2048, 2048);
Object.assign(sun.shadow.camera, { left: -4, right: 4, top: 4, bottom: -4, near: 0.5, far: 20 });
scene.add(sun, sun.target);
const ground = new THREE.Mesh(
  new THREE.PlaneGeometry(200, 200),
  new THREE.MeshStandardMaterial({ color: 0xc8d0c0, roughness: 1 }),
);
ground.rotation.x = -Math.PI / 2;
ground.receiveShadow = true;
scene.add(ground);
const grid = new THREE.GridHelper(200, 200, 0x7f8878, 0x9ea596);
grid.position.y = 0.001;
scene.add(grid);

function resize() {
  renderer.setSize(window.innerWidth, window.innerHeight, false);
  renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
  camera.aspect = window.innerWidth / window.innerHeight;
  camera.updateProjectionMatrix();
}
window.addEventListener("resize", resize);
resize();

// A skeleton drawn as spheres at the joints and capsules along the bones.
class Figure {
  constructor(parents, color, opacity = 1) {
    const material = new THREE.MeshStandardMaterial({ color, roughness: 0.6, transparent: opacity < 1, opacity });
    this.group = new THREE.Group();
    this.parents = parents;
    this.joints = parents.map(() => this.add(new THREE.SphereGeometry(0.035, 12, 8), material));
    this.bones = parents.map((p) => (p < 0 ? null : this.add(new THREE.CylinderGeometry(0.025, 0.025, 1, 8), material)));
    this.shadow = opacity === 1;
    this.group.traverse((o) => { o.castShadow = this.shadow; });
  }
  add(geometry, material) {
    const mesh = new THREE.Mesh(geometry, material);
    this.group.add(mesh);
    return mesh;
  }
  set(positions) {
    const points = positions.map(toScene);
    points.forEach((p, j) => this.joints[j].position.copy(p));
    const up = new THREE.Vector3(0, 1, 0);
    this.parents.forEach((parent, j) => {
      if (parent < 0) return;
      const bone = this.bones[j];
      const along = points[j].clone().sub(points[parent]);
      const length = along.length();
      bone.position.copy(points[parent]).addScaledVector(along, 0.5);
      bone.scale.set(1, Math.max(length, 1e-4), 1);
      if (length > 1e-6) bone.quaternion.setFromUnitVectors(up, along.divideScalar(length));
    });
  }
}

// The flag: a pole, a pennant and the ring inside which it counts as reached.
const flag = new THREE.Group();
{
  const pole = new THREE.Mesh(new THREE.CylinderGeometry(0.015, 0.015, 1.5, 8), new THREE.MeshStandardMaterial({ color: 0x444444 }));
  pole.position.y = 0.75;
  const shape = new THREE.Shape([new THREE.Vector2(0, 0), new THREE.Vector2(0.45, -0.15), new THREE.Vector2(0, -0.3)]);
  const pennant = new THREE.Mesh(new THREE.ShapeGeometry(shape), new THREE.MeshStandardMaterial({ color: 0xd03020, side: THREE.DoubleSide }));
  pennant.position.y = 1.5;
  const ring = new THREE.Mesh(new THREE.RingGeometry(0.94, 1.0, 64), new THREE.MeshBasicMaterial({ color: 0xd03020, transparent: true, opacity: 0.8 }));
  ring.rotation.x = -Math.PI / 2;
  ring.position.y = 0.003;
  ring.name = "reach";
  flag.add(pole, pennant, ring);
  flag.traverse((o) => { o.castShadow = o.name !== "reach"; });
  flag.visible = false;
  scene.add(flag);
}

// The stream ---------------------------------------------------------------------------------
let character = null;
let socket = null;
const focus = new THREE.Vector3();
const received = [];  // arrival times of the last second's frames, for frames/s
let paused = false;

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function status(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

function connect() {
  socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  socket.onopen = () => { live.connected = true; status("connected"); };
  socket.onclose = () => {
    live.connected = false;
    const last = live.errors[live.errors.length - 1];
    status(last && last.includes("full") ? last : "disconnected: reload the page", true);
  };
  socket.onmessage = (event) => handle(JSON.parse(event.data));
}

function handle(message) {
  switch (message.type) {
    case "hello": return hello(message);
    case "frame": return frame(message);
    case "error":
      live.errors.push(message.message);
      if (message.message.startsWith("pose")) {  // a refused pose request must not freeze the tab
        poseInFlight = false;
        if (poseWanted) { poseWanted = false; requestPoses(); }
      }
      return status(message.message, true);
    case "record": return recorded(message);
    case "export": return download(message);
    case "poses": return posed(message);
  }
}

function hello(message) {
  live.hello = message;
  character = new Figure(message.parents, 0x3a6ea5);
  scene.add(character.group);
  $("facing").checked = message.facing;
  $("lock-feet").checked = message.lock_feet;
  if (message.pose) setUpPosing(message.pose);
  status(`connected: ${message.names.length} joints at ${message.fps} frames/s, seed ${message.seed}`);
}

function frame(message) {
  live.frames += 1;
  live.lastFrame = message;
  live.reached = message.reached;
  live.flag = message.flag;
  character.set(message.joints);
  flag.visible = message.flag !== null && activeTab === "walk";
  if (message.flag) {
    flag.position.set(message.flag[0], 0, -message.flag[1]);
  }
  const now = performance.now();
  received.push(now);
  while (received[0] < now - 1000) received.shift();
  $("fps").textContent = received.length.toFixed(0);
  $("reached").textContent = message.reached;
  if (message.decision_ms !== null) $("decision-ms").textContent = `${message.decision_ms.toFixed(1)} ms`;
  if (message.skating !== null) $("skating").textContent = `${message.skating.toFixed(3)} m/s`;
  if (message.recording !== null) $("record").textContent = `Stop (${message.recording})`;
}

// Controls -----------------------------------------------------------------------------------
const raycaster = new THREE.Raycaster();
let pressed = null;

function pointer(event) {
  return new THREE.Vector2((event.clientX / window.innerWidth) * 2 - 1, -(event.clientY / window.innerHeight) * 2 + 1);
}

canvas.addEventListener("pointerdown", (event) => {
  pressed = { x: event.clientX, y: event.clientY };
  if (activeTab === "pose") startDrag(event);
});
canvas.addEventListener("pointermove", (event) => { if (activeTab === "pose") drag(event); });
canvas.addEventListener("pointerup", (event) => {
  const click = pressed && Math.hypot(event.clientX - pressed.x, event.clientY - pressed.y) < 5;
  pressed = null;
  if (activeTab === "pose") return endDrag();
  if (!click) return;
  raycaster.setFromCamera(pointer(event), camera);
  const hit = raycaster.intersectObject(ground)[0];
  if (hit) send({ type: "flag", x: hit.point.x, y: -hit.point.z });
});

$("facing").onchange = (e) => send({ type: "facing", on: e.target.checked });
$("lock-feet").onchange = (e) => send({ type: "lock_feet", on: e.target.checked });
function sendCeiling() {
  const on = $("ceiling-on").checked;
  $("ceiling").disabled = !on;
  $("ceiling-value").textContent = `${Number($("ceiling").value).toFixed(2)} m`;
  send({ type: "ceiling", height: on ? Number($("ceiling").value) : null });
}
$("ceiling-on").onchange = sendCeiling;
$("ceiling").oninput = sendCeiling;
$("pause").onclick = () => {
  paused = !paused;
  $("pause").textContent = paused ? "Play" : "Pause";
  send({ type: "pause", on: paused });
};
$("reset").onclick = () => send({ type: "reset" });
$("seed").onclick = () => send({ type: "seed" });
let recording = false;
$("record").onclick = () => {
  recording = !recording;
  send({ type: "record", on: recording });
};
$("download-bvh").onclick = () => send({ type: "export", format: "bvh" });
$("download-csv").onclick = () => send({ type: "export", format: "csv" });

function recorded(message) {
  recording = message.on;  // a reset or new seed ends a recording
  $("record").classList.toggle("on", message.on);
  $("record").textContent = message.on ? "Stop" : "Record";
  $("download-bvh").disabled = $("download-csv").disabled = message.on || message.frames === 0;
}

function download(message) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([message.text], { type: "text/plain" }));
  link.download = message.name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  status(`downloaded ${message.name}: ${message.frames} frames`);
}

// Posing tab (with --pose-model) -------------------------------------------------------------
let activeTab = "walk";
const poseScene = new THREE.Group();
poseScene.visible = false;
scene.add(poseScene);
const TARGETS = ["left_hand", "right_hand", "left_foot", "right_foot"];
const targets = {};  // joint name -> { mesh, on }
let poseFigures = [];
let poseNames = [];
let dragging = null;
let dragPlane = new THREE.Plane();
let poseInFlight = false;
let poseWanted = false;

function setUpPosing(pose) {
  poseNames = pose.names;
  $("tab-pose").hidden = false;
  poseFigures = [new Figure(pose.parents, 0x3a6ea5)];
  for (let i = 1; i < 5; i++) poseFigures.push(new Figure(pose.parents, 0x7a8ea5, 0.25));
  poseFigures.forEach((f) => { f.group.visible = false; poseScene.add(f.group); });
  const start = { left_hand: [0.25, 0.35, 1.0], right_hand: [0.35, -0.3, 1.25], left_foot: [0, 0.12, 0.08], right_foot: [0, -0.12, 0.08] };
  for (const name of TARGETS.filter((n) => poseNames.includes(n))) {
    const mesh = new THREE.Mesh(new THREE.SphereGeometry(0.05, 16, 12), new THREE.MeshStandardMaterial({ color: 0xe0a020 }));
    mesh.position.copy(toScene(start[name]));
    poseScene.add(mesh);
    targets[name] = { mesh, on: name === "right_hand" };
    mesh.visible = targets[name].on;
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" ${targets[name].on ? "checked" : ""}> ${name.replace("_", " ")}`;
    label.firstChild.onchange = (e) => { targets[name].on = mesh.visible = e.target.checked; requestPoses(); };
    $("pose-targets").appendChild(label);
  }
}

function requestPoses() {
  if (poseInFlight) { poseWanted = true; return; }
  const chosen = Object.fromEntries(Object.entries(targets).filter(([, t]) => t.on).map(([n, t]) => [n, fromScene(t.mesh.position)]));
  if (!Object.keys(chosen).length) return;
  const ceiling = $("pose-ceiling-on").checked ? Number($("pose-ceiling").value) : null;
  poseInFlight = true;
  send({ type: "pose", targets: chosen, ceiling });
}

function posed(message) {
  poseInFlight = false;
  live.poses = message;
  poseFigures.forEach((f, i) => {
    f.group.visible = i < message.poses.length;
    if (f.group.visible) f.set(message.poses[i]);
  });
  for (const [name, t] of Object.entries(targets)) {  // a target switched on starts where the pose has it
    if (!t.on) t.mesh.position.copy(toScene(message.poses[0][poseNames.indexOf(name)]));
  }
  $("pose-ms").textContent = `${message.ms.toFixed(0)} ms`;
  $("pose-ll").textContent = message.log_likelihood[0].toFixed(1);
  if (poseWanted) { poseWanted = false; requestPoses(); }
}

function startDrag(event) {
  raycaster.setFromCamera(pointer(event), camera);
  const meshes = Object.values(targets).filter((t) => t.on).map((t) => t.mesh);
  const hit = raycaster.intersectObjects(meshes)[0];
  if (!hit) return;
  dragging = hit.object;
  dragPlane.setFromNormalAndCoplanarPoint(camera.getWorldDirection(new THREE.Vector3()).negate(), hit.object.position);
}

function drag(event) {
  if (!dragging) return;
  raycaster.setFromCamera(pointer(event), camera);
  const point = raycaster.ray.intersectPlane(dragPlane, new THREE.Vector3());
  if (!point) return;
  point.clampScalar(-2.9, 2.9);
  point.y = Math.max(point.y, 0.02);
  dragging.position.copy(point);
  requestPoses();
}

function endDrag() { dragging = null; }

function sendPoseCeiling() {
  $("pose-ceiling").disabled = !$("pose-ceiling-on").checked;
  $("pose-ceiling-value").textContent = `${Number($("pose-ceiling").value).toFixed(2)} m`;
  requestPoses();
}
$("pose-ceiling-on").onchange = sendPoseCeiling;
$("pose-ceiling").oninput = sendPoseCeiling;

for (const tab of document.querySelectorAll(".tab")) {
  tab.onclick = () => {
    activeTab = tab.dataset.tab;
    document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t === tab));
    $("walk").hidden = activeTab !== "walk";
    $("pose").hidden = activeTab !== "pose";
    poseScene.visible = activeTab === "pose";
    if (character) character.group.visible = activeTab === "walk";
    flag.visible = activeTab === "walk" && live.flag !== null;
    if (activeTab === "pose") requestPoses();
  };
}

// Render loop: the camera follows the character (or looks at the pose) ------------------------
function render() {
  requestAnimationFrame(render);
  let target = new THREE.Vector3(0, 0.9, 0);
  if (activeTab === "walk" && live.lastFrame) target = toScene(live.lastFrame.root).setY(0.9);
  focus.lerp(target, live.rendered === 0 ? 1 : 0.08);
  const offset = activeTab === "walk" ? new THREE.Vector3(-4.5, 2.8, 4.5) : new THREE.Vector3(2.2, 0.8, 2.6);
  camera.position.copy(focus).add(offset);
  camera.lookAt(focus);
  sun.position.copy(focus).add(new THREE.Vector3(3, 8, 2));
  sun.target.position.copy(focus);
  renderer.render(scene, camera);
  live.rendered += 1;
}
connect();
render();
