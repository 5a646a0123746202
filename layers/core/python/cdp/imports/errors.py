"""Errors of the import feature, mapped to HTTP by the admin API's single error handler."""

from __future__ import annotations

from cdp.errors import BadRequest, CdpError


class ImportFileError(BadRequest):
    """The file as a whole cannot be imported: no header row, no member_id column, not UTF-8 ..."""

    code = "invalid_import_file"


class ImportConflict(CdpError):
    """The import exists but its state does not allow the request (start twice, rows not ready)."""

    status = 409
    code = "import_conflict"
