"""Visual domains: how a scene looks (and, for proxy-real, how it behaves) by name and seed.

- ``sim``: the plain simulator look;
- ``real``: proxy-real: textured table and background, varied lighting and materials, camera
  noise, and small dynamics differences (friction, actuator gains, control latency);
- ``real_ood_background`` / ``real_ood_distractors`` / ``real_ood_lighting``: the proxy-real
  look with unseen background textures, distractor objects, or extreme lighting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

DOMAINS = ("sim", "real", "real_ood_background", "real_ood_distractors", "real_ood_lighting")

# Table and background palettes (RGB): training ("real") and held-out ("ood") colours differ.
REAL_TABLE = [(0.55, 0.40, 0.26), (0.62, 0.52, 0.40), (0.45, 0.45, 0.47), (0.70, 0.66, 0.60)]
REAL_BACKGROUND = [(0.80, 0.80, 0.78), (0.62, 0.66, 0.70), (0.74, 0.70, 0.62)]
OOD_BACKGROUND = [(0.15, 0.35, 0.75), (0.70, 0.15, 0.55), (0.10, 0.55, 0.25), (0.9, 0.75, 0.1)]


@dataclass(frozen=True)
class Look:
    """Everything a domain varies for one episode."""

    domain: str
    table_rgb: tuple[float, float, float]
    table_texture: str  # "flat" or "checker"
    background_rgb: tuple[tuple[float, float, float], tuple[float, float, float]]
    background_texture: str  # "gradient" or "checker"
    texture_noise: float  # random marks on the textures, 0..1
    lights: tuple[tuple[tuple[float, float, float], tuple[float, float, float]], ...]
    ambient: float
    headlight: float
    object_rgba: dict[str, tuple[float, float, float, float]]
    pixel_noise: float  # std of additive camera noise, in 0..255 units
    colour_gain: tuple[float, float, float]
    friction_scale: float
    gain_scale: float
    latency_steps: int  # physics steps between a command and its effect
    distractors: tuple[tuple[float, float, float, float, float, float], ...] = field(default=())

    def postprocess(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Camera effects on a rendered uint8 image: colour gain and sensor noise."""
        if self.pixel_noise == 0 and self.colour_gain == (1.0, 1.0, 1.0):
            return rgb
        out = rgb.astype(np.float32) * np.asarray(self.colour_gain, dtype=np.float32)
        out += rng.normal(0.0, self.pixel_noise, rgb.shape).astype(np.float32)
        return np.clip(out, 0, 255).astype(np.uint8)


