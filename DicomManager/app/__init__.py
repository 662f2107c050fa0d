"""Layer 3, beside the module files: what the Slicer glue decides and the application calls it makes.

``loadable_offer`` (what the DICOM browser offers), ``package_requirements``
(which packages an operation needs) and ``install_refusals`` (how long a "no"
to installing holds) are decisions without ``slicer``, tested outside Slicer;
``segmentation_actions`` (export, send, load) is what the panel and the plugin
share, on the scene and database they pass, tested on slicer-core;
``dependencies`` (asking, then installing) and ``dicom_database`` call the
running application.
"""
