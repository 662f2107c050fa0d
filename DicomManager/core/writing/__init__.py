"""Writing SEGs: export options, LABELMAP and BINARY datasets built by highdicom, files saved atomically."""
