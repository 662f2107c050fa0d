"""Slicer's segmentation file (``.seg.nrrd``) read and written without Slicer.

The command line turns SEGs into ``.seg.nrrd`` files and back. Doing that
through slicer-core (a segmentation node and Slicer's storage node) first
imports VTK and MRML, which takes longer than the conversion itself; this
module does it with numpy and zlib alone.

Writing: what is written is what Slicer's ``vtkMRMLSegmentationStorageNode``
writes for the node
:func:`~DicomManager.mrml.segmentation_nodes.create_layered_segmentation_node`
builds from the same layers, and the tests hold the two to it, read back by
Slicer: a NRRD in LPS space holding the labels cropped to the box of the
labelled voxels (``Segmentation_ReferenceImageExtentOffset`` says where the
box starts on the full grid), one layer as a 3D image and several as a 4D one
with the layers on a first ``list`` axis, and per segment its ID
(``Segment_<number>``), name, colour, label value (its number), layer, extent
and tags (terminology and the ``DICOM.*`` attributes). Slicer's conversion
parameters are left out: Slicer reads the file with its defaults, as it does
the node.

Reading: :func:`read_seg_nrrd` reads the files Slicer has written since its
shared labelmap layers (4.11), as slicer-core's storage node reads them,
and numbers segments as the MRML bridge does; the tests compare it with
reading through Slicer. Older layouts, detached data and non-integer voxels
are left to Slicer (it returns None).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import highdicom as hd
import numpy as np

from ...errors import LabelFileError
from ..segments.label_layers import label_dtype, labelled_box, relabelled, segment_numbers, values_not_in
from ..segments.layered_segmentation import LayeredSegmentation
from ..segments.segment_metadata import RGB_CHANNELS, SegmentMetadata
from ..segments.segment_tags import segment_metadata_from_tags, segment_tags
from ..writing.file_output import write_atomically
from .nrrd_header import NrrdHeader, expected_data_bytes, nrrd_dtype, read_nrrd_header

SEGMENTATION_SUFFIX = ".seg.nrrd"
GZIP_LEVEL = 7
SPATIAL_AXES = 3
"""zlib level of the voxel data: a little larger than Slicer's own files, and as fast to write as level 6."""
BINARY_LABELMAP = "Binary labelmap"
"""Slicer's name of the representation a ``.seg.nrrd`` holds (and segmentation nodes are built in)."""
_NRRD_TYPES = {np.dtype(np.uint8): "unsigned char", np.dtype(np.uint16): "unsigned short"}
_SPACE_SIGNS = {  # patient space of the file -> LPS
    "left-posterior-superior": (1, 1, 1), "lps": (1, 1, 1),
    "right-anterior-superior": (-1, -1, 1), "ras": (-1, -1, 1),
}


def is_segmentation_file(path: Path) -> bool:
    """Whether ``path`` names a Slicer segmentation file (``.seg.nrrd``)."""
    return Path(path).name.lower().endswith(SEGMENTATION_SUFFIX)


