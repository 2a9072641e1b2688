"""Live retraining of several pairs at once, the networks trained in worker processes.

FreqAI's live bot retrains one pair at a time in one background thread (`_start_scanning`),
so a cycle over many pairs takes the sum of their trainings. With
`live_training_workers: N` (N > 1) a sequence model scans with N training threads instead.
Each runs FreqAI's own `extract_data_and_train_model` for one due pair while holding one
lock, which it lets go only while its network trains in a worker process. So everything
FreqAI and the model share (the drawer, the model's per-training attributes) is touched by
one thread at a time, and only the trainings themselves overlap. freqtrade's main loop keeps
predicting with the models it has, as it does with FreqAI's single thread.

A worker trains with the torch thread count and the random states the bot's own process
would have used at that point, so a network trained in a worker equals the one the
in-process training gives, weight for weight.
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from typing import Any

import numpy as np
import torch

from freqai_seq.model.training import TrainResult, train_network

logger = logging.getLogger(__name__)


def _start_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _train_in_worker(net: torch.nn.Module, train: Any, val: Any, cfg: Any,
                     device: torch.device, generator_state: torch.Tensor,
                     states: tuple[Any, Any, Any], loss_fn: Any, label: str,
                     ) -> tuple[dict[str, torch.Tensor], TrainResult, torch.Tensor]:
    torch.set_rng_state(states[0])
    np.random.set_state(states[1])
    random.setstate(states[2])
    torch.use_deterministic_algorithms(cfg.deterministic, warn_only=True)
    generator = torch.Generator()
    generator.set_state(generator_state)
    result = train_network(net, train, val, cfg, device, generator, loss_fn, None, label)
    return net.state_dict(), result, generator.get_state()


class LiveTrainingPool:
    """Worker processes for the networks, and the lock the training threads share."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.lock = threading.Lock()
        self._holders = threading.local()
        # spawn: the bot's threads (API server, asyncio loop) must not be forked mid-flight
        self.processes = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(torch.get_num_threads(),))

    def run_locked(self, job: Callable[[], None]) -> None:
        """Run a pair's training in this thread, under the lock (let go while its network
        trains in a worker)."""
        with self.lock:
            self._holders.active = True
            try:
                job()
            finally:
                self._holders.active = False

    @property
    def in_training_thread(self) -> bool:
        return getattr(self._holders, "active", False)

    def train(self, net: torch.nn.Module, train: Any, val: Any, cfg: Any,
              device: torch.device, generator: torch.Generator, loss_fn: Any,
              label: str) -> TrainResult:
        """`train_network` in a worker process: `net` and `generator` end as they would have
        in this process."""
        job = (net, train, val, cfg, device, generator.get_state(),
               (torch.get_rng_state(), np.random.get_state(), random.getstate()), loss_fn,
               label)
        future = self.processes.submit(_train_in_worker, *job)
        self.lock.release()
        try:
            state, result, generator_state = future.result()
        finally:
            self.lock.acquire()
        net.load_state_dict(state)
        generator.set_state(generator_state)
        return result

    def shutdown(self) -> None:
        self.processes.shutdown(wait=True, cancel_futures=True)


class ParallelLiveTraining:
    """IFreqaiModel mixin: `_start_scanning` with `live_training_workers` training threads."""

    live_pool: LiveTrainingPool | None = None

    def _start_scanning(self, strategy: Any) -> None:
        workers = self.seq_cfg.live_training_workers
        if workers <= 1:
            return super()._start_scanning(strategy)
        if self.seq_cfg.cross_pair:
            logger.warning("live_training_workers %d: a cross-pair bot trains one network per "
                           "cycle, so its pairs retrain in FreqAI's single thread", workers)
            return super()._start_scanning(strategy)
        from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

        self.live_pool = pool = LiveTrainingPool(workers)
        logger.info("Live retraining: %d pairs at a time, networks trained in worker processes",
                    workers)
        running: dict[str, Future[None]] = {}
        threads = ThreadPoolExecutor(workers, thread_name_prefix="freqai-seq-training")
        try:
            while not self._stop_event.is_set():
                # FreqAI's loop looks for due pairs every second; a finished training frees
                # its thread at once
                if running:
                    wait(running.values(), timeout=1, return_when=FIRST_COMPLETED)
                else:
                    time.sleep(1)
                for pair, future in list(running.items()):
                    if future.done():
                        del running[pair]
                        if (error := future.exception()) is not None:
                            logger.error("Training %s raised exception %s. Message: %s, "
                                         "skipping.", pair, type(error).__name__, error)
                for pair in list(self.train_queue):
                    if len(running) >= workers:
                        break
                    if pair in running:
                        continue
                    if pair not in strategy.dp.current_whitelist():
                        self.train_queue.remove(pair)
                        logger.warning("%s not in current whitelist, removing from train queue.",
                                       pair)
                        continue
                    with pool.lock:
                        trained_timestamp = self.dd.get_pair_dict_info(pair)[1]
                        dk = FreqaiDataKitchen(self.config, self.live, pair)
                        retrain, trained_range, load_range = \
                            dk.check_if_new_training_required(trained_timestamp)
                    if retrain:
                        running[pair] = threads.submit(
                            pool.run_locked, lambda p=pair, d=dk, t=trained_range,
                            r=load_range: self._train_live_pair(p, strategy, d, t, r))
        finally:
            threads.shutdown(wait=True, cancel_futures=True)
            pool.shutdown()
            self.live_pool = None

    def _train_live_pair(self, pair: str, strategy: Any, dk: Any, trained_range: Any,
                         load_range: Any) -> None:
        """FreqAI's training step of `_start_scanning` for one pair."""
        dk.set_paths(pair, trained_range.stopts)
        try:
            self.extract_data_and_train_model(trained_range, pair, strategy, dk, load_range)
        except Exception as msg:  # FreqAI's own wording, counted by our commands
            logger.exception(f"Training {pair} raised exception {msg.__class__.__name__}. "
                             f"Message: {msg}, skipping.")
        if pair in self.train_queue:  # FreqAI's rotation: the trained pair goes last
            self.train_queue.remove(pair)
            self.train_queue.append(pair)
        self.dd.save_historic_predictions_to_disk()
        if self.freqai_info.get("write_metrics_to_disk", False):
            self.dd.save_metric_tracker_to_disk()
