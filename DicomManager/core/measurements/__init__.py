"""Segment statistics over a source series and the TID 1500 measurement reports that carry them."""
