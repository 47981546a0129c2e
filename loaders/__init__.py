"""Reading referral event sources into the canonical event table.

Loaders import neither `graph` nor `api`: they turn files into validated Arrow
batches (`loaders.pipeline.open_events`) and quarantine the rows they reject.
"""
