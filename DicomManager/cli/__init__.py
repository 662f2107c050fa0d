"""The ``dicomlabelmapseg`` command line: one module per command group (a new command goes in main's parser)."""
