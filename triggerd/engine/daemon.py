"""`triggerd run`: load, open the store, catch up, then schedule and dispatch until a signal."""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from types import FrameType

from triggerd.clock import utcnow
from triggerd.config import Config
from triggerd.config.digest import ConfigFiles
from triggerd.config.triggers import TimeTrigger
from triggerd.datastores.watch import FolderWatcher
from triggerd.engine.batcher import TickBatcher
from triggerd.engine.clockwatch import ClockStep, ClockWatch
from triggerd.engine.dispatcher import INTERRUPT_WAIT, Dispatcher
from triggerd.engine.follower import Follower
from triggerd.engine.health import Health
from triggerd.engine.polls import PollLoop
from triggerd.engine.reload import ConfigReport, config_files_filter, load_settled
from triggerd.engine.resolver import Resolver
from triggerd.engine.runqueue import StoreQueue
from triggerd.engine.runtime import Runtime
from triggerd.engine.scheduler import TimeScheduler
from triggerd.engine.stopping import StopDeadline
from triggerd.engine.worldcheck import warn_about_the_world
from triggerd.errors import ConfigError, ConfigProblem
from triggerd.observability.httpserver import HealthServer, parse_address
from triggerd.observability.logging import get_logger
from triggerd.observability.metrics import Metrics
from triggerd.observability.sdnotify import NOTIFY_ENV, Notifier
from triggerd.settings import Settings
from triggerd.store import Store, instances, outbox, queries
from triggerd.views.site import Site

LIVENESS_BEAT = 1.0  # seconds between the scheduler's liveness beats
RELOAD_RETRY = 5.0  # seconds before a reload the database refused is tried again
POLLS_STOP_WAIT = 2.0  # seconds a stop waits for polls in flight (then leaves them)
STOP_MARGIN = 2.0  # seconds past the drain and the hand-back before the process just exits
EXIT_STORE_LOST = 1


