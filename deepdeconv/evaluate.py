"""`python -m deepdeconv.evaluate`: see `deepdeconv.cli.evaluate` (this module only calls it)."""
from deepdeconv.cli.evaluate import console_main

if __name__ == "__main__":
    console_main()
