"""The ``charword`` command: the top of the import graph (see :mod:`cli.main`)."""
