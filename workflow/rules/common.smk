# Shared paths and target lists. Every rule writes under results/{preset}/ and logs/{preset}/.
from pathlib import Path

PRESET = config["preset"]
RESULTS = f"results/{PRESET}"
LOGS = f"logs/{PRESET}"
SIMULATED = f"resources/{PRESET}/simulated"
RAW = "resources/raw"
DATA = config["data"]

NLB_DATASETS = ["mc_maze", "mc_rtt"]
OVERVIEW_DATASETS = ["lorenz", "mc_maze", "mc_rtt", "human", "reaching", "widefield"]
WIDEFIELD_SESSIONS = [s["id"] for s in DATA["widefield"]["sessions"]]


wildcard_constraints:
    nlb="mc_maze|mc_rtt",
    session="|".join(WIDEFIELD_SESSIONS),


def widefield_session(session_id):
    """The config entry of one widefield session."""
    return next(s for s in DATA["widefield"]["sessions"] if s["id"] == session_id)


def nlb_nwb(wildcards):
    """The NWB file a dataset is read from: simulated or downloaded from DANDI."""
    cfg = DATA[wildcards.nlb]
    if cfg["source"] == "simulate":
        return f"{SIMULATED}/{wildcards.nlb}/{wildcards.nlb}_like.nwb"
    return f"{RAW}/dandi/{cfg['dandiset']}/{Path(cfg['asset_path']).name}"


def human_dir(wildcards):
    """The competitionData directory: simulated or downloaded from Dryad."""
    if DATA["human"]["source"] == "simulate":
        return f"{SIMULATED}/human/competitionData"
    return f"{RAW}/human/extracted"


def widefield_hdf5(wildcards):
    """A widefield session's BehaveNet HDF5: simulated or fetched from figshare/staging."""
    if DATA["widefield"]["source"] == "simulate":
        return f"{SIMULATED}/widefield/{wildcards.session}.hdf5"
    return f"{RAW}/widefield/{widefield_session(wildcards.session)['file']}"


def data_targets():
    """Tidy dataset files and their overview figures."""
    tidy = [f"{RESULTS}/data/{name}.h5" for name in ["lorenz", "reaching", "human"]]
    tidy += [f"{RESULTS}/data/{name}.h5" for name in NLB_DATASETS]
    tidy += [f"{RESULTS}/data/widefield_{s}.h5" for s in WIDEFIELD_SESSIONS]
    figures = expand(
        f"{RESULTS}/data/{{name}}_overview.{{ext}}",
        name=OVERVIEW_DATASETS,
        ext=["png", "pdf"],
    )
    return tidy + figures


def all_targets():
    """Everything `snakemake` builds by default."""
    return data_targets() + ldns_targets() + gnocchi_targets() + benediff_targets()
