"""``python -m poagate.cli``: the same command line as the ``poagate`` script."""

from poagate.cli import main

if __name__ == "__main__":
    main()
