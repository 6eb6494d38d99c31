"""Processing times: where the waiting happens, per office or county and period."""
