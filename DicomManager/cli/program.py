"""The ``dicomlabelmapseg`` program: the command line in a process that ends with the command.

Such a process has no use for Python's cyclic garbage collector while it
loads its modules (numpy, pydicom and highdicom make hundreds of thousands
of objects and no garbage cycles) nor, for a command on one file, after:
the collector would walk those objects again and again and free nothing, and
the process's memory goes back to the system at its end. So the collector is
off from the start, and a command on many files turns it back on.

Only the standard library is imported here, before the collector is off.
"""

from __future__ import annotations

import gc
import sys


def run() -> None:
    """Run the command line given to this process and exit with its code."""
    gc.disable()
    from .main import main

    code = main(process_ends=True)
    gc.freeze()  # what is left goes with the process: no last full collection walking it
    sys.exit(code)


if __name__ == "__main__":
    run()
