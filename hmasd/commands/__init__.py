"""One module per ``hmasd`` subcommand, each with ``run(args) -> exit code``.

``hmasd.cli`` parses the command line and imports only the module of the subcommand it runs,
by computed name, so no import statement ties them together: the code fingerprint of a DAG
rule (``hmasd.codehash``) then covers ``hmasd eval``'s code without ``hmasd train``'s. This
file imports nothing for the same reason.
"""
