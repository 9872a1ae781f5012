"""Batched multi-UAV aerial base-station environment (``uav_env``), its channel models
(``channel``), whole-episode runs and their summaries (``episodes``), baseline policies
(``baselines``) and the PettingZoo adapter (``pettingzoo``).

Import from the submodules: this file imports nothing, so importing one submodule does not
pull in the others (each Snakemake rule depends only on the code it runs).
"""