class Daemon:
    def __init__(
        self,
        config: Config,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        files: ConfigFiles | None = None,  # the texts ``config`` was loaded from
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.monotonic = monotonic
        self.stop_requested = threading.Event()
        self.exit_code = 0
        self._stop_at: float | None = None  # when the stop was asked for (monotonic)
        self._deadline: StopDeadline | None = None
        self._reload_at: float | None = None  # a reload the database refused, tried again then
        self._retry_shift = timedelta(0)  # backward clock steps the retries still have to follow
        self._reload_requested = threading.Event()
        self._wakeup = threading.Event()
        self._log = get_logger()
        self.notifier = Notifier.from_env()
        for variable in NOTIFY_ENV:  # as sd_notify(unset_environment=1): not for the children
            os.environ.pop(variable, None)
        self.metrics = Metrics()
        self.metrics.set_schedules(len(config.schedules))
        self.clock_watch = ClockWatch(clock, monotonic=monotonic, on_step=self._clock_stepped)
        started = clock()
        self.instance_id = store.write(instances.register, started, os.getpid())
        self.report = ConfigReport(store, self.instance_id, clock=clock, metrics=self.metrics)
        if files is not None:
            self.report.started(files)
        resolver = Resolver(config)
        self.dispatcher = Dispatcher(
            StoreQueue(store, first_check=settings.follow_interval),
            resolver.resolve,
            owner=self.instance_id,
            concurrency=settings.concurrency,
            clock=clock,
            limits=resolver.overlap_limits,
            metrics=self.metrics,
        )
        self.runtime = Runtime(
            config,
            store,
            clock=clock,
            owner=self.instance_id,
            running_since=started,
            on_recorded=self.dispatcher.wake,
            metrics=self.metrics,
            check_clock=self.clock_watch.check,
            resolver=resolver,
        )
        self.follower = Follower(  # remote runs followed to their end
            store,
            lambda: self.runtime.config,
            owner=self.instance_id,
            clock=clock,
            interval=settings.follow_interval,
            metrics=self.metrics,
        )
        self.batcher = TickBatcher(self.runtime.tick_many)
        self.scheduler = TimeScheduler(
            self.batcher.request,
            before_pass=self.clock_watch.check,
            on_next_fire=self.metrics.next_fire_at,
        )
        self.polls = PollLoop(monotonic=monotonic)
        self.watcher = FolderWatcher()
        self.health = Health(
            store,
            scheduler=self.scheduler,
            running=lambda: self.scheduler.running,
            loops={"dispatcher": self.dispatcher, "poll": self.polls},
            schedules=lambda: len(self.runtime.config.schedules),
            monotonic=monotonic,
            notes=self.runtime.feeds.problems,
        )
        self.runtime.feeds.store_ok = lambda: self.health.write_failure is None

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        """SIGTERM/SIGINT: stop. Whatever the threads and the database are doing, the process
        ends within the drain grace plus the kill grace (plus a margin)."""
        if self.stop_requested.is_set():
            return
        self._log.info("daemon.stopping", signal=signal.Signals(signum).name)
        self._stop(0)

    def _stop(self, code: int) -> None:
        self.exit_code = code
        self._stop_at = self.monotonic()
        self.stop_requested.set()
        self._wakeup.set()
        limit = (self.settings.shutdown_grace + INTERRUPT_WAIT).total_seconds() + STOP_MARGIN
        self._deadline = StopDeadline(limit).start()

    def request_reload(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        """SIGHUP, or a change in the config directory: reload at the next turn of the loop."""
        self._reload_requested.set()
        self._wakeup.set()

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the process exit code (0 on a clean stop)."""
        config = self.runtime.config
        self._log.info(
            "daemon.started",
            pid=os.getpid(),
            instance=self.instance_id,
            schedules=len(config.schedules),
            config=str(self.settings.config),
        )
        http = self._start_http()
        self.runtime.startup()
        self._schedule(list(config.schedules))
        self.scheduler.add_beat(LIVENESS_BEAT, self.health.beat)
        self.batcher.start()
        self.scheduler.start()
        self.polls.start()
        self.runtime.feeds.start()
        self._watch_config()
        self.dispatcher.start()
        self.follower.start()
        self.health.started = True
        self.notifier.ready(self._status())
        warn_about_the_world(config, self.settings.config)  # config.check_failed warnings
        # What startup built (the config, its schedules, the libraries) lives as long as the
        # daemon: keep it out of the cyclic collector, whose full passes would otherwise walk
        # it all, pausing a planning pass that is due on the minute. (`triggerd run` starts
        # with the collector off: loading a large config set it off again and again.)
        gc.collect()
        gc.freeze()
        gc.enable()
        interval = self.settings.heartbeat_interval.total_seconds()
        watchdog = self.notifier.watchdog_interval()
        if watchdog is not None:
            interval = min(interval, watchdog)
        while not self.stop_requested.is_set():
            self._wakeup.wait(interval)
            self._wakeup.clear()
            if self.stop_requested.is_set():
                break
            if self._reload_due():
                self._reload_requested.clear()
                self.notifier.reloading()
                self.reload()
                self.notifier.ready(self._status())
            self._heartbeat()
        self.notifier.stopping()
        code = self.shutdown()
        if http is not None:
            http.stop()
        return code

    def _reload_due(self) -> bool:
        if self._reload_requested.is_set():
            return True
        if self._reload_at is not None and self.monotonic() >= self._reload_at:
            self._reload_at = None
            return True
        return False

    # -- liveness, readiness, status -------------------------------------------------------

    def _clock_stepped(self, step: ClockStep) -> None:
        """The wall clock jumped (called by the clock watch, from whichever thread saw it)."""
        seconds = step.size.total_seconds()
        self._log.warning(
            "clock.stepped",
            step_s=round(seconds, 1),
            direction="forward" if step.forward else "backward",
            expected=step.expected.isoformat(),
            now=step.actual.isoformat(),
        )
        self.metrics.clock_stepped(forward=step.forward)
        self.runtime.clock_stepped(step)
        self.scheduler.clock_stepped(step)
        if not step.forward:  # the main loop moves the waiting retries back with it
            self._retry_shift += step.size

    def _status(self) -> str:
        return (
            f"{len(self.runtime.config.schedules)} schedules, "
            f"{self.dispatcher.in_flight} runs in flight"
        )

    def _start_http(self) -> HealthServer | None:
        try:
            if parse_address(self.settings.http_address) is None:
                return None
            server = HealthServer(
                self.settings.http_address,
                health=self.health.alive,
                ready=self.health.ready,
                metrics=self.metrics,
                routes=Site(self.store, lambda: self.runtime.config, settings=self.settings).route,
                token=self.settings.http_token,
            )
            server.start()
        except (OSError, ValueError) as exc:
            self._log.error("http.unavailable", address=self.settings.http_address, reason=str(exc))
            return None
        return server

    def _schedule(self, names: list[str]) -> None:
        """(Re)create the scheduler jobs and folder watches of these schedules."""
        for name in names:
            schedule = self.runtime.config.schedules[name]
            if isinstance(schedule.trigger, TimeTrigger):
                anchor = self.runtime.anchor(name)
                first = self.runtime.first_fires.pop(name, None)
                self.scheduler.add(name, schedule.trigger.every, anchor, first_fire=first)
            poller = self.runtime.pollers.get(name)
            if poller is None:
                continue
            self.polls.add(name, poller.interval, poller.poll)
            folder = poller.local_folder()
            if folder is not None:
                wake = functools.partial(self.polls.wake, name)
                poller.watched = self.watcher.watch(name, folder, wake)

    def _watch_config(self) -> None:
        folder, is_config = config_files_filter(self.settings.config)
        self.watcher.watch_config(folder, self.request_reload, accept=is_config)

    def reload(self) -> bool:
        """Re-read the config; on any problem keep the last good one. True if it changed."""
        try:
            loaded = load_settled(self.settings.config)
        except ConfigError as exc:
            self.report.refused(exc.problems)
            return False
        if self.report.unchanged(loaded.files):
            return False
        new = loaded.config
        try:
            change = self.runtime.replace_config(new)
        except Exception as exc:  # the database is away: the old config stays, try again
            problem = f"the database refused the change ({_first_line(exc)}); trying again shortly"
            self.report.refused([ConfigProblem(str(self.settings.config), "", problem)])
            self._reload_at = self.monotonic() + RELOAD_RETRY
            return False
        self.report.applied(loaded.files, change, len(new.schedules))
        self.metrics.set_schedules(len(new.schedules))
        for name in change.removed + change.changed:
            self.scheduler.remove(name)
            self.polls.remove(name)
            self.watcher.unwatch(name)
        self._schedule(change.added + change.changed)
        gc.freeze()  # the new config, frozen as at start (run); the old one had no cycles: freed
        # New time schedules are planned now (a changed one was planned up to now by
        # replace_config, under its old definition: its next slot wakes its new job).
        timed = [n for n in change.added if isinstance(new.schedules[n].trigger, TimeTrigger)]
        if timed:
            self.batcher.request(*timed)  # in the planner's thread
        return True

    def _heartbeat(self) -> None:
        """Every few seconds: the store heartbeat, systemd's watchdog, status and queue gauges.

        The watchdog is only fed while the loops are alive, so a wedged daemon is restarted.
        A database file deleted or replaced under the daemon stops it (exit 1): the service
        manager starts it again on the file that is there now.
        """
        if self._check_database_file():
            return
        healthy, reason = self.health.alive()
        if healthy:
            self.notifier.watchdog()
        else:
            self._log.error("daemon.unhealthy", reason=reason)
        try:
            self.store.write(instances.heartbeat, self.instance_id, self.clock())
        except Exception as exc:  # a briefly unavailable store must not kill the daemon
            self.health.write_failure = _first_line(exc)
            self._log.error("daemon.heartbeat_failed", error=self.health.write_failure)
        else:
            self.health.write_failure = None
        try:
            if self._retry_shift:
                shift, self._retry_shift = self._retry_shift, timedelta(0)
                self.store.write(outbox.shift_retries, shift, after=self.clock())
            self.runtime.keep_alive(self.dispatcher.in_flight_ids())
            self.metrics.set_queue_depth(
                self.store.read(queries.count_runs, status="pending"),
                self.store.read(queries.count_runs, status="running"),
            )
        except Exception as exc:
            self._log.error("daemon.heartbeat_failed", error=_first_line(exc))
        self.notifier.status(self._status())

    def _check_database_file(self) -> bool:
        """True (and the daemon stops) when the database file is not the one it opened."""
        if self.health.store_lost is not None:
            return True
        lost = self.health.database_lost()
        if lost is None:
            return False
        self._log.error(
            "store.lost",
            reason=lost,
            action="stopping (exit 1) so that the service manager starts the daemon again",
        )
        self.notifier.status(f"stopping: database lost: {lost}")
        self._stop(EXIT_STORE_LOST)
        return True

    def shutdown(self) -> int:
        """Drain: stop planning and polling, let runs in flight finish within the grace, hand
        back the rest. Nothing here waits for a poll, a planning pass or the database for long:
        the stop deadline (``_exit_after``) bounds what is left."""
        self.watcher.stop()
        still_polling = self.polls.stop(POLLS_STOP_WAIT)
        if still_polling:
            self._log.info("daemon.polls_abandoned", schedules=still_polling[:20])
        self.scheduler.shutdown()
        self.batcher.stop()
        in_flight = self.dispatcher.in_flight
        if in_flight:
            self._log.info(
                "daemon.draining",
                runs_in_flight=in_flight,
                grace_s=self.settings.shutdown_grace.total_seconds(),
            )
        spent = self.monotonic() - (self._stop_at or self.monotonic())
        self.dispatcher.stop(
            max(timedelta(0), self.settings.shutdown_grace - timedelta(seconds=spent))
        )
        self.follower.stop()
        self.runtime.close()
        with contextlib.suppress(Exception):  # the database may be gone: the heartbeat ages
            self.store.write(instances.stop, self.instance_id, self.clock())
        self._log.info("daemon.stopped", exit_code=self.exit_code)
        return self.exit_code  # (the deadline stays armed until the process has exited)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def install_signal_handlers(daemon: Daemon) -> None:
    signal.signal(signal.SIGTERM, daemon.request_stop)
    signal.signal(signal.SIGINT, daemon.request_stop)
    signal.signal(signal.SIGHUP, daemon.request_reload)
