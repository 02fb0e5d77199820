"""Simulated stand-ins for the real datasets, written in the real file formats with known truth.

Each module simulates one kind of data; for example `nlb_like` writes NWB files with the layout of
the Neural Latents Benchmark dandisets (MC_Maze, DANDI 000128; MC_RTT, DANDI 000129) filled with a
simulated reaching monkey, and saves the ground truth beside them.
"""
