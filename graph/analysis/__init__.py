"""The analysis: per-user metrics, communities and the KOC score (DESIGN.md, Metrics).

Each module is one concern, a plain function over integer-indexed arrays
(`TieGraph`); `graph.analysis.snapshot.analyze` runs them all.
"""
