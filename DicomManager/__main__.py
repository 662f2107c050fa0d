"""``python -m DicomManager``: the ``dicomlabelmapseg`` command line."""

from .cli.program import run

if __name__ == "__main__":
    run()
