"""``python -m bench.dialer``: run the dialer pacing benchmark (see run.py)."""

from bench.dialer.run import main

raise SystemExit(main())
