rule evaluate:
    """Eval-only runs of a run's final and best checkpoints, in one job (fixed evaluation
    episodes, both policies)."""
    input:
        final=lambda wildcards: eval_model(wildcards, "final"),
        best=lambda wildcards: eval_model(wildcards, "best"),
    output:
        final="results/runs/{config}/{mode}/seed{seed}/eval/final.json",
        best="results/runs/{config}/{mode}/seed{seed}/eval/best.json",
    log:
        "results/logs/evaluate/{config}/{mode}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{config}/{mode}/seed{seed}.tsv"
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
        HMASD
        + " eval --model-path {input.final} {input.best} --episodes {params.episodes}"
        " --seed {params.seed} --device {params.device} --out {output.final} {output.best}"
        " --log-level {params.log_level} > {log} 2>&1"
