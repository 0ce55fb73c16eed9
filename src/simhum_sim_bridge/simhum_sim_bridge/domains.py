"""Visual domains: how a scene looks (and, for proxy-real, how it behaves) by name and seed.

Training looks, one family per data source:

- ``sim``: the simulator look: flat colours (table, background, shades of the task objects)
  and lights varied per episode, no texture, no camera noise, nominal dynamics;
- ``human_wild``: where people record their hands: widely varied table and background colours
  and textures, lights, camera noise and white balance, and static clutter on the table;
- ``real``: the one lab of the few real-robot demonstrations: a fixed table, background and
  lights with small per-episode jitter, camera noise, and small dynamics differences
  (friction, actuator gains, control latency).

Evaluation looks, the lab look plus what no training look has:
``real_ood_background`` (unseen table-top and background textures: the camera sees mostly the
table), ``real_ood_distractors`` (loose distractor objects) and ``real_ood_lighting``
(lighting extremes). They are held out by construction: training colours of tables,
backgrounds and clutter are muted (HSV saturation <= MUTED_SATURATION) and never checkered,
unseen backgrounds and distractors are vivid (>= VIVID_SATURATION), distractor shapes are never
clutter shapes, and extreme lighting lies outside the training ranges of light and exposure.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field, replace

import mujoco
import numpy as np

from simhum_sim_bridge.tasks import yaw_quat

RGB = tuple[float, float, float]
Area = tuple[float, float, float, float]  # x_min, x_max, y_min, y_max on the table (m)

TRAINING_DOMAINS = ("sim", "human_wild", "real")
OOD_DOMAINS = ("real_ood_background", "real_ood_distractors", "real_ood_lighting")
DOMAINS = TRAINING_DOMAINS + OOD_DOMAINS

# Task object colours: the same hues in every training look (only their shade varies).
TASK_RGB: dict[str, RGB] = {
    "cube": (0.85, 0.15, 0.12),
    "block": (0.15, 0.35, 0.85),
    "bin": (0.30, 0.30, 0.32),
    "target": (0.10, 0.75, 0.25),
}
MUTED_SATURATION = 0.45  # most any training table, background or clutter colour has
VIVID_SATURATION = 0.65  # least any unseen background or distractor colour has
OOD_BACKGROUND_HUES = ((0.10, 0.18), (0.45, 0.54), (0.72, 0.90))  # away from the task hues
CLUTTER_SHAPES = ("box", "capsule", "ellipsoid")  # static, on human-recorded tables
DISTRACTOR_SHAPES = ("sphere", "cylinder")  # loose, in real_ood_distractors only
PROP_SIZES = {  # ranges of the MuJoCo geom sizes (m)
    "box": ((0.02, 0.05), (0.015, 0.035), (0.005, 0.02)),
    "capsule": ((0.006, 0.012), (0.03, 0.06), (0.0, 0.0)),
    "ellipsoid": ((0.015, 0.03), (0.012, 0.025), (0.01, 0.02)),
    "sphere": ((0.012, 0.025), (0.0, 0.0), (0.0, 0.0)),
    "cylinder": ((0.012, 0.022), (0.015, 0.035), (0.0, 0.0)),
}
# Training lighting and camera ranges; real_ood_lighting lies outside them (dim: less light
# in all, coloured, from a low angle; glaring: more light and an overexposed camera, since
# rendered colours saturate at the surface colour).
AMBIENT = (0.1, 0.28)
HEADLIGHT = (0.15, 0.4)
LIGHT = (0.3, 0.8)  # mean diffuse of the directional lights, summed
MAX_LIGHT_TINT = 0.2  # (max - min) / max of a training light's colour
WHITE_BALANCE = 0.06  # most any training camera's colour gain differs from 1
GLARE_GAIN = (1.5, 1.8)
# Props stay off the placement grid (x 0.30-0.58, |y| <= 0.24) and in the camera's view.
CLUTTER_AREAS: tuple[Area, ...] = (
    (0.0, 0.4, 0.34, 0.40),
    (0.0, 0.4, -0.40, -0.34),
    (0.69, 0.71, -0.25, 0.25),
)
DISTRACTOR_AREAS: tuple[Area, ...] = ((0.2, 0.45, 0.33, 0.39), (0.2, 0.45, -0.39, -0.33))
# The lab: one table, one backdrop, two ceiling lights.
LAB_TABLE_RGB: RGB = (0.52, 0.55, 0.58)
LAB_BACKGROUND_RGB: tuple[RGB, RGB] = ((0.80, 0.80, 0.77), (0.36, 0.34, 0.31))
LAB_LIGHTS: tuple[tuple[RGB, RGB], ...] = (
    ((-0.30, 0.20, -0.93), (0.45, 0.45, 0.42)),
    ((0.30, -0.25, -0.92), (0.30, 0.30, 0.28)),
)
LAB_AMBIENT, LAB_HEADLIGHT = 0.20, 0.28


@dataclass(frozen=True)
class Surface:
    """A textured surface: a MuJoCo builtin pattern of two colours, optional marks on it
    (random specks or tile edges), and how often it repeats across the table."""

    builtin: str  # "flat", "gradient" or "checker"
    rgb1: RGB
    rgb2: RGB
    mark: str = "none"  # "none", "random" or "edge"
    mark_rgb: RGB = (0.0, 0.0, 0.0)
    noise: float = 0.0  # fraction of randomly marked pixels
    repeat: float = 3.0

    def colours(self) -> tuple[RGB, ...]:
        """Every colour the surface can show."""
        return (self.rgb1, self.rgb2) + ((self.mark_rgb,) if self.mark != "none" else ())


@dataclass(frozen=True)
class Prop:
    """A small object on the table that is not a task object."""

    shape: str  # a MuJoCo geom type name: box, capsule (lying), ellipsoid, sphere, cylinder
    x: float
    y: float
    yaw: float
    size: tuple[float, float, float]  # MuJoCo geom size
    rgb: RGB


@dataclass(frozen=True)
class Look:
    """Everything a domain varies for one episode."""

    domain: str
    table: Surface
    background: Surface
    lights: tuple[tuple[RGB, RGB], ...]  # (direction, diffuse) of directional lights
    ambient: float
    headlight: float
    object_rgba: dict[str, tuple[float, float, float, float]]
    pixel_noise: float  # std of additive camera noise, in 0..255 units
    colour_gain: RGB
    friction_scale: float
    gain_scale: float
    latency_steps: int  # physics steps between a command and its effect
    clutter: tuple[Prop, ...] = field(default=())  # static
    distractors: tuple[Prop, ...] = field(default=())  # loose

    def postprocess(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Camera effects on a rendered uint8 image: colour gain and sensor noise."""
        if self.pixel_noise == 0 and self.colour_gain == (1.0, 1.0, 1.0):
            return rgb
        out = rgb.astype(np.float32) * np.asarray(self.colour_gain, dtype=np.float32)
        out += rng.normal(0.0, self.pixel_noise, rgb.shape).astype(np.float32)
        return np.clip(out, 0, 255).astype(np.uint8)


