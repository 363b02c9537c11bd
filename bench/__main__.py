"""``python -m bench``: the whole suite (see bench/suite.py); ``python -m bench _client
SPEC`` is the load generator's process, started by the harness."""

import sys

if len(sys.argv) >= 3 and sys.argv[1] == "_client":
    from . import scenarios  # noqa: F401  (registers its client loads)
    from .echo import client_main

    client_main(sys.argv[2])
else:
    from .suite import main

    sys.exit(main())
