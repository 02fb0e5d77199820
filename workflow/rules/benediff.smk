# benediff: rules are added by the benediff issue.


def benediff_targets():
    """Every benediff figure and table of the inventory."""
    return []
