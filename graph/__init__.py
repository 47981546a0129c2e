"""The store contract, its backends, and (later) the analysis over the graph."""
