"""The ``ltrnn`` command-line tool."""
