"""Reading SEGs: headers checked (a new reader quirk goes in seg_header), frames decoded and placed on a grid."""
