"""Slicer's segmentation file (``.seg.nrrd``) written from label layers, without Slicer.

The command line turns a SEG into a ``.seg.nrrd``. Doing that through
slicer-core (a segmentation node and Slicer's storage node) costs 0.8 s of
importing VTK and MRML before any work, half of the whole conversion for a
512x512x300 CT; this module writes the same file with numpy and zlib alone.

What is written is what Slicer's ``vtkMRMLSegmentationStorageNode`` writes for
the node :func:`~DicomManager.mrml.segmentation_nodes.create_layered_segmentation_node`
builds from the same layers, and the tests hold the two to it, read back by
Slicer: a NRRD in LPS space holding the labels cropped to the box of the
labelled voxels (``Segmentation_ReferenceImageExtentOffset`` says where the
box starts on the full grid), one layer as a 3D image and several as a 4D one
with the layers on a first ``list`` axis, and per segment its ID
(``Segment_<number>``), name, colour, label value (its number), layer, extent
and tags (terminology and the ``DICOM.*`` attributes). Slicer's conversion
parameters are left out: Slicer reads the file with its defaults, as it does
the node.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import highdicom as hd
import numpy as np

from ..errors import SegmentationFileError
from .file_output import write_atomically
from .label_layers import values_not_in
from .segment_metadata import SegmentMetadata
from .segment_tags import segment_tags

GZIP_LEVEL = 7
"""zlib level of the voxel data: 4% larger than Slicer's own files, written as fast as level 6 (8 takes twice as long)."""
BINARY_LABELMAP = "Binary labelmap"
_NRRD_TYPES = {np.dtype(np.uint8): "unsigned char", np.dtype(np.uint16): "unsigned short"}


def write_seg_nrrd(
    path: Path,
    layers: Sequence[hd.Volume],
    segments: Sequence[SegmentMetadata],
    layer_of_segment: dict[int, int],
    *,
    overwrite: bool = False,
) -> None:
    """Write ``segments``, whose numbers label ``layers`` (all on one grid), as a Slicer ``.seg.nrrd`` file.

    Values that name none of a layer's segments (padding, a background
    segment) become 0, "no segment", as in the segmentation node. The file is
    written completely or not at all; an existing ``path`` is replaced only
    with ``overwrite``.
    """
    path = Path(path)
    if not segments:
        raise SegmentationFileError(f"{path}: there are no segments to write.")
    affine = layers[0].affine
    if any(not np.array_equal(layer.affine, affine) or layer.spatial_shape != layers[0].spatial_shape for layer in layers):
        raise SegmentationFileError(f"{path}: the label layers are not on one grid.")
    # Slicer numbers layers in the order their first segment comes.
    file_layer: dict[int, int] = {}
    for segment in segments:
        file_layer.setdefault(layer_of_segment[segment.number], len(file_layer))
    layer_of_number = {segment.number: file_layer[layer_of_segment[segment.number]] for segment in segments}
    wide = any(layers[index].array.dtype.itemsize > 1 for index in file_layer)
    dtype = np.dtype(np.uint16) if wide else np.dtype(np.uint8)
    arrays = [
        _only_segment_values(layers[index].array, [n for n, i in layer_of_number.items() if i == position], dtype)
        for index, position in file_layer.items()
    ]
    box = _labelled_box(arrays)
    header = _header(affine, box, len(arrays), dtype, segments, layer_of_number)

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as file:
            file.write(header.encode("utf-8"))
            compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing, as NRRD's
            for chunk in _voxel_chunks(arrays, box):
                file.write(compressor.compress(chunk))
            file.write(compressor.flush())

    write_atomically(path, write, overwrite)


def _only_segment_values(array: np.ndarray, numbers: list[int], dtype: np.dtype) -> np.ndarray:
    if values_not_in(array, numbers):
        array = np.where(np.isin(array, numbers), array, 0)
    return array.astype(dtype, copy=False)


