"""Transfer syntaxes a SEG is written in and read from, and the codecs that encode and decode them."""
