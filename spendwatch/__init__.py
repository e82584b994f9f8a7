"""spendwatch: FinOps monitoring and cost alerting for AI infrastructure."""

import os
import sys

# Arrow's default pool (mimalloc) keeps ~60 MB of freed CSV-parsing buffers resident per
# streaming ingest; jemalloc gives them back, which keeps `ingest focus` under its 300 MB
# budget. Set before pyarrow is first imported; an explicit setting from the user wins. Only
# on Linux, where pyarrow's wheels are built with jemalloc (elsewhere Arrow would warn).
if sys.platform == "linux":
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
