"""Every surface a person touches: the CLI (and later the HTTP API, explorer, exports)."""
