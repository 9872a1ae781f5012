rule resolve_config:
    """One named config's preset + overrides -> the full run config every job of it uses."""
    input:
        preset=preset_file,
    output:
        "results/configs/{config}.yaml",
    log:
        "results/logs/resolve_config/{config}.log",
    threads: rule_resources("resolve_config")["threads"]
    resources:
        mem_mb=rule_resources("resolve_config")["mem_mb"],
        runtime=rule_resources("resolve_config")["runtime"],
        gpu=rule_resources("resolve_config")["gpu"],
    params:
        code=code_fingerprint("resolve_config"),
        preset=lambda wildcards: NAMED[wildcards.config].preset,
        # Canonical JSON string: editing one config's values reruns only its jobs.
        overrides=overrides_param,
    script:
        "../scripts/resolve_config.py"
