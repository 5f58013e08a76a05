"""`triggerd run`: load, open the store, catch up, then schedule and dispatch until a signal."""

from __future__ import annotations

import functools
import gc
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType

from triggerd.config import Config, load_config
from triggerd.datastores.watch import FolderWatcher
from triggerd.engine.batcher import TickBatcher
from triggerd.engine.dispatcher import Dispatch, Dispatcher
from triggerd.engine.runtime import Runtime, collector_paused
from triggerd.engine.scheduler import TimeScheduler
from triggerd.errors import ConfigError
from triggerd.observability.httpserver import HealthServer, parse_address
from triggerd.observability.logging import get_logger
from triggerd.observability.metrics import Metrics
from triggerd.observability.sdnotify import NOTIFY_ENV, Notifier
from triggerd.settings import Settings
from triggerd.store import RunRecord, Store
from triggerd.store.repository import utcnow

CONFIG_WATCH = "config:"  # the watch key of the config folder (schedule names cannot hold ':')
RELOAD_DEBOUNCE = 0.3  # seconds
LIVENESS_BEAT = 1.0  # seconds between the scheduler's liveness beats
STALE_LOOP = 15.0  # seconds without a beat before the daemon counts as wedged


class Daemon:
    def __init__(
        self,
        config: Config,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.stop_requested = threading.Event()
        self._reload_requested = threading.Event()
        self._wakeup = threading.Event()
        self._log = get_logger()
        self.notifier = Notifier.from_env()
        for variable in NOTIFY_ENV:  # as sd_notify(unset_environment=1): not for the children
            os.environ.pop(variable, None)
        self.metrics = Metrics()
        self.metrics.set_schedules(len(config.schedules))
        self._scheduler_beat = time.monotonic()
        self._ready = False
        started = clock()
        self.instance_id = store.register_instance(started, os.getpid())
        self.dispatcher = Dispatcher(
            store,
            self._resolve,
            owner=self.instance_id,
            concurrency=settings.concurrency,
            clock=clock,
            limits=self._limits,
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
        )
        self.batcher = TickBatcher(self.runtime.tick_many)
        self.scheduler = TimeScheduler(self.batcher.request)
        self.watcher = FolderWatcher()

    def _resolve(self, run: RunRecord) -> Dispatch | str:
        return self.runtime.resolve(run)

    def _limits(self) -> dict[str, tuple[str, int]]:
        return self.runtime.overlap_limits()

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        self._log.info("daemon.stopping", signal=signal.Signals(signum).name)
        self.stop_requested.set()
        self._wakeup.set()

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
        self.scheduler.add_beat(LIVENESS_BEAT, self._beat)
        self.batcher.start()
        self.scheduler.start()
        self._watch_config()
        self.dispatcher.start()
        self._ready = True
        self.notifier.ready(self._status())
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
            if self._reload_requested.is_set():
                time.sleep(RELOAD_DEBOUNCE)  # let an editor finish writing its files
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

    # -- liveness, readiness, status -------------------------------------------------------

    def _beat(self) -> None:
        """A scheduler job: proof that the scheduler's loop and its workers still run."""
        self._scheduler_beat = time.monotonic()

    def alive(self) -> tuple[bool, str]:
        """Healthy while the scheduler and the dispatcher loops both go round."""
        if not self._ready:
            return True, "starting (catching up)"
        now = time.monotonic()
        scheduler_age = now - self._scheduler_beat
        dispatcher_age = now - self.dispatcher.loop_at
        if not self.scheduler.running or scheduler_age > STALE_LOOP:
            return False, f"scheduler loop silent for {scheduler_age:.0f}s"
        if dispatcher_age > STALE_LOOP:
            return False, f"dispatcher loop silent for {dispatcher_age:.0f}s"
        return True, "scheduler and dispatcher running"

    def ready(self) -> tuple[bool, str]:
        if not self._ready:
            return False, "starting"
        try:
            self.store.ping()
        except Exception as exc:
            return False, f"database unreachable: {type(exc).__name__}"
        return True, f"{len(self.runtime.config.schedules)} schedules loaded"

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
                health=self.alive,
                ready=self.ready,
                metrics=self.metrics,
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
            if schedule.recurrence is not None:
                anchor = self.runtime.anchor(name)
                first = self.runtime.first_fires.pop(name, None)
                self.scheduler.add(name, schedule.recurrence, anchor, first_fire=first)
            poller = self.runtime.pollers.get(name)
            if poller is None:
                continue
            self.scheduler.add_poll(name, schedule.polling_interval, poller.poll)
            folder = poller.local_folder()
            if folder is not None:
                wake = functools.partial(self.scheduler.wake_poll, name)
                poller.watched = self.watcher.watch(name, folder, wake)

    def _watch_config(self) -> None:
        path = self.settings.config.resolve()
        is_dir = path.is_dir()
        folder = path if is_dir else path.parent

        def is_config(changed: str) -> bool:
            if is_dir:  # Kubernetes swaps a ConfigMap volume's "..data" symlink
                return changed.endswith((".yaml", ".yml")) or "/..data" in changed
            return Path(changed).resolve() == path

        self.watcher.watch(CONFIG_WATCH, folder, self.request_reload, accept=is_config)

    def reload(self) -> bool:
        """Re-read the config; on any problem keep the last good one. True if it changed."""
        try:
            with collector_paused():
                new = load_config(self.settings.config)
        except ConfigError as exc:
            for problem in exc.problems:
                self._log.error(
                    "config.reload_failed",
                    file=problem.file,
                    line=problem.line,
                    key=problem.key,
                    problem=problem.message,
                )
            self.metrics.config_reload(ok=False)
            return False
        self.metrics.config_reload(ok=True)
        self.metrics.set_schedules(len(new.schedules))
        change = self.runtime.replace_config(new)
        if not change.any:
            self._log.debug("config.unchanged")
            return False
        for name in change.removed + change.changed:
            self.scheduler.remove(name)
            self.watcher.unwatch(name)
        self._schedule(change.added + change.changed)
        for name in change.added + change.changed:
            if new.schedules[name].recurrence is not None:
                self.runtime.tick(name)
        self._log.info(
            "config.reloaded",
            added=change.added,
            removed=change.removed,
            changed=change.changed,
            schedules=len(new.schedules),
        )
        return True

    def _heartbeat(self) -> None:
        """Every few seconds: the store heartbeat, systemd's watchdog, status and queue gauges.

        The watchdog is only fed while the loops are alive, so a wedged daemon is restarted.
        """
        healthy, reason = self.alive()
        if healthy:
            self.notifier.watchdog()
        else:
            self._log.error("daemon.unhealthy", reason=reason)
        try:
            self.store.heartbeat(self.instance_id, self.clock())
            self.runtime.keep_alive(self.dispatcher.in_flight_ids())
            self.metrics.set_queue_depth(
                self.store.count_runs(status="pending"), self.store.count_runs(status="running")
            )
        except Exception as exc:  # a briefly unavailable store must not kill the daemon
            self._log.error("daemon.heartbeat_failed", error=str(exc))
        self.notifier.status(self._status())

    def shutdown(self) -> int:
        self.watcher.stop()
        self.scheduler.shutdown()
        self.batcher.stop()
        in_flight = self.dispatcher.in_flight
        if in_flight:
            self._log.info(
                "daemon.draining",
                runs_in_flight=in_flight,
                grace_s=self.settings.shutdown_grace.total_seconds(),
            )
        self.dispatcher.stop(self.settings.shutdown_grace)
        self.runtime.close()
        self.store.stop_instance(self.instance_id, self.clock())
        self._log.info("daemon.stopped")
        return 0


def install_signal_handlers(daemon: Daemon) -> None:
    signal.signal(signal.SIGTERM, daemon.request_stop)
    signal.signal(signal.SIGINT, daemon.request_stop)
    signal.signal(signal.SIGHUP, daemon.request_reload)
