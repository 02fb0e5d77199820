# gnocchi: rules are added by the gnocchi issue.


def gnocchi_targets():
    """Every gnocchi figure and table of the inventory."""
    return []
