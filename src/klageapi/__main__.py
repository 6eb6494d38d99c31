"""`python -m klageapi` runs the command line."""

from klageapi.cli import app

app()
