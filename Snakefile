# HMASD sync-vs-async study: train every (config, mode, seed), evaluate, baselines,
# consolidate to Parquet, figures and tables. Grid: config/config.yaml (schema:
# workflow/schemas/config.schema.yaml). Run: `snakemake --cores all` (profiles/default).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/configs.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/baseline.smk"
include: "workflow/rules/analysis.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
