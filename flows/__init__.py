"""Entry points: the command line and the Prefect flows that compose :mod:`tasks`."""
