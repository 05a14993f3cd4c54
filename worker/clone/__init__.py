"""Clone jobs: seed 000's replicator (plan, apply per assistant, reports)."""
