"""Figures: a shared style (style.py) and one module per figure group, one function per figure."""
