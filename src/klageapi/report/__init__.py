"""`klageapi report`: a self-contained HTML report of processing times, charts inline."""
