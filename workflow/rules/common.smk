# Shared paths and target lists. Every rule writes under results/{preset}/ and logs/{preset}/.
from pathlib import Path

from neurodiff.inventory import SOURCES, load_inventory

PRESET = config["preset"]
RESULTS = f"results/{PRESET}"
LOGS = f"logs/{PRESET}"
SIMULATED = f"resources/{PRESET}/simulated"
RAW = "resources/raw"
DATA = config["data"]

NLB_DATASETS = ["mc_maze", "mc_rtt"]
WIDEFIELD_SESSIONS = [s["id"] for s in DATA["widefield"]["sessions"]]
# every figure, table and animation a run writes (targets, report entries, README index)
INVENTORY = load_inventory(Path(workflow.basedir) / "workflow" / "inventory.yaml")
REPORT_SUBCATEGORY = {
    "figure": "Figures",
    "table": "Tables",
    "animation": "Guided videos",
}


wildcard_constraints:
    nlb="mc_maze|mc_rtt",
    session="|".join(WIDEFIELD_SESSIONS),


def job_resources(paper, group):
    """Scheduler requests (gpu, mem_mb, gpu_mem_mb, runtime) of config `<paper>.resources.<group>`."""
    return config[paper]["resources"][group]


def widefield_session(session_id):
    """The config entry of one widefield session."""
    return next(s for s in DATA["widefield"]["sessions"] if s["id"] == session_id)


def nlb_dataset_of(dandiset):
    """The NLB dataset key (mc_maze | mc_rtt) whose config names this dandiset."""
    return next(n for n in NLB_DATASETS if DATA[n]["dandiset"] == dandiset)


def nlb_nwb(wildcards):
    """The NWB file a dataset is read from: simulated or downloaded from DANDI."""
    cfg = DATA[wildcards.nlb]
    if cfg["source"] == "simulate":
        return f"{SIMULATED}/{wildcards.nlb}/{wildcards.nlb}_like.nwb"
    return f"{RAW}/dandi/{cfg['dandiset']}/{Path(cfg['asset_path']).name}"


def simulation_truth(nlb):
    """The simulator's ground truth of an NLB dataset, or nothing when it is the recording."""
    if DATA[nlb]["source"] == "simulate":
        return [f"{SIMULATED}/{nlb}/{nlb}_like.truth.npz"]
    return []


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


def inventory_targets(paper):
    """The files of one paper's inventory items (workflow/inventory.yaml)."""
    return [f"{RESULTS}/{path}" for path in INVENTORY.targets(paper, config)]


def reported(stem, ext, item_stem=None, labels=None):
    """A result file marked for `snakemake --report`, captioned from workflow/report/."""
    item = INVENTORY.item(item_stem or stem)
    caption = item.stem.replace("{", "").replace("}", "")
    return report(
        f"{RESULTS}/{stem}.{ext}",
        caption=f"../report/{caption}.rst",
        category=INVENTORY.paper(item.paper).title,
        subcategory=REPORT_SUBCATEGORY[item.kind],
        labels={
            "item": item.paper_item or item.name,
            "source": SOURCES[item.source],
            **(labels or {}),
        },
    )


def data_targets():
    """Tidy dataset files and their overview figures."""
    tidy = [f"{RESULTS}/data/{name}.h5" for name in ["lorenz", "reaching", "human"]]
    tidy += [f"{RESULTS}/data/{name}.h5" for name in NLB_DATASETS]
    tidy += [f"{RESULTS}/data/widefield_{s}.h5" for s in WIDEFIELD_SESSIONS]
    return tidy + inventory_targets("data")


def all_targets():
    """Everything `snakemake` builds by default."""
    return (
        data_targets()
        + ldns_targets()
        + gnocchi_targets()
        + benediff_targets()
        + reproduction_targets()
    )
