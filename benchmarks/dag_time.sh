#!/usr/bin/env bash
# Wall time of the default DAG from clean results/ (the <= 30 min budget on 2 cores):
# deletes results/ and .snakemake/, runs `snakemake --cores all` and writes
# results/dag_time.json (seconds, command, machine, cores), which `make readme` quotes.
# Extra arguments go to snakemake. Run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
make setup
rm -rf results .snakemake
start=$(date +%s.%N)
.venv/bin/snakemake --cores all "$@"
end=$(date +%s.%N)
.venv/bin/python - "$start" "$end" "$*" <<'PY'
import json, os, platform, sys
from hmasd.io import atomic_write_json
start, end, extra = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
model = platform.processor() or platform.machine()
with open("/proc/cpuinfo") as fh:
    model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), model)
command = ("snakemake --cores all " + extra).strip()
atomic_write_json("results/dag_time.json", {"seconds": round(end - start, 1), "command": command,
                                            "machine": model, "cores": os.cpu_count()})
print(f"DAG: {end - start:.1f} s")
PY
