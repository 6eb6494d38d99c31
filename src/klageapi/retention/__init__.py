"""Retention: a finished appeal's documents and personal data leave klageapi after a period."""
