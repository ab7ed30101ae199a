"""The one exception type that reaches users as a sentence instead of a traceback."""


class UserError(Exception):
    """A predictable mistake by the user (bad option, missing file, incompatible run).

    The message is one sentence naming the file or option at fault; the command-line
    entry points print it and exit with status 2.
    """