def saturation(rgb: RGB) -> float:
    """HSV saturation of a colour."""
    return colorsys.rgb_to_hsv(*rgb)[1]


def sample_look(domain: str, rng: np.random.Generator) -> Look:
    """The look of one episode of ``domain`` (deterministic for the generator's state)."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain '{domain}'; known domains: {DOMAINS}")
    if domain == "sim":
        return _sim_look(rng)
    if domain == "human_wild":
        return _wild_look(rng)
    look = _lab_look(domain, rng)
    if domain == "real_ood_background":
        table = _vivid_checker(rng, float(rng.uniform(4, 8)))
        return replace(look, table=table, background=_vivid_checker(rng, 1.0))
    if domain == "real_ood_distractors":
        count = int(rng.integers(2, 5))
        props = tuple(_prop(rng, DISTRACTOR_SHAPES, DISTRACTOR_AREAS, True) for _ in range(count))
        return replace(look, distractors=props)
    if domain == "real_ood_lighting":
        if rng.random() < 0.5:  # dim and strongly coloured, from a low angle
            tint = _hsv(rng.uniform(0, 1), rng.uniform(0.6, 0.8), rng.uniform(0.3, 0.45))
            lights = ((_light_dir(rng, (0.25, 0.5)), tint),)
            ambient, headlight = rng.uniform(0.02, 0.06), rng.uniform(0.04, 0.1)
            gain = look.colour_gain
        else:  # glaring
            lights = tuple((_light_dir(rng, (1.2, 1.5)), (1.0, 1.0, 1.0)) for _ in range(2))
            ambient, headlight = rng.uniform(0.55, 0.7), rng.uniform(0.6, 0.8)
            gain = (float(rng.uniform(*GLARE_GAIN)),) * 3
        return replace(
            look,
            lights=lights,
            ambient=float(ambient),
            headlight=float(headlight),
            colour_gain=gain,
        )
    return look


def default_split(domain: str) -> str:
    """The placement split a domain's demonstrations cover by default: simulation, where
    spatial coverage is cheap, the whole grid; every other look the inner grid."""
    return "all" if domain == "sim" else "in"


def _hsv(h: float, s: float, v: float) -> RGB:
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h, s, v))


def _muted(rng: np.random.Generator, value: tuple[float, float]) -> RGB:
    return _hsv(rng.uniform(0, 1), rng.uniform(0, MUTED_SATURATION), rng.uniform(*value))


def _vivid(rng: np.random.Generator, hue: tuple[float, float] = (0.0, 1.0)) -> RGB:
    return _hsv(rng.uniform(*hue), rng.uniform(VIVID_SATURATION, 1.0), rng.uniform(0.55, 0.95))


def _scaled(rgb: RGB, factor: float) -> RGB:
    return tuple(float(np.clip(c * factor, 0, 1)) for c in rgb)


def _jitter(rgb: RGB, rng: np.random.Generator, amount: float) -> RGB:
    return tuple(
        float(c) for c in np.clip(np.asarray(rgb) + rng.uniform(-amount, amount, 3), 0, 1)
    )


def _shaded_objects(
    rng: np.random.Generator, amount: float
) -> dict[str, tuple[float, float, float, float]]:
    """The task colours, each a little lighter or darker: same hue, varied shade."""
    return {
        k: (*_scaled(v, rng.uniform(1 - amount, 1 + amount)), 1.0) for k, v in TASK_RGB.items()
    }


def _light_dir(rng: np.random.Generator, elevation: tuple[float, float]) -> RGB:
    azimuth, up = rng.uniform(-np.pi, np.pi), rng.uniform(*elevation)
    return (
        float(np.cos(up) * np.cos(azimuth)),
        float(np.cos(up) * np.sin(azimuth)),
        float(-np.sin(up)),
    )


def _training_lights(
    rng: np.random.Generator, elevation: tuple[float, float], tint: float
) -> tuple[tuple[RGB, RGB], ...]:
    """One or two directional lights of ordinary total strength, white to slightly warm or
    cool (``tint``: the largest relative shift of red up and blue down, or back)."""
    shares = rng.dirichlet(np.ones(int(rng.integers(1, 3))))
    total = rng.uniform(*LIGHT)
    lights = []
    for share in shares:
        strength, warmth = total * share, tint * rng.uniform(-1, 1)
        colour = (strength * (1 + warmth), strength, strength * (1 - warmth))
        lights.append((_light_dir(rng, elevation), tuple(float(c) for c in colour)))
    return tuple(lights)


def _vivid_checker(rng: np.random.Generator, repeat: float) -> Surface:
    """An unseen texture: a checkerboard of two vivid colours from different hue bands."""
    first, second = rng.choice(len(OOD_BACKGROUND_HUES), size=2, replace=False)
    return Surface(
        "checker",
        _vivid(rng, OOD_BACKGROUND_HUES[first]),
        _vivid(rng, OOD_BACKGROUND_HUES[second]),
        repeat=repeat,
    )


def _prop(
    rng: np.random.Generator, shapes: tuple[str, ...], areas: tuple[Area, ...], vivid: bool
) -> Prop:
    """A small prop of one of ``shapes`` somewhere in ``areas``."""
    spans = np.array([(a[1] - a[0]) * (a[3] - a[2]) for a in areas])
    x0, x1, y0, y1 = areas[rng.choice(len(areas), p=spans / spans.sum())]
    shape = str(rng.choice(shapes))
    return Prop(
        shape,
        float(rng.uniform(x0, x1)),
        float(rng.uniform(y0, y1)),
        float(rng.uniform(-np.pi, np.pi)),
        tuple(float(rng.uniform(lo, hi)) for lo, hi in PROP_SIZES[shape]),
        _vivid(rng) if vivid else _muted(rng, (0.15, 0.95)),
    )


def _sim_look(rng: np.random.Generator) -> Look:
    """Flat colours and varied lights; no texture, noise or dynamics differences."""
    table = _muted(rng, (0.35, 0.8))
    return Look(
        domain="sim",
        table=Surface("flat", table, table),
        background=Surface("gradient", _muted(rng, (0.3, 0.8)), _muted(rng, (0.05, 0.3))),
        lights=_training_lights(rng, (0.8, 1.5), tint=0.0),
        ambient=float(rng.uniform(*AMBIENT)),
        headlight=float(rng.uniform(*HEADLIGHT)),
        object_rgba=_shaded_objects(rng, 0.1),
        pixel_noise=0.0,
        colour_gain=(1.0, 1.0, 1.0),
        friction_scale=1.0,
        gain_scale=1.0,
        latency_steps=0,
    )


def _wild_look(rng: np.random.Generator) -> Look:
    """Anywhere people record: any muted table and background, tiles or specks, any light."""
    table = _muted(rng, (0.25, 0.92))
    mark = str(rng.choice(["none", "random", "edge"]))
    background = _muted(rng, (0.3, 0.95))
    return Look(
        domain="human_wild",
        table=Surface(
            "flat",
            table,
            table,
            mark,
            _scaled(table, rng.uniform(0.6, 0.85)),
            float(rng.uniform(0.05, 0.35)),
            float(rng.uniform(2, 8)),
        ),
        background=Surface(
            "gradient",
            background,
            _muted(rng, (0.05, 0.5)),
            "random",
            _scaled(background, 0.8),
            float(rng.uniform(0.0, 0.3)),
        ),
        lights=_training_lights(rng, (0.6, 1.45), tint=0.08),
        ambient=float(rng.uniform(*AMBIENT)),
        headlight=float(rng.uniform(*HEADLIGHT)),
        object_rgba=_shaded_objects(rng, 0.1),
        pixel_noise=float(rng.uniform(1.0, 6.0)),
        colour_gain=_jitter((1.0, 1.0, 1.0), rng, WHITE_BALANCE),
        friction_scale=1.0,
        gain_scale=1.0,
        latency_steps=0,
        clutter=tuple(
            _prop(rng, CLUTTER_SHAPES, CLUTTER_AREAS, False) for _ in range(rng.integers(2, 7))
        ),
    )


def _lab_look(domain: str, rng: np.random.Generator) -> Look:
    """The lab with small per-episode jitter, camera noise and dynamics differences."""
    table = _jitter(LAB_TABLE_RGB, rng, 0.015)
    top, bottom = (_jitter(c, rng, 0.015) for c in LAB_BACKGROUND_RGB)
    lights = []
    for direction, diffuse in LAB_LIGHTS:
        moved = np.asarray(direction) + rng.normal(0.0, 0.03, 3)
        lights.append(
            (
                tuple(float(v) for v in moved / np.linalg.norm(moved)),
                _scaled(diffuse, rng.uniform(0.95, 1.05)),
            )
        )
    return Look(
        domain=domain,
        table=Surface("flat", table, table, "random", _scaled(table, 0.85), 0.12),
        background=Surface("gradient", top, bottom, "random", bottom, 0.1),
        lights=tuple(lights),
        ambient=float(LAB_AMBIENT + rng.uniform(-0.02, 0.02)),
        headlight=float(LAB_HEADLIGHT + rng.uniform(-0.02, 0.02)),
        object_rgba=_shaded_objects(rng, 0.04),
        pixel_noise=float(rng.uniform(2.0, 4.0)),
        colour_gain=_jitter((1.0, 1.0, 1.0), rng, 0.02),
        friction_scale=float(rng.uniform(0.8, 1.2)),
        gain_scale=float(rng.uniform(0.9, 1.1)),
        latency_steps=int(rng.integers(3, 11)),  # 6-20 ms at 500 Hz
    )


def apply_look(spec: mujoco.MjSpec, look: Look, table: mujoco.MjsGeom) -> None:
    """Textures, lights, clutter and distractors of ``look`` on a scene spec."""
    _add_texture(spec, "table_tex", mujoco.mjtTexture.mjTEXTURE_2D, look.table)
    table_mat = spec.add_material(
        name="table_mat", texrepeat=[look.table.repeat] * 2, reflectance=0.0
    )
    table_mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "table_tex"
    table.material = "table_mat"
    _add_texture(spec, "skybox", mujoco.mjtTexture.mjTEXTURE_SKYBOX, look.background)
    spec.visual.headlight.diffuse = [look.headlight] * 3
    spec.visual.headlight.ambient = [look.ambient] * 3
    spec.visual.headlight.specular = [0.1] * 3
    for i, (direction, diffuse) in enumerate(look.lights):
        spec.worldbody.add_light(
            name=f"light{i}",
            type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
            dir=list(direction),
            pos=[0, 0, 2],
            diffuse=list(diffuse),
            specular=[0.2] * 3,
            castshadow=False,
        )
    for i, prop in enumerate(look.clutter):
        _add_prop(spec.worldbody, f"clutter{i}", prop, loose=False)
    for i, prop in enumerate(look.distractors):
        _add_prop(spec.worldbody, f"distractor{i}", prop, loose=True)


def _add_texture(
    spec: mujoco.MjSpec, name: str, kind: mujoco.mjtTexture, surface: Surface
) -> None:
    spec.add_texture(
        name=name,
        type=kind,
        builtin=getattr(mujoco.mjtBuiltin, f"mjBUILTIN_{surface.builtin.upper()}"),
        rgb1=list(surface.rgb1),
        rgb2=list(surface.rgb2),
        mark=getattr(mujoco.mjtMark, f"mjMARK_{surface.mark.upper()}"),
        markrgb=list(surface.mark_rgb),
        random=surface.noise,
        width=256,
        height=256,
    )


def _add_prop(world: mujoco.MjsBody, name: str, prop: Prop, loose: bool) -> None:
    """A prop resting on the table; a capsule lies on its side."""
    # the index of the size that is its resting height
    rest = {"box": 2, "ellipsoid": 2, "sphere": 0, "cylinder": 1, "capsule": 0}[prop.shape]
    body = world.add_body(
        name=name, pos=[prop.x, prop.y, prop.size[rest]], quat=yaw_quat(prop.yaw)
    )
    if loose:
        body.add_freejoint()
    lying = [float(np.cos(np.pi / 4)), float(np.sin(np.pi / 4)), 0.0, 0.0]
    body.add_geom(
        type=getattr(mujoco.mjtGeom, f"mjGEOM_{prop.shape.upper()}"),
        size=list(prop.size),
        quat=lying if prop.shape == "capsule" else [1.0, 0.0, 0.0, 0.0],
        rgba=[*prop.rgb, 1.0],
        density=300.0,
    )
