"""neurodiff: reproduce LDNS, GNOCCHI and BeNeDiff (diffusion models of neural activity)."""

__version__ = "0.1.0"
