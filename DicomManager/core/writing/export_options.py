"""How an export is written: one value that every layer, from the panel and the command line down to highdicom, passes whole.

Callers say only what they want changed. Series attributes left unset come
from the segmentation (what a node kept of the SEG it was loaded from, or the
SEG a conversion reads) and then from :data:`DEFAULT_SERIES`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

from pydicom.uid import generate_uid

from ..codecs.compression_choices import DEFAULT_COMPRESSION, Compression, parse_compression
from .file_output import safe_file_name
from .overlap_policy import DEFAULT_OVERLAP_POLICY, OverlapPolicy, parse_overlap_policy


@dataclass(frozen=True)
class SeriesAttributes:
    """Series- and content-level attributes of the SEG to write; ``None`` leaves one to the layer below."""

    series_description: str | None = None
    series_number: int | None = None
    instance_number: int | None = None
    content_label: str | None = None
    content_description: str | None = None
    content_creator_name: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    clinical_trial_series_id: str | None = None
    clinical_trial_time_point_id: str | None = None
    clinical_trial_coordinating_center_name: str | None = None

    def over(self, base: SeriesAttributes) -> SeriesAttributes:
        """These attributes where they are set, ``base``'s where they are not."""
        return replace(base, **{f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None})


DEFAULT_SERIES = SeriesAttributes(
    series_description="Segmentation", series_number=300, instance_number=1, content_label="SEGMENTATION"
)
"""What a SEG gets for the attributes nobody set."""


@dataclass(frozen=True)
class ExportOptions:
    """Everything about an export except the segmentation and its source images.

    Parameters
    ----------
    compression:
        Transfer syntax of the SEG (a :class:`Compression` or its name).
    overlap:
        What to write when segments overlap (an :class:`OverlapPolicy` or its name).
    crop_to_segments:
        Frames cover only the rectangle that holds labelled voxels, as Slicer's
        ``.seg.nrrd`` does: the smallest files, which highdicom, dcmqi and this
        extension read but OHIF does not. Off, frames span the source images.
    series:
        Series attributes to set; the others come from the segmentation, then
        from :data:`DEFAULT_SERIES`.
    file_name:
        Name of the SEG file in the output folder; by default
        ``<SeriesDescription>_<SeriesInstanceUID>.dcm``. With the ``layers``
        overlap policy each layer's file is ``<stem>_layer<N><suffix>``.
    overwrite:
        Replace files that exist instead of refusing.
    workers:
        Processes highdicom encodes frames with: 0 in this process (the
        default, and what the Slicer application should keep: forking it is
        not safe), :data:`..codecs.encoding_workers.ALL_CORES` a process per
        core where that pays (the command line's choice).

    Raises
    ------
    CodecUnavailableError
        For a compression name that does not exist.
    InvalidSegmentationError
        For an overlap policy name that does not exist.
    """

    compression: Compression = DEFAULT_COMPRESSION
    overlap: OverlapPolicy = DEFAULT_OVERLAP_POLICY
    crop_to_segments: bool = False
    series: SeriesAttributes = SeriesAttributes()
    file_name: str | None = None
    overwrite: bool = False
    workers: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "compression", parse_compression(self.compression))
        object.__setattr__(self, "overlap", parse_overlap_policy(self.overlap))

    def with_series(self, **attributes: object) -> ExportOptions:
        """These options with the given series attributes set."""
        return replace(self, series=replace(self.series, **attributes))

    def over_series(self, base: SeriesAttributes) -> ExportOptions:
        """These options with the series attributes they leave unset taken from ``base``."""
        return replace(self, series=self.series.over(base))

    def plan(self, output_dir: Path) -> ExportPlan:
        """These options resolved for one series written to ``output_dir``, and the file the SEG goes to.

        Series attributes left unset come from :data:`DEFAULT_SERIES`, and the
        SeriesInstanceUID, unless given, is a new one.
        """
        options = self.over_series(DEFAULT_SERIES)
        options = options.with_series(series_instance_uid=options.series.series_instance_uid or generate_uid())
        if options.file_name:
            return ExportPlan(options, Path(output_dir) / options.file_name)
        description = safe_file_name(options.series.series_description or "", "Segmentation")
        return ExportPlan(options, Path(output_dir) / f"{description}_{options.series.series_instance_uid}.dcm")


@dataclass(frozen=True)
class ExportPlan:
    """An export's series and file resolved: the options with every series attribute set (a SeriesInstanceUID among them).

    The first step of planning an export (:mod:`.export_plan`), which the writers take whole.
    """

    options: ExportOptions
    output_path: Path

    def __post_init__(self) -> None:
        series = self.options.series
        unset = [f.name for f in fields(series)
                 if getattr(series, f.name) is None and getattr(DEFAULT_SERIES, f.name) is not None]
        if unset or not series.series_instance_uid:
            raise ValueError(f"An export plan needs its series resolved; {unset or ['series_instance_uid']} are unset")
