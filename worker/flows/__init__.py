"""Prompt flows (seed 001): the import parser, exact and semantic patches, publishing.

The job kinds' module imports `worker.kinds`, which lists them; importing that first means
any module of this package can be imported on its own (tests, the benchmark).
"""

import worker.kinds  # noqa: F401
