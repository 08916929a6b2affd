"""`python -m signaling.bench` is `chimecast-bench`."""

from signaling.bench.cli import main

raise SystemExit(main())