def write_seg_nrrd(path: Path, segmentation: LayeredSegmentation, *, overwrite: bool = False) -> None:
    """Write ``segmentation`` (its layers all on one grid) as a Slicer ``.seg.nrrd`` file.

    Values that name none of a layer's segments (padding, a background
    segment) become 0, "no segment", as in the segmentation node. The file is
    written completely or not at all; an existing ``path`` is replaced only
    with ``overwrite``.

    Raises
    ------
    LabelFileError
        No segments, or layers not on one grid.
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    layers, segments, layer_of_segment = segmentation.layers, segmentation.segments, segmentation.layer_of_segment
    if not segments:
        raise LabelFileError(f"{path}: there are no segments to write.")
    affine = layers[0].affine
    if any(not np.array_equal(layer.affine, affine) or layer.spatial_shape != layers[0].spatial_shape for layer in layers):
        raise LabelFileError(f"{path}: the label layers are not on one grid.")
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
    box = labelled_box(arrays) or (slice(0, 1), slice(0, 1), slice(0, 1))  # an empty file keeps one voxel
    header = _header(affine, box, dtype, segments, layer_of_number)

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


def _voxel_chunks(arrays: Sequence[np.ndarray], box: tuple[slice, slice, slice]) -> Iterable[bytes]:
    """The boxed voxels in NRRD order, a slice at a time: column fastest, and with layers, the layer before it."""
    for k in range(box[0].start, box[0].stop):
        planes = [array[k, box[1], box[2]] for array in arrays]
        yield (np.ascontiguousarray(planes[0]) if len(planes) == 1 else np.stack(planes, axis=-1)).tobytes()


def _header(
    affine: np.ndarray,
    box: tuple[slice, slice, slice],
    dtype: np.dtype,
    segments: Sequence[SegmentMetadata],
    layer_of_number: dict[int, int],
) -> str:
    layer_count = len(set(layer_of_number.values()))
    # NRRD axes run fastest first: column (I), row (J), slice (K), the reverse of the array's.
    sizes = [box[2].stop - box[2].start, box[1].stop - box[1].start, box[0].stop - box[0].start]
    directions = [affine[:3, 2], affine[:3, 1], affine[:3, 0]]
    origin = affine[:3, :3] @ [box[0].start, box[1].start, box[2].start] + affine[:3, 3]
    spatial_directions = " ".join(_vector_text(direction) for direction in directions)
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
        f"space origin: {_vector_text(origin)}",
    ]
    extent = " ".join(f"0 {size - 1}" for size in sizes)
    for index, segment in enumerate(segments):
        # Without a recommended colour, Slicer's "no colour" grey: Slicer picks one on loading, as it does for the node.
        # Only such a colour, and a label the reader made up, are marked as generated (Slicer may replace them).
        color = [component / 255.0 for component in segment.color] if segment.color is not None else [0.5] * 3
        tags = "".join(f"{tag}:{value}|" for tag, value in sorted(segment_tags(segment).items()))
        fields += [
            f"Segment{index}_Color:=" + " ".join(map(repr, color)),
            f"Segment{index}_ColorAutoGenerated:={int(segment.color is None)}",
            f"Segment{index}_Extent:={extent}",
            f"Segment{index}_ID:=Segment_{segment.number}",
            f"Segment{index}_LabelValue:={segment.number}",
            f"Segment{index}_Layer:={layer_of_number[segment.number]}",
            f"Segment{index}_Name:={_value(segment.label)}",
            f"Segment{index}_NameAutoGenerated:={int(segment.label_generated)}",
            f"Segment{index}_Tags:={_value(tags)}",
        ]
    fields += [
        f"Segmentation_ContainedRepresentationNames:={BINARY_LABELMAP}|",
        f"Segmentation_MasterRepresentation:={BINARY_LABELMAP}",
        f"Segmentation_ReferenceImageExtentOffset:={box[2].start} {box[1].start} {box[0].start}",
    ]
    return "\n".join(fields) + "\n\n"


def _vector_text(values: Iterable[float]) -> str:
    # repr gives the shortest text that reads back as the same double.
    return "(" + ",".join(repr(float(value)) for value in values) + ")"


def _value(text: str) -> str:
    """A NRRD key/value value on one line: backslash and newline escaped as teem reads them."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def read_seg_nrrd(path: Path) -> LayeredSegmentation | None:
    """Read a Slicer ``.seg.nrrd`` file as label layers on the file's grid, segments numbered as Slicer numbers them.

    Returns None for a layout only Slicer reads (before shared layers,
    non-integer voxels): read those through slicer-core.

    Raises
    ------
    LabelFileError
        The file is broken: not a NRRD, data cut short or damaged, malformed segment fields.
    """
    path = Path(path)
    header = read_nrrd_header(path)
    fields, key_values = header.fields, header.key_values
    dtype = _integer_dtype(header)
    space = _SPACE_SIGNS.get(fields.get("space", "").lower())
    encoding = fields["encoding"].lower()
    if encoding not in ("raw", "gzip", "gz"):
        # Slicer's NrrdIO reads no other encoding either (bzip2 aborts slicer-core 5.13): refuse it here.
        raise LabelFileError(f"{path}: NRRD encoding {encoding!r} is not read; save it with gzip or raw.")
    if (
        "Segment0_ID" not in key_values
        or "Segmentation_Extent" in key_values  # the layout before shared layers: Slicer converts it
        or "data file" in fields or "datafile" in fields
        or dtype is None or space is None
        or fields["dimension"] not in ("3", "4")
        or (fields["dimension"] == "4" and not fields.get("space directions", "").startswith("none"))
    ):
        return None
    try:
        voxels = _voxels(path, header, dtype)
        affine = _affine(fields, space)
        return _segmentation(path, key_values, voxels, affine)
    except (ValueError, KeyError, IndexError) as error:
        raise LabelFileError(f"{path}: malformed segmentation fields ({type(error).__name__}: {error}).") from error


def _integer_dtype(header: NrrdHeader) -> np.dtype | None:
    """The data's type when it is an integer of up to 32 bits, as Slicer's labelmaps are."""
    dtype = nrrd_dtype(header)
    return dtype if dtype is not None and dtype.kind in "iu" and dtype.itemsize <= np.dtype(np.int32).itemsize else None


