"""For plugin authors: the package skeleton generator and the generated hook reference."""
