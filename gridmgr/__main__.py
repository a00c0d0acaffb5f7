"""``python -m gridmgr …`` runs the ``gridmgr`` command line."""

from gridmgr.cli import main

if __name__ == "__main__":
    main()
