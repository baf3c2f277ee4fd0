"""Replace an output file only once its new content is complete.

An export or report written straight to its target would truncate the previous file first: an
error or Ctrl+C halfway leaves a header-only CSV or a corrupt workbook where a good file was.
`replacing(path)` hands out a temporary path in the same folder (so the final rename stays on one
file system, where it is atomic) and renames it over `path` only when the block ends normally.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it becomes `path`, otherwise it is removed.

    A symbolic link is followed (the file it points at is replaced, the link stays), the previous
    file's permissions are kept (a new file is readable by its owner alone, as the database is), and what is not a plain file (/dev/stdout, a named pipe) is
    written directly, since it cannot be replaced. A missing folder of `path` is created, but never
    the folder a dangling link points into: that fails as a missing folder (FileNotFoundError).
    """
    path = Path(path)
    if path.exists() and not path.resolve().is_file():
        yield path
        return
    if path.is_symlink():
        path = path.resolve()  # a dangling link's folder is not created: the link is likely stale
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    previous_mode = path.stat().st_mode & 0o7777 if path.exists() else None
    # The real suffix stays last: some writers (xlsxwriter, matplotlib) look at it.
    temporary = path.with_name(f".{path.stem}.partial-{secrets.token_hex(4)}{path.suffix}")
    # made private before anything is written: others must not open it while it fills and keep reading.
    # Not storage.db.create_private_file, which leaves a failure to the writer: xlsxwriter's own
    # error for an unwritable folder is no OSError, and would reach the user as a traceback.
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        yield temporary
        if previous_mode is not None:
            os.chmod(temporary, previous_mode)  # an export with author data stays as private as before
        elif os.name != "nt":
            os.chmod(temporary, 0o600)  # a new one holds posts and authors, as the database does
        os.replace(temporary, path)
    except BaseException:  # also KeyboardInterrupt: the old file must survive Ctrl+C
        temporary.unlink(missing_ok=True)
        raise
