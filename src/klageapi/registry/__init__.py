"""The registry of NAV offices and Statsforvalter offices, and the county routing between them."""
