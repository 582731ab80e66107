"""Subcommands of the `jwtlab` CLI, one module each (see `jwtlab.cli`)."""
