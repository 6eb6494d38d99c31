"""`klageapi simulate`: a synthetic year of appeals driven through the real HTTP API."""
