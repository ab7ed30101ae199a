"""What every entry point shares: quiet TensorFlow start-up and one-sentence errors."""
import os
import sys


def quiet_tensorflow():
    """Silences TensorFlow's C++ start-up chatter; must run before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_cli(main, argv=None):
    """Runs `main(argv)` and turns predictable failures into one line and an exit status.

    UserError -> "error: <sentence>" and status 2; Ctrl-C -> status 130, SIGTERM (where the
    command turned it into `signals.Terminated`) -> 143 (whatever had to be saved was saved by
    the code that was interrupted). Anything else is a bug and keeps its traceback. A leading
    `~/` in an argument is expanded (`paths.expand_argv`).

    Returns:
        The process exit status (0 on success).
    """
    from deepdeconv.errors import UserError
    from deepdeconv.paths import expand_argv

    try:
        status = main(expand_argv(sys.argv[1:] if argv is None else argv))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print("terminated (SIGTERM)" if getattr(e, "exit_status", None) else "interrupted", file=sys.stderr)
        return getattr(e, "exit_status", 130)  # 143 for SIGTERM (deepdeconv.signals.Terminated)
    return int(status or 0)
