"""A Recommended Display CIELab Value as 8-bit RGB, computed as highdicom computes it, without importing highdicom.

Reading a SEG's segments needs their colours; highdicom's ``CIELabColor``
would make ``info`` import highdicom (and through it numpy and Pillow) for a
few lines of arithmetic. These are highdicom's formulas (after PixelMed's
ColorUtilities: CIELab with the D65 white point, then sRGB), operation for
operation, so that the results are the same to the last bit; a test holds
them to highdicom's over the whole range.
"""

from __future__ import annotations

CIELAB_MAX = 0xFFFF
"""Each of L*, a*, b* is stored as a 16-bit unsigned value (PS3.3 C.10.7.1.1)."""
RGB_MAX = 255

_WHITE_POINT = (95.047, 100.0, 108.883)
"""CIE XYZ of the D65 white point, Y scaled to 100."""
_LAB_CUBE_THRESHOLD = 0.008856
"""Below this a CIELab component's cube gives way to the straight line near black."""
_SRGB_LINEAR_THRESHOLD = 0.0031308
"""Below this sRGB's gamma curve gives way to its straight line near black."""


def rgb_from_cielab(value: tuple[int, int, int]) -> tuple[int, int, int]:
    """The DICOM CIELab triplet ``value`` (three integers 0..0xFFFF) as RGB 0..255, out-of-gamut components clipped.

    What ``highdicom.color.CIELabColor.from_dicom_value(value).to_rgb(clip=True)`` gives, as integers.
    """
    l_star = value[0] * (100.0 / CIELAB_MAX)
    a_star = value[1] * (255.0 / CIELAB_MAX) - 128.0
    b_star = value[2] * (255.0 / CIELAB_MAX) - 128.0
    x, y, z = _xyz_from_lab(l_star, a_star, b_star)
    red, green, blue = _rgb_from_xyz(x, y, z)
    return _clipped(red), _clipped(green), _clipped(blue)


def _xyz_from_lab(l_star: float, a_star: float, b_star: float) -> tuple[float, float, float]:
    y = (l_star + 16) / 116
    x = a_star / 500 + y
    z = y - b_star / 200

    def linear(component: float) -> float:
        cubed = component ** 3
        if cubed > _LAB_CUBE_THRESHOLD:
            return cubed
        return (component - 16.0 / 116) / 7.787

    white_x, white_y, white_z = _WHITE_POINT
    return white_x * linear(x), white_y * linear(y), white_z * linear(z)


def _rgb_from_xyz(x: float, y: float, z: float) -> tuple[float, float, float]:
    x = x / 100
    y = y / 100
    z = z / 100
    red = x * 3.2406 + y * -1.5372 + z * -0.4986
    green = x * -0.9689 + y * 1.8758 + z * 0.0415
    blue = x * 0.0557 + y * -0.2040 + z * 1.0570

    def gamma(component: float) -> float:
        if component > _SRGB_LINEAR_THRESHOLD:
            return 1.055 * (component ** (1 / 2.4)) - 0.055
        return 12.92 * component

    return gamma(red) * 255, gamma(green) * 255, gamma(blue) * 255


def _clipped(component: float) -> int:
    """The component rounded, or clipped to 0..255 where rounding leaves that range (highdicom's ``clip=True``)."""
    rounded = round(component)
    if 0 <= rounded <= RGB_MAX:
        return rounded
    return int(max(min(component, RGB_MAX), 0))