def _labelled_box(arrays: Sequence[np.ndarray]) -> tuple[slice, slice, slice]:
    """The smallest box, per array axis, holding every labelled voxel; the first voxel when none is labelled."""
    box = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        occupied = np.flatnonzero(np.logical_or.reduce([array.any(axis=others) for array in arrays]))
        box.append(slice(int(occupied[0]), int(occupied[-1]) + 1) if occupied.size else slice(0, 1))
    return box[0], box[1], box[2]


def _voxel_chunks(arrays: Sequence[np.ndarray], box: tuple[slice, slice, slice]) -> Iterable[bytes]:
    """The boxed voxels in NRRD order, a slice at a time: column fastest, and with layers, the layer before it."""
    for k in range(box[0].start, box[0].stop):
        planes = [array[k, box[1], box[2]] for array in arrays]
        yield (np.ascontiguousarray(planes[0]) if len(planes) == 1 else np.stack(planes, axis=-1)).tobytes()


def _header(
    affine: np.ndarray,
    box: tuple[slice, slice, slice],
    layer_count: int,
    dtype: np.dtype,
    segments: Sequence[SegmentMetadata],
    layer_of_number: dict[int, int],
) -> str:
    # NRRD axes run fastest first: column (I), row (J), slice (K), the reverse of the array's.
    sizes = [box[2].stop - box[2].start, box[1].stop - box[1].start, box[0].stop - box[0].start]
    directions = [affine[:3, 2], affine[:3, 1], affine[:3, 0]]
    origin = affine[:3, :3] @ [box[0].start, box[1].start, box[2].start] + affine[:3, 3]
    spatial_directions = " ".join(_vector(direction) for direction in directions)
    fields = [
        "NRRD0004",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
        f"type: {_NRRD_TYPES[dtype]}",
        f"dimension: {3 if layer_count == 1 else 4}",
        "space: left-posterior-superior",
        "sizes: " + " ".join(map(str, sizes if layer_count == 1 else [layer_count, *sizes])),
        "space directions: " + (spatial_directions if layer_count == 1 else f"none {spatial_directions}"),
        "kinds: " + ("domain domain domain" if layer_count == 1 else "list domain domain domain"),
        *(["endian: little"] if dtype.itemsize > 1 else []),
        "encoding: gzip",
        f"space origin: {_vector(origin)}",
    ]
    extent = " ".join(f"0 {size - 1}" for size in sizes)
    for index, segment in enumerate(segments):
        # Without a recommended colour, Slicer's "no colour" grey: Slicer picks one on loading, as it does for the node.
        color = [component / 255.0 for component in segment.color] if segment.color is not None else [0.5] * 3
        tags = "".join(f"{tag}:{value}|" for tag, value in sorted(segment_tags(segment).items()))
        fields += [
            f"Segment{index}_Color:=" + " ".join(map(repr, color)),
            f"Segment{index}_ColorAutoGenerated:=1",
            f"Segment{index}_Extent:={extent}",
            f"Segment{index}_ID:=Segment_{segment.number}",
            f"Segment{index}_LabelValue:={segment.number}",
            f"Segment{index}_Layer:={layer_of_number[segment.number]}",
            f"Segment{index}_Name:={_value(segment.label)}",
            f"Segment{index}_NameAutoGenerated:=1",
            f"Segment{index}_Tags:={_value(tags)}",
        ]
    fields += [
        f"Segmentation_ContainedRepresentationNames:={BINARY_LABELMAP}|",
        f"Segmentation_MasterRepresentation:={BINARY_LABELMAP}",
        f"Segmentation_ReferenceImageExtentOffset:={box[2].start} {box[1].start} {box[0].start}",
    ]
    return "\n".join(fields) + "\n\n"


def _vector(values: Iterable[float]) -> str:
    # repr gives the shortest text that reads back as the same double.
    return "(" + ",".join(repr(float(value)) for value in values) + ")"


def _value(text: str) -> str:
    """A NRRD key/value value on one line: backslash and newline escaped as teem reads them."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")
