"""Overlay rendering of MOTS tracks: coloured masks, outlines and labels on camera images."""