def _voxels(path: Path, header: NrrdHeader, dtype: np.dtype) -> np.ndarray:
    """The data as a (K, J, I[, layers]) array: NRRD's fastest axis last."""
    expected = expected_data_bytes(header, path)
    with path.open("rb") as stream:
        stream.seek(header.data_offset)
        data = stream.read()
    if header.fields["encoding"].lower() != "raw":
        try:
            data = zlib.decompress(data, 16 + zlib.MAX_WBITS)
        except zlib.error as error:
            raise LabelFileError(f"{path}: the NRRD's gzip data is damaged or cut short ({error}).") from error
    if len(data) < expected:
        raise LabelFileError(f"{path}: the NRRD data holds {len(data)} bytes where {expected} are needed.")
    sizes = [int(size) for size in header.fields["sizes"].split()]
    array = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize).reshape(sizes[::-1])
    return array if len(sizes) == SPATIAL_AXES + 1 else array[..., np.newaxis]  # a layer axis, or one layer


def _affine(fields: dict[str, str], space: tuple[int, int, int]) -> np.ndarray:
    """The LPS affine of (K, J, I) array indices, from the spatial axes' directions and the origin."""
    directions = [_parse_vector(text) for text in fields["space directions"].split() if text != "none"]
    if len(directions) != SPATIAL_AXES:
        raise ValueError(f"space directions {fields['space directions']!r} are not three vectors")
    signs = np.array(space, dtype=float)
    affine = np.eye(4)
    for column, direction in zip((2, 1, 0), directions, strict=True):  # I, J, K
        affine[:3, column] = signs * direction
    affine[:3, 3] = signs * _parse_vector(fields.get("space origin", "(0,0,0)"))
    return affine


def _parse_vector(text: str) -> np.ndarray:
    values = np.array([float(value) for value in text.strip("()").split(",")])
    if values.shape != (3,) or not np.isfinite(values).all():
        raise ValueError(f"{text!r} is not a vector of three numbers")
    return values


def _segmentation(path: Path, key_values: dict[str, str], voxels: np.ndarray, affine: np.ndarray) -> LayeredSegmentation:
    """The segments as Slicer's storage node reads them, numbered as the MRML bridge numbers them."""
    count = 0
    while f"Segment{count}_ID" in key_values:
        count += 1
    read = [_segment_fields(key_values, index) for index in range(count)]
    numbers = segment_numbers([label_value for _, _, label_value in read])
    dtype = np.dtype(label_dtype(max(numbers)))
    layers: list[hd.Volume] = []
    layer_of_segment: dict[int, int] = {}
    for file_layer in dict.fromkeys(layer for _, layer, _ in read):  # in the order their first segment comes
        if not 0 <= file_layer < voxels.shape[3]:
            raise LabelFileError(f"{path}: a segment is in layer {file_layer}; the file has {voxels.shape[3]}.")
        in_layer = [index for index, (_, layer, _) in enumerate(read) if layer == file_layer]
        numbers_of_values = {read[index][2]: numbers[index] for index in in_layer}
        for index in in_layer:
            layer_of_segment[numbers[index]] = len(layers)
        component = voxels[..., file_layer].astype(voxels.dtype.newbyteorder("="), copy=False)
        layers.append(hd.Volume(relabelled(component, numbers_of_values, dtype), affine, "PATIENT"))
    segments = [
        segment_metadata_from_tags(numbers[index], name, _color(key_values, index), _tags(key_values, index))
        for index, (name, _, _) in enumerate(read)
    ]
    return LayeredSegmentation(layers=layers, segments=segments, layer_of_segment=layer_of_segment)


def _segment_fields(key_values: dict[str, str], index: int) -> tuple[str, int, int]:
    """(name, layer, label value) of segment ``index``.

    Its extent is not read: Slicer (5.13) takes the whole layer whatever the
    extent says, and so does this reader.
    """
    prefix = f"Segment{index}_"
    name = key_values.get(prefix + "Name") or key_values[prefix + "ID"]
    layer = int(key_values.get(prefix + "Layer", index))  # without layers, each segment has a component of its own
    label_value = int(key_values.get(prefix + "LabelValue", 1))
    return name, layer, label_value


def _color(key_values: dict[str, str], index: int) -> list[float]:
    text = key_values.get(f"Segment{index}_Color") or key_values.get(f"Segment{index}_DefaultColor") or "0.5 0.5 0.5"
    color = [float(value) for value in text.split()]
    if len(color) != RGB_CHANNELS:
        raise ValueError(f"segment {index}'s colour {text!r} is not three numbers")
    return color


def _tags(key_values: dict[str, str], index: int) -> dict[str, str]:
    """Slicer's ``key:value|key:value|`` tag string as a dict."""
    tags = {}
    for pair in key_values.get(f"Segment{index}_Tags", "").split("|")[:-1]:  # as Slicer: each pair ends with |
        if ":" in pair:
            key, value = pair.split(":", 1)
            tags[key] = value
    return tags
