"""The HTTP application: construction, middleware, error rendering and the v1 router."""
