"""`python -m kmscks` is the `cks` command."""

from kmscks.main import main

raise SystemExit(main())
