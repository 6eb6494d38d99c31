"""klageapi: integration API for appeals against decisions on economic social assistance."""

__version__ = "0.1.0"
