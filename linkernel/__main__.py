from linkernel.cli import main

raise SystemExit(main())
