# One rule per mode because the trainer's model file names differ by mode (sync keeps the
# seed's `hmasd_sync_enhanced_tracking*` names). Periodic checkpoints `models/*_{step}.pt`
# are deliberately NOT outputs: Snakemake deletes the outputs of a failed job, and those
# files are what a killed job resumes from.
for _mode in MODES:

    rule:
        name:
            f"train_{_mode}"
        input:
            config="results/configs/{config}.yaml",
        output:
            summary=f"results/runs/{{config}}/{_mode}/seed{{seed}}/train_summary.json",
            final=f"results/runs/{{config}}/{_mode}/seed{{seed}}/{model_file(_mode, 'final')}",
            best=f"results/runs/{{config}}/{_mode}/seed{{seed}}/{model_file(_mode, 'best')}",
        log:
            f"results/logs/train/{{config}}/{_mode}/seed{{seed}}.log",
        benchmark:
            f"results/benchmarks/train/{{config}}/{_mode}/seed{{seed}}.tsv"
        threads: rule_resources("train")["threads"]
        resources:
            mem_mb=rule_resources("train")["mem_mb"],
            runtime=rule_resources("train")["runtime"],
            gpu=rule_resources("train")["gpu"],
        params:
            code=code_fingerprint("train"),
            mode=_mode,
            log_level=config["log_level"],
        script:
            "../scripts/train.py"