def sample_look(domain: str, rng: np.random.Generator) -> Look:
    """The look of one episode of ``domain`` (deterministic for the generator's state)."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain '{domain}'; known domains: {DOMAINS}")
    base_objects = {
        "cube": (0.85, 0.15, 0.12, 1.0),
        "block": (0.15, 0.35, 0.85, 1.0),
        "bin": (0.30, 0.30, 0.32, 1.0),
        "target": (0.10, 0.75, 0.25, 1.0),
    }
    if domain == "sim":
        return Look(
            domain=domain,
            table_rgb=(0.5, 0.5, 0.5),
            table_texture="flat",
            background_rgb=((0.3, 0.4, 0.5), (0.1, 0.1, 0.1)),
            background_texture="gradient",
            texture_noise=0.0,
            lights=(((0.0, 0.0, -1.0), (0.7, 0.7, 0.7)),),
            ambient=0.2,
            headlight=0.4,
            object_rgba=base_objects,
            pixel_noise=0.0,
            colour_gain=(1.0, 1.0, 1.0),
            friction_scale=1.0,
            gain_scale=1.0,
            latency_steps=0,
        )

    def jitter(rgb, amount: float) -> tuple[float, float, float]:
        return tuple(
            float(c) for c in np.clip(np.asarray(rgb) + rng.uniform(-amount, amount, 3), 0, 1)
        )

    def light_dir(elevation_range: tuple[float, float]) -> tuple[float, float, float]:
        azimuth = rng.uniform(-np.pi, np.pi)
        elevation = rng.uniform(*elevation_range)
        d = [
            np.cos(elevation) * np.cos(azimuth),
            np.cos(elevation) * np.sin(azimuth),
            -np.sin(elevation),
        ]
        return tuple(float(v) for v in d)

    warm = rng.uniform(0.9, 1.0)
    lights = tuple(
        (light_dir((0.7, 1.4)), (float(rng.uniform(0.45, 0.7)),) * 2 + (0.45 * warm,))
        for _ in range(int(rng.integers(1, 3)))
    )
    ambient, headlight = float(rng.uniform(0.15, 0.3)), float(rng.uniform(0.2, 0.4))
    background = (
        jitter(REAL_BACKGROUND[rng.integers(len(REAL_BACKGROUND))], 0.05),
        jitter((0.35, 0.33, 0.30), 0.05),
    )
    background_texture = "gradient"
    if domain == "real_ood_background":
        first = int(rng.integers(len(OOD_BACKGROUND)))
        second = (first + 1 + int(rng.integers(len(OOD_BACKGROUND) - 1))) % len(OOD_BACKGROUND)
        background = (OOD_BACKGROUND[first], OOD_BACKGROUND[second])
        background_texture = "checker"
    if domain == "real_ood_lighting":
        if rng.random() < 0.5:  # dim and coloured, from a low angle
            tint = jitter((0.9, 0.35, 0.25), 0.1)
            lights = ((light_dir((0.15, 0.35)), tuple(0.8 * c for c in tint)),)
            ambient, headlight = 0.1, 0.15
        else:  # glaring
            lights = ((light_dir((1.2, 1.5)), (1.0, 1.0, 1.0)),) * 2
            ambient, headlight = 0.6, 0.6
    distractors = ()
    if domain == "real_ood_distractors":
        distractors = tuple(
            # beside the placement grid, so they never start on a task object
            (
                float(rng.uniform(0.25, 0.6)),
                float(rng.choice([-1, 1]) * rng.uniform(0.3, 0.4)),
                float(rng.uniform(0.012, 0.025)),
                *jitter((0.5, 0.5, 0.5), 0.5),
            )
            for _ in range(int(rng.integers(2, 5)))
        )
    return Look(
        domain=domain,
        table_rgb=jitter(REAL_TABLE[rng.integers(len(REAL_TABLE))], 0.04),
        table_texture="flat",
        background_rgb=background,
        background_texture=background_texture,
        texture_noise=float(rng.uniform(0.05, 0.2)),
        lights=lights,
        ambient=ambient,
        headlight=headlight,
        object_rgba={k: (*jitter(v[:3], 0.06), 1.0) for k, v in base_objects.items()},
        pixel_noise=float(rng.uniform(2.0, 5.0)),
        colour_gain=jitter((1.0, 1.0, 1.0), 0.05),
        friction_scale=float(rng.uniform(0.8, 1.2)),
        gain_scale=float(rng.uniform(0.9, 1.1)),
        latency_steps=int(rng.integers(3, 11)),  # 6-20 ms at 500 Hz
        distractors=distractors,
    )


def apply_look(spec: mujoco.MjSpec, look: Look, table: mujoco.MjsGeom) -> None:
    """Textures, lights and distractors of ``look`` on a scene spec."""
    builtin = {
        "flat": mujoco.mjtBuiltin.mjBUILTIN_FLAT,
        "checker": mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        "gradient": mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
    }
    mark = mujoco.mjtMark.mjMARK_RANDOM if look.texture_noise else mujoco.mjtMark.mjMARK_NONE
    darker = tuple(0.8 * c for c in look.table_rgb)
    spec.add_texture(
        name="table_tex",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=builtin[look.table_texture],
        rgb1=list(look.table_rgb),
        rgb2=list(darker),
        mark=mark,
        markrgb=list(darker),
        random=look.texture_noise,
        width=256,
        height=256,
    )
    table_mat = spec.add_material(name="table_mat", texrepeat=[3, 3], reflectance=0.0)
    table_mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "table_tex"
    table.material = "table_mat"
    spec.add_texture(
        name="skybox",
        type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
        builtin=builtin[look.background_texture],
        rgb1=list(look.background_rgb[0]),
        rgb2=list(look.background_rgb[1]),
        mark=mark,
        markrgb=list(look.background_rgb[1]),
        random=look.texture_noise,
        width=256,
        height=256,
    )
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
    for i, (x, y, r, *rgb) in enumerate(look.distractors):
        body = spec.worldbody.add_body(name=f"distractor{i}", pos=[x, y, r])
        body.add_freejoint()
        body.add_geom(
            type=mujoco.mjtGeom.mjGEOM_SPHERE if i % 2 else mujoco.mjtGeom.mjGEOM_CYLINDER,
            size=[r, r, 0],
            rgba=[*rgb, 1.0],
            density=300.0,
        )
