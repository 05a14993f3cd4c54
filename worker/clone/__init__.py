"""Clone jobs: seed 000's replicator (plan, apply per assistant, reports)."""

# The job kinds first: `worker.kinds` imports this package's handlers, so a module of this
# package imported on its own would otherwise meet `worker.kinds` half-initialised.
import worker.kinds  # noqa: F401
