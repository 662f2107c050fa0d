"""The ``dicomlabelmapseg`` command line: ``main`` holds every command (a new one is an ``_add_*_command``)."""
