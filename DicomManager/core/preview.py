"""A picture of a segmentation: axial, coronal and sagittal slices through its centre, with a legend.

Slices are taken after turning the volume to patient orientation by axis
permutations and flips only (no resampling), and shown the radiological way:
patient's right on the image's left, anterior and superior up. Each panel is
scaled by the voxel spacing so anatomy keeps its proportions. Segments are
drawn in their recommended colours over the image (grey levels in the
series' window, its WindowCenter and WindowWidth, or else from the 1st to the
99th percentile), or over black when there is no image.
"""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom import Dataset
from pydicom.multival import MultiValue

from .segments.layered_segmentation import LayeredSegmentation
from .writing.file_output import write_atomically

PANEL_SIZE = 320
"""Longest side of each panel, in pixels."""
OVERLAY_OPACITY = 0.55
_DEFAULT_COLOR = (255, 200, 0)


Window = tuple[float, float]
"""A grey-level window: centre and width, in the image's (rescaled) values, as WindowCenter and WindowWidth."""


def write_preview(
    segmentation: LayeredSegmentation,
    output: Path,
    *,
    image: hd.Volume | None = None,
    window: Window | None = None,
    title: str = "",
    overwrite: bool = False,
) -> Path:
    """Render the segmentation to a PNG at ``output``, over ``image`` (shown in ``window``) when given."""
    picture = render_preview(segmentation, image, title, window)
    write_atomically(Path(output), lambda path: picture.save(path, format="PNG"), overwrite)
    return Path(output)


def render_preview(
    segmentation: LayeredSegmentation, image: hd.Volume | None = None, title: str = "", window: Window | None = None
) -> Image.Image:
    """The three panels side by side, a title above and a legend of segment names below."""
    layers, segments = segmentation.layers, segmentation.segments
    oriented = [layer.to_patient_orientation("LPH") for layer in layers]
    background = image.match_geometry(layers[0].get_geometry()).to_patient_orientation("LPH") if image else None
    labelled = np.logical_or.reduce([layer.array != 0 for layer in oriented])
    centre = [int(round(np.mean(axis))) for axis in np.nonzero(labelled)] if labelled.any() else [
        size // 2 for size in labelled.shape
    ]
    colors = {segment.number: segment.color or _DEFAULT_COLOR for segment in segments}
    grey_range = _grey_range(background, window) if background is not None else None
    panels = [
        _panel(oriented, background, grey_range, colors, view, centre) for view in ("axial", "coronal", "sagittal")
    ]
    return _compose(panels, ["Axial", "Coronal", "Sagittal"], segments, colors, title)


def image_window(dataset: Dataset) -> Window | None:
    """The first window a series' image gives (WindowCenter, WindowWidth; a multi-frame image's shared one), if any."""
    shared = dataset.get("SharedFunctionalGroupsSequence")
    voi = shared[0].get("FrameVOILUTSequence") if shared else None
    holder = voi[0] if voi else dataset
    centre, width = holder.get("WindowCenter"), holder.get("WindowWidth")
    if centre is None or width is None:
        return None
    centre, width = (value[0] if isinstance(value, MultiValue) else value for value in (centre, width))
    return (float(centre), float(width)) if float(width) > 0 else None


def _grey_range(background: hd.Volume, window: Window | None) -> tuple[float, float]:
    """The values shown black and white: the window's edges, or the 1st and 99th percentiles of the image."""
    if window is not None:
        centre, width = window
        return centre - width / 2, centre + width / 2
    low, high = np.percentile(background.array, [1, 99])
    return float(low), float(high)


def _panel(layers, background, grey_range, colors, view, centre) -> Image.Image:
    """One view as an RGB image, already scaled to physical proportions."""
    i, j, k = centre
    spacing = layers[0].spacing
    # Arrays are (L, P, H) after orientation: index grows toward patient left, posterior, head.
    take = {
        "axial": (lambda a: a[:, :, k].T, (spacing[1], spacing[0])),  # rows anterior->posterior, cols right->left
        "coronal": (lambda a: a[:, j, :].T[::-1], (spacing[2], spacing[0])),  # rows head->feet
        "sagittal": (lambda a: a[i, :, :].T[::-1], (spacing[2], spacing[1])),  # rows head->feet, cols anterior->posterior
    }
    cut, (row_mm, column_mm) = take[view]
    if background is not None:
        values = cut(background.array).astype(float)
        low, high = grey_range
        grey = np.clip((values - low) / max(high - low, 1e-6), 0, 1) * 255
    else:
        grey = np.zeros(cut(layers[0].array).shape)
    rgb = np.repeat(grey[..., np.newaxis], 3, axis=2)
    for layer in layers:
        labels = cut(layer.array)
        for number in np.unique(labels[labels != 0]):
            mask = labels == number
            color = np.array(colors.get(int(number), _DEFAULT_COLOR), dtype=float)
            rgb[mask] = (1 - OVERLAY_OPACITY) * rgb[mask] + OVERLAY_OPACITY * color
    picture = Image.fromarray(rgb.astype(np.uint8), "RGB")
    height_mm, width_mm = picture.height * row_mm, picture.width * column_mm
    scale = PANEL_SIZE / max(height_mm, width_mm)
    return picture.resize((max(1, round(width_mm * scale)), max(1, round(height_mm * scale))), Image.NEAREST)


def _compose(panels, names, segments, colors, title) -> Image.Image:
    font = _font(14)
    margin, gap, swatch = 12, 10, 12
    top = margin + (24 if title else 0) + 20
    legend_rows = [f"{segment.number}  {segment.label}" for segment in segments]
    columns = 3
    legend_height = ((len(legend_rows) + columns - 1) // columns) * 20 + margin
    width = margin * 2 + sum(panel.width for panel in panels) + gap * (len(panels) - 1)
    height = top + max(panel.height for panel in panels) + margin + legend_height
    canvas = Image.new("RGB", (width, height), (0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((margin, margin), title, fill=(255, 255, 255), font=_font(16))
    x = margin
    for panel, name in zip(panels, names, strict=True):
        draw.text((x, top - 20), name, fill=(200, 200, 200), font=font)
        canvas.paste(panel, (x, top))
        x += panel.width + gap
    legend_top = top + max(panel.height for panel in panels) + margin
    column_width = (width - 2 * margin) // columns
    for index, (segment, text) in enumerate(zip(segments, legend_rows, strict=True)):
        x = margin + (index % columns) * column_width
        y = legend_top + (index // columns) * 20
        draw.rectangle((x, y + 2, x + swatch, y + 2 + swatch), fill=tuple(colors[segment.number]))
        draw.text((x + swatch + 6, y), text, fill=(255, 255, 255), font=font)
    return canvas


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1 has only the fixed bitmap font
        return ImageFont.load_default()
