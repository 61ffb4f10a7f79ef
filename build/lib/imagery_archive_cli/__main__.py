"""`python -m imagery_archive_cli`: the same as the `imagery-archive` command."""

from imagery_archive_cli.main import main

raise SystemExit(main())
