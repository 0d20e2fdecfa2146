"""Offset packing: give every buffer an address so that buffers live at the same time never overlap."""
