report: "../report/workflow.rst"


rule consolidate:
    """Every run's exports, evals, baselines and benchmarks -> typed Parquet datasets."""
    input:
        summaries=train_summaries(),
        evals=eval_jsons(),
        baselines=baseline_jsons(),
        benchmarks=benchmark_tsvs(),
    output:
        consolidated_files(),
    log:
        f"{STUDY}/logs/consolidate/consolidate.log",
    threads: rule_resources("consolidate")["threads"]
    resources:
        mem_mb=rule_resources("consolidate")["mem_mb"],
        runtime=rule_resources("consolidate")["runtime"],
        gpu=rule_resources("consolidate")["gpu"],
    params:
        code=code_fingerprint("consolidate"),
        grid=grid_param(),
    script:
        "../scripts/consolidate.py"


rule figures:
    """The paper's figures (PNG 300 dpi and PDF) from the Parquet datasets."""
    input:
        data=rules.consolidate.output,
    output:
        figure_outputs(),
    log:
        f"{STUDY}/logs/figures/figures.log",
    threads: rule_resources("figures")["threads"]
    resources:
        mem_mb=rule_resources("figures")["mem_mb"],
        runtime=rule_resources("figures")["runtime"],
        gpu=rule_resources("figures")["gpu"],
    params:
        code=code_fingerprint("figures"),
    script:
        "../scripts/figures.py"


rule tables:
    """The sync-vs-async comparison table (CSV, Markdown, LaTeX) with baseline rows."""
    input:
        data=rules.consolidate.output,
    output:
        table_outputs(),
    log:
        f"{STUDY}/logs/tables/tables.log",
    threads: rule_resources("tables")["threads"]
    resources:
        mem_mb=rule_resources("tables")["mem_mb"],
        runtime=rule_resources("tables")["runtime"],
        gpu=rule_resources("tables")["gpu"],
    params:
        code=code_fingerprint("tables"),
    script:
        "../scripts/tables.py"
