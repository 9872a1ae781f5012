"""`python -m hmasd ...` is the `hmasd` console script (the DAG uses it with its own python)."""

from hmasd.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
