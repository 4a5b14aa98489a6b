from classroomd.daemon.cli import main

raise SystemExit(main())
