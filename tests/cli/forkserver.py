"""Runs many `aws ...` or `cks ...` commands fast: import once, fork a fresh child per command.

`forkserver.py aws` runs under Debian's /usr/bin/python3 (the interpreter of /usr/bin/aws) and
runs what /usr/bin/aws runs; `forkserver.py cks` runs under the venv's Python and runs what the
`cks` script runs. Each command is a JSON
line on stdin, {"args": [...], "env": {...}, "cwd": "..."}; the answer is a JSON line with
base64 stdout and stderr and the exit code. The child gets the command's environment, working
directory, TZ, a /dev/null stdin and files as stdout/stderr, and then runs exactly what
/usr/bin/aws runs (awscli.clidriver.main()), so only the ~0.7 s of imports is shared.
Importing is all the parent does: sessions, config and models are loaded in each child.
"""

import base64
import json
import os
import sys
import tempfile
import time
import types

MODE = sys.argv[1]
PRELOADED: tuple[types.ModuleType, ...]
if MODE == "aws":
    import awscli.clidriver
    import awscli.formatter
    import awscli.handlers
    import botocore.endpoint
    import botocore.loaders
    import botocore.parsers

    PRELOADED = (awscli.formatter, awscli.handlers, botocore.endpoint, botocore.parsers)
else:
    import kmscks.cli.invocation
    import kmscks.cli.main
    import kmscks.main

    PRELOADED = (kmscks.cli.invocation, kmscks.cli.main)


def run_command(args):
    if MODE == "aws":
        # Computed from HOME when botocore is imported; a real `aws` run computes it anew.
        botocore.loaders.Loader.CUSTOMER_DATA_PATH = os.path.join(
            os.path.expanduser("~"), ".aws", "models"
        )
        sys.argv = ["/usr/bin/aws", *args]
        return awscli.clidriver.main()
    sys.argv = ["cks", *args]
    return kmscks.main.main(args)


# awscli adds its own data directory to AWS_DATA_PATH when it is imported.
IMPORT_TIME_ENV = {"AWS_DATA_PATH": os.environ.get("AWS_DATA_PATH", "")}


def run_one(request):
    out = tempfile.TemporaryFile()  # noqa: SIM115 - shared with the forked child
    err = tempfile.TemporaryFile()  # noqa: SIM115
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.environ.clear()
            os.environ.update(request["env"])
            os.environ.update(IMPORT_TIME_ENV)
            time.tzset()
            os.chdir(request.get("cwd") or "/")
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            rc = run_command(request["args"])
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc if isinstance(rc, int) else 0)
        except SystemExit as exit_:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exit_.code if isinstance(exit_.code, int) else 1)
        except BaseException:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    out.seek(0)
    err.seek(0)
    answer = {
        "stdout": base64.b64encode(out.read()).decode(),
        "stderr": base64.b64encode(err.read()).decode(),
        "rc": os.waitstatus_to_exitcode(status),
    }
    out.close()
    err.close()
    return answer


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        answer = run_one(json.loads(line))
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
