"""Service (jobs): a thin wrapper over APScheduler 3.11, and the jobs built from the settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler

from bot.config import Settings

LOGGER = logging.getLogger(__name__)


class Scheduler:
    """Named interval and daily jobs; a job never overlaps itself and missed runs coalesce."""

    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        self._scheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60}
        )

        def _error(event: JobExecutionEvent) -> None:
            if event.exception is not None:
                on_error(event.exception)

        self._scheduler.add_listener(_error, EVENT_JOB_ERROR)

    def every(self, name: str, interval: timedelta, job: Callable[[], object]) -> None:
        seconds = max(interval.total_seconds(), 1.0)
        self._scheduler.add_job(job, "interval", seconds=seconds, id=name, name=name)

    def daily(
        self, name: str, at: str, job: Callable[[], object], timezone: str = "UTC", day: str = "*"
    ) -> None:
        hour, minute = at.split(":")
        self._scheduler.add_job(
            job,
            "cron",
            day_of_week=day,
            hour=int(hour),
            minute=int(minute),
            timezone=timezone,
            id=name,
            name=name,
        )

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def remove_all(self) -> None:
        self._scheduler.remove_all_jobs()

    def names(self) -> list[str]:
        return sorted(job.id for job in self._scheduler.get_jobs())


def job_keys(settings: Settings) -> tuple[object, ...]:
    """The settings the jobs are built from: when these change on reload, the jobs are rebuilt."""
    return (
        settings.listener.poll_interval,
        settings.listen.digest_at,
        settings.listen.weekly_on,
        settings.limits.timezone,
    )


def schedule(scheduler: Scheduler, settings: Settings, request: Callable[[str], Callable[[], None]]) -> None:
    """(Re)build every job from `settings`; each job only asks the serve loop to do its work."""
    scheduler.remove_all()
    scheduler.every("catch-up poll", settings.listener.poll_interval, request("poll"))
    listen = settings.listen
    digest_at = f"{listen.digest_at:%H:%M}"
    zone = settings.limits.timezone
    scheduler.daily("listening digest", digest_at, request("digest"), timezone=zone)
    scheduler.daily("weekly summary", digest_at, request("weekly"), timezone=zone, day=listen.weekly_on)
