rule baseline:
    """A non-learning policy (random, hover, kmeans) on one config family's evaluation
    episodes, for scale and paired comparisons."""
    input:
        config="results/configs/{config}.yaml",
    output:
        "results/baselines/{config}/{policy}.json",
    log:
        "results/logs/baseline/{config}/{policy}.log",
    threads: rule_resources("baseline")["threads"]
    resources:
        mem_mb=rule_resources("baseline")["mem_mb"],
        runtime=rule_resources("baseline")["runtime"],
        gpu=rule_resources("baseline")["gpu"],
    params:
        code=code_fingerprint("baseline"),
        # The evaluation episodes: baselines and trained agents play the same ones.
        episodes=config["evaluate"]["episodes"],
        seed=config["evaluate"]["seed"],
        log_level=config["log_level"],
    shell:
        HMASD + " baseline --policy {wildcards.policy} --config {input.config}"
        " --episodes {params.episodes} --seed {params.seed} --out {output}"
        " --log-level {params.log_level} > {log} 2>&1"
