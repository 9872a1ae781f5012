rule evaluate:
    """Eval-only run of a run's final or best checkpoint (fixed eval seed)."""
    input:
        model=eval_model,
    output:
        "results/runs/{config}/{mode}/seed{seed}/eval/{which}.json",
    log:
        "results/logs/evaluate/{config}/{mode}/seed{seed}_{which}.log",
    benchmark:
        "results/benchmarks/evaluate/{config}/{mode}/seed{seed}_{which}.tsv"
    conda:
        "../../environment.yml"
    threads: rule_resources("evaluate")["threads"]
    resources:
        mem_mb=rule_resources("evaluate")["mem_mb"],
        runtime=rule_resources("evaluate")["runtime"],
        gpu=rule_resources("evaluate")["gpu"],
    params:
        code=code_fingerprint("evaluate"),
        episodes=config["evaluate"]["episodes"],
        seed=config["evaluate"]["seed"],
        device=config["device"],
        log_level=config["log_level"],
    shell:
        HMASD + " eval --model-path {input.model} --episodes {params.episodes}"
        " --seed {params.seed} --device {params.device} --out {output}"
        " --log-level {params.log_level} > {log} 2>&1"
