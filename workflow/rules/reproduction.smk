# reproduction: the claims of config/claims.yaml evaluated against this run's computed tables
# (reference/inventory.md, top level), plus the Lorenz statistics no table holds.


include: "reproduction_common.smk"


rule ldns_lorenz_statistics:
    input:
        data=f"{RESULTS}/data/lorenz.h5",
        samples=ldns_samples("lorenz_unconditional"),
    output:
        LORENZ_STATISTICS,
    log:
        f"{LDNS_LOGS}/lorenz_statistics.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/lorenz_statistics.tsv"
    conda:
        "../../envs/ldns.yaml"
    params:
        preset=PRESET,
    script:
        "../../scripts/ldns_lorenz_statistics.py"


rule reproduction:
    input:
        claims=CLAIMS_FILE,
        schema=CLAIMS_SCHEMA,
        computed=CLAIM_INPUTS,
    output:
        md=f"{RESULTS}/reproduction.md",
        csv=reported("reproduction", "csv"),
    log:
        f"{LOGS}/reproduction.log",
    benchmark:
        f"{LOGS}/benchmarks/reproduction.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        preset=PRESET,
        sources=DATASET_SOURCES,
    script:
        "../../scripts/reproduction.py"
