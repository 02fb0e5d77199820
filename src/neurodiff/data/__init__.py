"""Data layer: fetching, reading real formats, simulating stand-ins, and the tidy array file."""
