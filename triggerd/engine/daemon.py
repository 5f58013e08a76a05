"""`triggerd run`: load, open the store, catch up, then schedule and dispatch until a signal."""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from types import FrameType

from triggerd.config import Config
from triggerd.datastores.watch import FolderWatcher
from triggerd.engine.dispatcher import Dispatch, Dispatcher
from triggerd.engine.runtime import Runtime
from triggerd.engine.scheduler import TimeScheduler
from triggerd.observability.logging import get_logger
from triggerd.settings import Settings
from triggerd.store import RunRecord, Store
from triggerd.store.repository import utcnow


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
        self._log = get_logger()
        started = clock()
        self.instance_id = store.register_instance(started, os.getpid())
        self.dispatcher = Dispatcher(
            store,
            self._resolve,
            owner=self.instance_id,
            concurrency=settings.concurrency,
            clock=clock,
            limits=self._limits,
        )
        self.runtime = Runtime(
            config,
            store,
            clock=clock,
            owner=self.instance_id,
            running_since=started,
            on_recorded=self.dispatcher.wake,
        )
        self.scheduler = TimeScheduler(self.runtime.tick)
        self.watcher = FolderWatcher()

    def _resolve(self, run: RunRecord) -> Dispatch | str:
        return self.runtime.resolve(run)

    def _limits(self) -> dict[str, tuple[str, int]]:
        return self.runtime.overlap_limits()

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        self._log.info("daemon.stopping", signal=signal.Signals(signum).name)
        self.stop_requested.set()

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
        self.runtime.startup()
        for schedule in self.runtime.time_schedules():
            assert schedule.recurrence is not None
            self.scheduler.add(
                schedule.name, schedule.recurrence, self.runtime.anchor(schedule.name)
            )
        for name, poller in self.runtime.pollers.items():
            self.scheduler.add_poll(name, poller.schedule.polling_interval, poller.poll)
        self.scheduler.start()
        self._watch_local_folders()
        self.dispatcher.start()
        interval = self.settings.heartbeat_interval.total_seconds()
        while not self.stop_requested.wait(interval):
            self._heartbeat()
        return self.shutdown()

    def _watch_local_folders(self) -> None:
        for name, poller in self.runtime.pollers.items():
            folder = poller.local_folder()
            if folder is not None:
                wake = functools.partial(self.scheduler.wake_poll, name)
                poller.watched = self.watcher.watch(name, folder, wake)

    def _heartbeat(self) -> None:
        try:
            self.store.heartbeat(self.instance_id, self.clock())
        except Exception as exc:  # a briefly unavailable store must not kill the daemon
            self._log.error("daemon.heartbeat_failed", error=str(exc))

    def shutdown(self) -> int:
        self.watcher.stop()
        self.scheduler.shutdown()
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
