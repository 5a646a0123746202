"""Export jobs: `POST /admin/v1/profiles/{id}/export` starts one, `GET .../export/{job}` follows it.

A person with years of events takes longer to read than an API request may last, so the export
runs as a job of the admin function itself, invoked asynchronously (as campaign preflights do).
The job record lives in the core table (`QUERYJOB#<id>` / `EXPORT`, expiring with the files);
it holds ids, stages and counts only, never the person's data. The files (one JSON document, one
CSV of the timeline) go to the imports bucket under `exports/people/<profile id>/<job id>/`, which
a lifecycle rule empties after a week; a GET of a finished job signs links to them that last 15 minutes.

Idempotent: with an `Idempotency-Key` the job id is derived from the requested id and the key,
so a retried POST finds the job the first one created. A redelivered invocation of a finished
job does nothing; one of a job still running writes the same files again.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from cdp.clock import epoch_seconds, iso_from_ms
from cdp.errors import CdpError, NotFound, StoreUnavailable
from cdp.observability import logger
from cdp.ports import Clock
from cdp.privacy.export import STAGES, ExportSources, assemble, resolve

EXPORT_PREFIX = "exports/people"
JOB_TTL_SECONDS = 7 * 86400  # as long as the bucket keeps the files
LINK_SECONDS = 15 * 60
# A job still running this long after it started lost its invocation (and Lambda's retries).
STALE_MS = 20 * 60 * 1000
STATUS_RUNNING, STATUS_DONE, STATUS_FAILED = "running", "done", "failed"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class ExportJob:
    job_id: str
    requested_id: str
    profile_id: str  # the person the requested id resolved to when the job started
    status: str
    created_at: str
    stage: str = "queued"
    finished_at: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # json/csv -> {key, bytes}
    error: dict[str, Any] | None = None
    # Never started (the POST answered 503): a retry with the same key may start it afresh.
    restartable: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "requested_id": self.requested_id,
            "profile_id": self.profile_id,
            "status": self.status,
            "created_at": self.created_at,
            "stage": self.stage,
            "finished_at": self.finished_at,
            "counts": self.counts,
            "files": self.files,
            "error": self.error,
            "restartable": self.restartable,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExportJob:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


class ExportJobStore(Protocol):
    def create(self, job: ExportJob, *, expires_at: int) -> bool:
        """Store a new job; False if a job with this id exists (a retried request), unless that
        one is `restartable` (it never started): then this one replaces it."""
        ...

    def get(self, job_id: str) -> ExportJob | None: ...

    def update(self, job: ExportJob) -> bool:
        """Write the job while it is still running; False once it is finished."""
        ...


class ExportFiles(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def presigned_get(self, key: str, *, expires_seconds: int, filename: str, content_type: str) -> str: ...


class ExportStarter(Protocol):
    def start_export(self, job_id: str) -> None:
        """Run the job in a fresh invocation (asynchronously)."""
        ...


def export_folder(profile_id: str, job_id: str) -> str:
    """Where a job's files go: under the exported person's (surviving) profile id, so erasing a
    person can list and delete their exports (`exports/people/<profile id>/`)."""
    return f"{EXPORT_PREFIX}/{profile_id}/{job_id}"


def export_url(profile_id: str, job_id: str) -> str:
    return f"/admin/v1/profiles/{profile_id}/export/{job_id}"


class PersonExports:
    def __init__(
        self,
        *,
        jobs: ExportJobStore,
        files: ExportFiles,
        starter: ExportStarter,
        sources: ExportSources,
        clock: Clock,
    ) -> None:
        self._jobs = jobs
        self._files = files
        self._starter = starter
        self._sources = sources
        self._clock = clock

    def start(self, requested_id: str, *, request_key: str | None = None) -> tuple[dict[str, Any], bool]:
        """The job's view and whether this call created it (False: a retry found it)."""
        person = resolve(self._sources.people, requested_id)  # 404 for an unknown id
        now_ms = self._clock.now_ms()
        if request_key:
            seed = f"{requested_id}\n{request_key[:MAX_KEY_LENGTH]}".encode()
            job_id = "exp-" + hashlib.sha256(seed).hexdigest()[:32]
        else:
            job_id = "exp-" + uuid.uuid4().hex
        job = ExportJob(
            job_id=job_id,
            requested_id=requested_id,
            profile_id=person.profile_id,
            status=STATUS_RUNNING,
            created_at=iso_from_ms(now_ms),
        )
        if not self._jobs.create(job, expires_at=now_ms // 1000 + JOB_TTL_SECONDS):
            existing = self._jobs.get(job_id)
            if existing is not None:
                return self._view(existing), False
        try:
            self._starter.start_export(job_id)
        except CdpError as error:
            unstarted = self._failed(job, "job_not_started", "the export could not be started; try again")
            self._jobs.update(replace(unstarted, restartable=True))
            logger.warning("export not started", extra={"job_id": job_id, "error": error.code})
            raise StoreUnavailable("the export could not be started; try again", code="job_not_started") from error
        return self._view(job), True

    def run(self, job_id: str) -> str:
        """The asynchronous half: `done`, `failed` or `skipped` (unknown, expired or finished)."""
        job = self._jobs.get(job_id)
        if job is None or job.status != STATUS_RUNNING:
            return "skipped"
        current = [replace(job, stage=STAGES[0])]
        self._jobs.update(current[0])

        def progress(stage: str) -> None:
            current[0] = replace(current[0], stage=stage)
            self._jobs.update(current[0])

        try:
            export = assemble(self._sources, job.requested_id, now_ms=self._clock.now_ms(), progress=progress)
            progress("files")
            document, table = export.json_bytes(), export.csv_bytes()
            folder = export_folder(export.document["profile_id"], job_id)
            json_key, csv_key = f"{folder}/person.json", f"{folder}/timeline.csv"
            self._files.put(json_key, document, "application/json")
            self._files.put(csv_key, table, "text/csv; charset=utf-8")
        except CdpError as error:
            self._jobs.update(self._failed(current[0], error.code, error.message, error.status))
            return "failed"
        except Exception:
            logger.exception("export failed", extra={"job_id": job_id})
            self._jobs.update(self._failed(current[0], "export_failed", "the export failed; start another", 500))
            return "failed"
        done = replace(
            current[0],
            status=STATUS_DONE,
            stage="done",
            profile_id=export.document["profile_id"],
            finished_at=iso_from_ms(self._clock.now_ms()),
            counts=dict(export.document["counts"]),
            files={"json": {"key": json_key, "bytes": len(document)}, "csv": {"key": csv_key, "bytes": len(table)}},
        )
        self._jobs.update(done)
        logger.info("export done", extra={"job_id": job_id, "counts": done.counts})
        return "done"

    def view(self, profile_id: str, job_id: str) -> dict[str, Any]:
        """The job as `GET .../export/{job}` answers it; 404 unless it is this person's."""
        job = self._jobs.get(job_id) if len(job_id) <= 64 else None
        if job is None or profile_id not in (job.requested_id, job.profile_id):
            raise NotFound(f"no export {job_id} of profile {profile_id}", code="export_not_found")
        return self._view(job)

    def _view(self, job: ExportJob) -> dict[str, Any]:
        now_ms = self._clock.now_ms()
        if job.status == STATUS_RUNNING and now_ms - epoch_seconds(job.created_at) * 1000 > STALE_MS:
            job = self._failed(job, "export_lost", "the export stopped before it finished; start another", 500)
        answer: dict[str, Any] = {
            "job_id": job.job_id,
            "profile_id": job.profile_id,
            "requested_id": job.requested_id,
            "status": job.status,
            "progress": {
                "stage": job.stage,
                "stages": list(STAGES),
                "done": len(STAGES) if job.status == STATUS_DONE else _stages_done(job.stage),
            },
            "created_at": job.created_at,
            "finished_at": job.finished_at,
            "counts": job.counts or None,
            "files": None,
            "error": job.error,
            "status_url": export_url(job.requested_id, job.job_id),
        }
        if job.status == STATUS_DONE:
            expires = iso_from_ms(now_ms + LINK_SECONDS * 1000)
            answer["files"] = {
                name: {
                    "url": self._files.presigned_get(
                        file["key"],
                        expires_seconds=LINK_SECONDS,
                        filename=f"{job.profile_id}-{file['key'].rsplit('/', 1)[-1]}",
                        content_type="application/json" if name == "json" else "text/csv; charset=utf-8",
                    ),
                    "bytes": file["bytes"],
                    "expires_at": expires,
                }
                for name, file in sorted(job.files.items())
            }
        return answer

    def _failed(self, job: ExportJob, code: str, message: str, status: int = 409) -> ExportJob:
        return replace(
            job,
            status=STATUS_FAILED,
            finished_at=iso_from_ms(self._clock.now_ms()),
            error={"error": code, "message": message, "status": status},
        )


def _stages_done(stage: str) -> int:
    return STAGES.index(stage) if stage in STAGES else 0
