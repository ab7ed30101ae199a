"""Command-line entry points; each only parses arguments and calls the library."""
