"""PyTorch datasets over the sharded datasets of an AIS-Go bucket.

* :class:`ShardDataset`: an ``IterableDataset`` that streams tar/tgz shards
  (a template such as ``shard-{000..063}.tar``, or a prefix) and yields
  WebDataset-style samples, the files of a record grouped by key::

      {"__key__": "a/b/sample-1", "__url__": "ais://bucket/shard-007.tar",
       "jpg": b"...", "cls": b"..."}

  (``__url__``, as in WebDataset, names the shard: a transform that fails
  can say where its sample came from.)

  Shards are split across DataLoader workers and distributed ranks (each
  shard read by exactly one of them), shuffled reproducibly per epoch
  (``set_epoch``), and streamed: a shard is never held whole in memory.

* :class:`RecordDataset`: a map-style ``Dataset`` over the members of
  indexed tar shards (``<shard>.idx``); item ``i`` is read with one range
  GET.

This module needs torch; ``import aisgo`` alone does not import it.
"""

from __future__ import annotations

import bisect
import bz2
import copy
import fcntl
import gzip
import io
import itertools
import lzma
import os
import random
import struct
import tempfile
import threading
import time
import warnings
import tarfile
import weakref
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from torch.utils.data import Dataset, IterableDataset, get_worker_info

from .client import MAX_HEADER_SIZE, MAX_MEMBER_SIZE, Client, _BoundedTarInfo, _check_tar_end
from .errors import AisConnectionError, AisError, AisTimeout, AnswerCut, DatasetError, ShardError, ShardIndexError
from .index import IndexMember, ShardIndex, is_index_name
from .template import TemplateError, member_name, parse_template, split_name

__all__ = ["ShardDataset", "RecordDataset", "resolve_shards", "distributed_rank", "Sample"]

Sample = Dict[str, Any]

#: Names of shards that tarfile streams (compression is detected from the data).
TAR_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".taz", ".tar.bz2", ".tbz", ".tbz2", ".tar.xz", ".txz")
#: Shard formats dSort writes that Python's tarfile cannot read.
UNSUPPORTED_SUFFIXES = (".zip", ".tar.lz4", ".tar.zst", ".msgpack", ".tfrecord")


def _is_tar_name(name: str) -> bool:
    return name.lower().endswith(TAR_SUFFIXES)


def resolve_shards(
    client: Client, bucket: str, template: Union[None, str, Sequence[str]] = None, prefix: Optional[str] = None
) -> List[str]:
    """Lists the shards of a bucket that a template (or a prefix) selects.

    A list of names is taken as it is.

    With a range template (``shard-{000..063}.tar``, ``shard-@063.tar``) the
    result is the existing names it makes, in the template's order; a name
    the template makes but the bucket lacks is skipped (a dSort output
    template is usually larger than its output). With a prefix (or a
    template without a range), every tar/tgz object under it, in name
    order. Index objects (``*.idx``) are never shards.

    Raises DatasetError when nothing matches, BucketNotFound when the bucket
    does not exist.
    """
    if template is not None and prefix is not None:
        raise ValueError("give a template or a prefix, not both")
    if isinstance(template, (list, tuple)):
        names = [str(n) for n in template]
        if not names:
            raise DatasetError(f"no shards of ais://{bucket} given")
        index = next((n for n in names if is_index_name(n)), None)
        if index is not None:
            raise DatasetError(f"ais://{bucket}/{index} is a shard's index, not a shard", kind="bad-request")
        _refuse_unsupported(bucket, names)
        return names
    try:
        t = parse_template(template) if template is not None else None
    except TemplateError as exc:
        raise DatasetError(str(exc), kind="bad-request") from exc
    if t is not None and t.is_range:
        listed = 0
        found: List[Tuple[Tuple[int, ...], str]] = []
        for e in client.list_objects(bucket, prefix=t.prefix, props="name"):
            listed += 1
            if is_index_name(e.name):
                continue
            values = t.values_of(e.name)
            if values is not None:
                found.append((values, e.name))
        if not found:
            raise DatasetError(
                f"no shard of ais://{bucket} matches the template {template!r} "
                f"({listed} object(s) listed under the prefix {t.prefix!r}, none of its {t.count()} names)"
            )
        names = [name for _, name in sorted(found)]
    else:
        pfx = prefix if prefix is not None else (t.prefix if t is not None else "")
        listed = 0
        names = []
        for e in client.list_objects(bucket, prefix=pfx, props="name"):
            listed += 1
            # Shards of a format tarfile cannot read are listed too, to
            # be refused below: left out, the dataset would silently be
            # a part of what is under the prefix.
            if not is_index_name(e.name) and (_is_tar_name(e.name) or e.name.lower().endswith(UNSUPPORTED_SUFFIXES)):
                names.append(e.name)
        if not names:
            raise DatasetError(
                f"no tar shard ({', '.join(TAR_SUFFIXES)}) in ais://{bucket} under the prefix {pfx!r} ({listed} object(s) listed)"
            )
    _refuse_unsupported(bucket, names)
    return names


def _refuse_unsupported(bucket: str, names: Sequence[str]) -> None:
    bad = [n for n in names if n.lower().endswith(UNSUPPORTED_SUFFIXES)]
    if bad:
        raise DatasetError(f"ais://{bucket}/{bad[0]}: this format is not supported here (tar, tgz, tar.bz2 and tar.xz shards are)", kind="bad-request")


def _known_place() -> Optional[Tuple[int, int]]:
    """This process's (rank, world size) when it has one: a process group
    initialized, or ``$RANK`` and ``$WORLD_SIZE``; else None (a launcher,
    or a DataLoader worker)."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except ImportError:
        pass
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return distributed_rank()
    return None


def distributed_rank(rank: Optional[int] = None, world_size: Optional[int] = None) -> Tuple[int, int]:
    """This process's (rank, world size): the ones given, else torch.distributed's
    when it is initialized, else ``$RANK`` and ``$WORLD_SIZE``, else (0, 1)."""
    if rank is None or world_size is None:
        r, w = 0, 1
        try:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                r, w = dist.get_rank(), dist.get_world_size()
            else:
                raise RuntimeError
        except (ImportError, RuntimeError):
            try:
                r = int(os.environ.get("RANK", "0"))
                w = int(os.environ.get("WORLD_SIZE", "1"))
            except ValueError as exc:
                raise ValueError(f"RANK={os.environ.get('RANK')!r}, WORLD_SIZE={os.environ.get('WORLD_SIZE')!r}: want integers") from exc
        rank = r if rank is None else rank
        world_size = w if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} of world size {world_size}: want 0 <= rank < world size")
    return rank, world_size


class _WorkerEpochs:
    """The iterations each DataLoader worker made since set_epoch, kept in a
    small file the training process makes (in /dev/shm where there is one)
    and removes: workers forked or spawned anew each epoch read the epochs
    before them there. A worker is known by its id and its training
    process (ranks forked from one process that made the dataset count
    apart). Without the file (a copy unpickled after its maker removed
    it), a worker counts in its own process from the counts it was given."""

    SLOTS = 1024  # (training process, worker) pairs; beyond, counted in the process only
    _SLOT = struct.Struct("<qq")  # key, count

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(prefix="aisgo-epochs-", dir=_shared_memory_dir())
        os.ftruncate(fd, self.SLOTS * self._SLOT.size)
        self._fd: Optional[int] = fd
        self._path = path
        self._trainer: Optional[int] = None  # None: the parent (forked workers)
        self._owner: Optional[int] = None  # the process that unpickled this copy
        self._lock = threading.Lock()
        self._local: Dict[int, int] = {}
        # Only the maker removes the file: a forked worker's copy would
        # remove it under its siblings.
        self._closer = weakref.finalize(self, _close_epochs, fd, path, os.getpid())

    @staticmethod
    def _key(trainer: int, worker: int) -> int:
        return trainer * 65536 + worker + 1  # never 0, an empty slot

    def next(self, worker: int) -> int:
        # A copy's pickler is the training process of the process that
        # unpickled it (a spawned worker), not of the processes that one
        # forks: ranks spawned with a dataset made in their launcher fork
        # workers of their own, which count apart.
        if self._trainer is None or os.getpid() != self._owner:
            trainer = os.getppid()
        else:
            trainer = self._trainer
        with self._lock:
            if self._fd is not None:
                done = self._next_shared(self._key(trainer, worker))
                if done is not None:
                    return done
            done = self._local.get(worker, 0)
            self._local[worker] = done + 1
            return done

    def _next_shared(self, key: int) -> Optional[int]:
        fd = self._fd
        assert fd is not None
        # lockf's locks are the process's own: workers that share the
        # file's description (forked) still exclude each other.
        fcntl.lockf(fd, fcntl.LOCK_EX)
        try:
            table = os.pread(fd, self.SLOTS * self._SLOT.size, 0)
            for offset in range(0, len(table) - self._SLOT.size + 1, self._SLOT.size):
                slot, done = self._SLOT.unpack_from(table, offset)
                if slot in (0, key):
                    os.pwrite(fd, self._SLOT.pack(key, done + 1), offset)
                    return done
            return None
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)

    def _counts_of(self, trainer: int) -> Dict[int, int]:
        counts = dict(self._local)
        if self._fd is not None:
            table = os.pread(self._fd, self.SLOTS * self._SLOT.size, 0)
            for offset in range(0, len(table) - self._SLOT.size + 1, self._SLOT.size):
                key, done = self._SLOT.unpack_from(table, offset)
                if key and (key - 1) // 65536 == trainer:
                    counts[(key - 1) % 65536] = done
        return counts

    def __getstate__(self) -> Dict[str, Any]:
        # Pickled by the training process for its spawned workers: they
        # count as its workers, in the same file.
        trainer = os.getpid()
        return {"path": self._path, "trainer": trainer, "counts": self._counts_of(trainer)}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._path = state["path"]
        self._trainer = state["trainer"]
        self._owner = os.getpid()
        self._lock = threading.Lock()
        self._local = dict(state["counts"])
        try:
            # Opened now and kept: the maker may remove the file while a
            # persistent worker still counts in it.
            self._fd = os.open(self._path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            self._fd = None
            return
        self._closer = weakref.finalize(self, os.close, self._fd)


def _shared_memory_dir() -> Optional[str]:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _close_epochs(fd: int, path: str, maker: int) -> None:
    os.close(fd)
    if os.getpid() == maker:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


# DATASET_RETRY_TIME is how long a dataset's reads are tried again when a
# node cannot be reached: a target restarting (a rolling upgrade, its
# keepalive timeout and its start) does not end a training job.
DATASET_RETRY_TIME = 60.0


def _retrying(client: Client, retry_time: float) -> Client:
    """A copy of client whose reads are tried again for retry_time seconds
    (the longer of its own and this)."""
    if retry_time < 0:
        raise ValueError(f"retry_time {retry_time}: cannot be negative")
    if client is None or getattr(client, "retry_time", 0.0) >= retry_time:
        return client
    reading = copy.copy(client)
    reading.retry_time = retry_time
    return reading


class ShardDataset(IterableDataset):
    """Streams the samples of a bucket's tar/tgz shards.

    Args:
        client: the cluster's client (pickled into DataLoader workers).
        bucket: the bucket of the shards.
        template: shard names, e.g. ``"shard-{000..063}.tar"``; names that
            do not exist are skipped, but at least one must. A list of
            names is taken as it is.
        prefix: instead of a template, every tar/tgz object under a prefix.
            With neither, every tar/tgz shard of the bucket.
        shuffle_buffer: samples kept in a buffer from which a random one is
            yielded (0: no sample shuffle).
        seed: the seed of every shuffle; with the epoch (``set_epoch``) it
            fixes the order.
        transform: called with each sample; its result is yielded instead
            (None drops the sample).
        shuffle_shards: shuffle the shard order each epoch; default: when
            ``shuffle_buffer`` > 0, or ``samples_per_epoch`` is given (an
            epoch that stops at the count would read the same first
            shards each time).
        rank, world_size: this process's place among distributed ranks;
            default torch.distributed's, else ``$RANK``/``$WORLD_SIZE``.
        retry_time: seconds a read is tried again when its node cannot be
            reached (a target restarting); the dataset reads with a copy
            of the client set so, the one given is left as it is.
        samples_per_epoch: the samples every rank yields in an epoch,
            exactly (split over its DataLoader workers), as WebDataset's
            ``with_epoch``: ranks whose shards hold different numbers of
            samples (dSort cuts shards by size) then take the same steps,
            and a DDP job does not wait at the end of an epoch for the
            rank with the most, batched or not. The count is split evenly
            over the workers (on every rank, at most as many as the rank
            with the fewest shards has; the others yield nothing), each
            reading its own shards: a worker whose shards
            run out goes on with them in the next epoch's order, one with
            more stops at its count (so an epoch may repeat some samples
            and leave others, N the rank's total too). A shuffle buffer
            shuffles each pass over the shards on its own. Default: every
            sample of the rank's shards, once.

    Each epoch, the shard list is shuffled (the same way in every process)
    and split: rank r of w takes every w-th shard from r, and DataLoader
    worker k of n every n-th of those from k. So ranks and workers read
    disjoint shards that together cover the dataset, as long as every
    rank lists the same shards: each lists them itself, so a dataset still
    being written (a dSort job running) is given as an explicit list, or
    read once it is complete. The sample shuffle buffer is seeded by
    (seed, epoch, rank, worker).

    Each iteration after ``set_epoch(e)`` is the next epoch: e, e+1, ...
    (without set_epoch, 0, 1, ...), in the training process and in
    DataLoader workers alike: persistent ones, which keep the dataset they
    were given and never see a later set_epoch, and ones started anew each
    epoch (forked, spawned or by a forkserver), which count the epochs
    before them in a small file the training process shares with them.

    A sample is ``{"__key__": key, "__url__": "ais://bucket/shard", ext:
    bytes, ...}``: consecutive files of a shard whose names share the key
    (the name up to the first '.' of its last component) form one sample,
    keyed by their extensions (without the dot). A shard that cannot be
    read raises ShardError naming it.
    """

    def __init__(
        self,
        client: Client,
        bucket: str,
        template: Union[None, str, Sequence[str]] = None,
        prefix: Optional[str] = None,
        shuffle_buffer: int = 0,
        seed: int = 0,
        transform: Optional[Callable[[Sample], Any]] = None,
        *,
        shuffle_shards: Optional[bool] = None,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        retry_time: float = DATASET_RETRY_TIME,
        samples_per_epoch: Optional[int] = None,
    ) -> None:
        super().__init__()
        if shuffle_buffer < 0:
            raise ValueError("shuffle_buffer must be >= 0")
        if samples_per_epoch is not None and (isinstance(samples_per_epoch, bool) or int(samples_per_epoch) != samples_per_epoch or samples_per_epoch < 1):
            raise ValueError(f"samples_per_epoch {samples_per_epoch!r}: want a whole number of 1 or more")
        self.samples_per_epoch = None if samples_per_epoch is None else int(samples_per_epoch)
        self.client = client = _retrying(client, retry_time)
        self.bucket = bucket
        self.template = template
        self.prefix = prefix
        self.shuffle_buffer = int(shuffle_buffer)
        self.seed = int(seed)
        self.transform = transform
        self.shuffle_shards = (self.shuffle_buffer > 0 or self.samples_per_epoch is not None) if shuffle_shards is None else bool(shuffle_shards)
        self.rank = rank
        self.world_size = world_size
        if (rank is None) != (world_size is None):
            raise ValueError("give both rank and world_size, or neither")
        if rank is not None:
            distributed_rank(rank, world_size)  # validate
        self.shards: List[str] = resolve_shards(client, bucket, template, prefix)
        self.epoch = 0
        self._iterated = 0  # iterations since set_epoch: the epochs after it
        self._worker_epochs = _WorkerEpochs()
        self._pickled_place: Optional[Tuple[int, int]] = None
        self._warned_uneven = False

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch of the next iteration: with the seed, it fixes the
        shard and sample order; the iterations after it are the next epochs."""
        self.epoch = int(epoch)
        self._iterated = 0
        # A new count: persistent workers, forked before, keep theirs.
        self._worker_epochs = _WorkerEpochs()

    def __getstate__(self) -> Dict[str, Any]:
        # Pickled for DataLoader workers (spawn, forkserver): the rank of
        # the training process goes with it, as a worker has no process
        # group. Only a rank the pickling process has: a dataset made in a
        # launcher and spawned into the ranks takes each rank's own.
        state = self.__dict__.copy()
        if self.rank is None:
            place = _known_place()
            if place is not None:
                state["_pickled_place"] = place
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        # The process it was pickled for: a worker there takes the
        # training process's place over its environment's.
        self._unpickled_in = os.getpid()

    def __repr__(self) -> str:
        return f"ShardDataset(ais://{self.bucket}, {len(self.shards)} shards, epoch {self.epoch})"

    def epoch_shards(self, epoch: Optional[int] = None) -> List[str]:
        """Every shard, in the order of an epoch (the same in every process)."""
        shards = list(self.shards)
        if self.shuffle_shards:
            e = self.epoch if epoch is None else epoch
            random.Random(f"aisgo-shards:{self.seed}:{e}").shuffle(shards)
        return shards

    def shards_for(
        self, rank: int = 0, world_size: int = 1, worker: int = 0, num_workers: int = 1, epoch: Optional[int] = None
    ) -> List[str]:
        """The shards one worker of one rank reads in an epoch."""
        if not 0 <= worker < num_workers:
            raise ValueError(f"worker {worker} of {num_workers}")
        distributed_rank(rank, world_size)
        if world_size > len(self.shards):
            # That rank's training loop would end at once, and the others
            # wait for it in every collective step (a hang, not an error).
            raise ValueError(
                f"{len(self.shards)} shards of ais://{self.bucket} for {world_size} ranks: rank {len(self.shards)} and up would read none; "
                "use at least as many shards as ranks (dSort can cut the dataset into more)"
            )
        if world_size > 1 and len(self.shards) % world_size and not self._warned_uneven and self.samples_per_epoch is None:
            self._warned_uneven = True
            warnings.warn(
                f"{len(self.shards)} shards of ais://{self.bucket} over {world_size} ranks: some ranks read one shard more, and the others "
                "end their epoch first (a DDP job then waits for them): give samples_per_epoch (a multiple of the ranks is not "
                "enough when shards hold different numbers of samples, as dSort's cut by size do)",
                stacklevel=2,
            )
        return self.epoch_shards(epoch)[rank::world_size][worker::num_workers]

    def _place(self) -> Tuple[int, int, int, int]:
        if self.rank is not None:
            rank, world = distributed_rank(self.rank, self.world_size)
        elif self._pickled_place and get_worker_info() is not None and getattr(self, "_unpickled_in", None) == os.getpid():
            # A spawned worker has no process group, and its $RANK may be
            # another's (a node's, under a launcher that spawns a process
            # per GPU): the training process's place, pickled for it.
            rank, world = self._pickled_place
        else:
            rank, world = _known_place() or self._pickled_place or (0, 1)
        info = get_worker_info()
        if info is None:
            return rank, world, 0, 1
        return rank, world, info.id, info.num_workers

    def __iter__(self) -> Iterator[Any]:
        # The epoch is counted when the iterator is made, not at its first
        # sample: a worker whose loader stopped before it read any (a peek,
        # a break) still moves on with the others.
        rank, world, worker, workers = self._place()
        if get_worker_info() is None:
            epoch = self.epoch + self._iterated
            self._iterated += 1
        else:
            epoch = self.epoch + self._worker_epochs.next(worker)
        shards = self.shards_for(rank, world, worker, workers, epoch=epoch)
        return self._samples(rank, world, worker, workers, epoch, shards)

    def _samples(self, rank: int, world: int, worker: int, workers: int, epoch: int, shards: List[str]) -> Iterator[Any]:
        quota = None
        # Of each pass over the worker's shards (samples_per_epoch): the
        # samples read once it is whole, and those handed to the transform.
        read: Dict[int, int] = {}
        handed: Dict[int, int] = {}
        if self.samples_per_epoch is not None:
            # This worker's part of the rank's count: as many workers of
            # every rank yield it together, exactly, each rank's shards
            # split among them, as many as the rank with the fewest shards
            # has (a worker past its rank's shards would read another's
            # from its start; and ranks whose workers split the count
            # otherwise would batch it into other numbers of steps).
            active = min(workers, len(self.shards) // world)
            if worker >= active:
                return
            quota = self.samples_per_epoch // active + (1 if worker < self.samples_per_epoch % active else 0)
            if quota == 0:
                return
        rng = random.Random(f"aisgo-samples:{self.seed}:{epoch}:{rank}:{worker}") if self.shuffle_buffer > 0 else None
        if quota is not None:
            samples: Iterator[Any] = self._cycle(rank, world, worker, active, epoch, read, rng)
        else:
            samples = self._stream(shards)
            if rng is not None:
                samples = _shuffled(samples, self.shuffle_buffer, rng)
        yielded = 0
        for sample in samples:
            if quota is not None:
                p, sample = sample
                if yielded == 0:
                    handed[p] = handed.get(p, 0) + 1
            if self.transform is not None:
                sample = self.transform(sample)
                if sample is None:
                    # Every sample of two whole passes handed over and
                    # dropped: the count would never be met.
                    if quota is not None and yielded == 0 and sum(1 for q, n in read.items() if handed.get(q) == n) >= 2:
                        raise DatasetError(
                            f"the transform dropped every sample of the shards of worker {worker} of rank {rank} of ais://{self.bucket} "
                            "in two passes: samples_per_epoch cannot be met"
                        )
                    continue
            yield sample
            yielded += 1
            if quota is not None and yielded >= quota:
                return

    def _stream(self, shards: Sequence[str]) -> Iterator[Sample]:
        for shard in shards:
            yield from iter_shard(self.client, self.bucket, shard)

    def _cycle(
        self, rank: int, world: int, worker: int, workers: int, epoch: int, read: Dict[int, int], rng: Optional[random.Random]
    ) -> Iterator[Tuple[int, Sample]]:
        """A worker's samples of an epoch and, once they run out, of the
        epochs after (their shard orders), for samples_per_epoch: each with
        its pass, whose count goes in read once the pass is whole. Each
        pass is shuffled on its own (rng): a buffer over the endless
        stream held copies of one sample from several passes, and an
        epoch repeated some and left others."""
        # A pass over shards that hold no sample (empty tars) goes on to
        # the next epoch's, other shards when they are shuffled: an error
        # only once the worker has passed over the rank's every shard, or,
        # unshuffled, over its own again.
        empty: set = set()
        for p, e in enumerate(itertools.count(epoch)):
            shards = self.epoch_shards(e)[rank::world][worker::workers]
            stream: Iterator[Sample] = self._stream(shards)
            if rng is not None:
                stream = _shuffled(stream, self.shuffle_buffer, rng)
            n = 0
            for sample in stream:
                n += 1
                yield p, sample
            if n == 0:
                empty.update(shards)
                every = self.epoch_shards(e)[rank::world]
                if not self.shuffle_shards or empty >= set(every) or p >= 4 * len(every):
                    raise DatasetError(
                        f"the shards of worker {worker} of rank {rank} of ais://{self.bucket} ({', '.join(sorted(empty))}) hold no samples: "
                        "samples_per_epoch cannot be met"
                    )
                continue
            empty.clear()
            if len(read) < 2:
                read[p] = n  # the first two passes tell


def _shuffled(samples: Iterator[Sample], size: int, rng: random.Random) -> Iterator[Sample]:
    """A shuffle buffer: yields a random one of the ``size`` samples it holds."""
    buf: List[Sample] = []
    for s in samples:
        if len(buf) < size:
            buf.append(s)
            continue
        i = rng.randrange(len(buf))
        buf[i], s = s, buf[i]
        yield s
    rng.shuffle(buf)
    yield from buf


def iter_shard(client: Client, bucket: str, shard: str, max_member_size: int = MAX_MEMBER_SIZE) -> Iterator[Sample]:
    """Streams one tar/tgz shard and yields its samples in order.

    Consecutive regular files with the same key form a sample; a later file
    with an extension the sample already has replaces it. Raises ShardError
    (naming the shard, and the offset in the tar stream) when the shard is
    corrupt, truncated or not a tar, when a file is larger than
    ``max_member_size`` (each is read into memory), or when a file's
    extension is ``__key__`` or ``__url__`` (the sample's own key, and
    the shard's ``ais://bucket/name``, which every sample carries).
    """
    where = f"ais://{bucket}/{shard}"
    reader = client.open_object(bucket, shard)
    tf: Optional[tarfile.TarFile] = None
    sample: Optional[Sample] = None
    member: Optional[tarfile.TarInfo] = None  # the one whose data is being read
    try:
        try:
            # tarfile's own stream buffer is kept small: it copies what
            # stays of it at every read (4-100 times slower at 1 MiB).
            tf = tarfile.open(fileobj=_checked_stream(reader), mode="r|", bufsize=64 << 10, tarinfo=_BoundedTarInfo)
            warned = False
            for ti in tf:
                # tarfile keeps every member read, in stream mode too: a
                # shard of a million small files would take gigabytes.
                tf.members = []
                if not ti.isreg():
                    if (ti.issym() or ti.islnk()) and not warned:
                        warned = True
                        warnings.warn(f"shard {where}: links (such as {ti.name!r}) are not files and are skipped: pack with tar -h --hard-dereference", stacklevel=2)
                    continue
                member = ti
                if ti.size > max_member_size:
                    raise ShardError(f"shard {where}: {ti.name} is {ti.size} bytes, more than the {max_member_size} a file read into memory may be", shard=where, offset=ti.offset)
                f = tf.extractfile(ti)
                data = f.read() if f is not None else b""
                if len(data) != ti.size:
                    raise tarfile.ReadError(f"{len(data)} of {ti.size} bytes")
                member = None
                key, ext = split_name(member_name(ti.name))
                if ext in ("__key__", "__url__"):
                    raise ShardError(f"shard {where}: {ti.name} would replace its sample's {ext}", shard=where, offset=ti.offset)
                if sample is None or sample["__key__"] != key:
                    if sample is not None:
                        yield sample
                    sample = {"__key__": key, "__url__": where}
                sample[ext] = data
            _check_tar_end(tf)
        except AisError:
            raise
        # (IndexError and RecursionError: tarfile's on a header cut inside a
        # sparse map, or hundreds of chained PAX headers.)
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError, ValueError, UnicodeError, IndexError, RecursionError) as exc:
            if member is not None:
                offset = member.offset
                at = f"in member {member.name!r}, whose header is at offset {offset} of the tar stream"
            else:
                offset = tf.offset if tf is not None else 0
                at = f"at offset {offset} of the tar stream"
            raise ShardError(
                f"shard {where} is corrupt or not a tar/tgz shard: {exc} ({at}; {reader.tell()} bytes of the object read)",
                shard=where,
                offset=offset,
            ) from exc
        if sample is not None:
            yield sample
    finally:
        if tf is not None:
            try:
                tf.close()
            except Exception:
                pass
        reader.close()


def _checked_stream(reader: Any) -> Any:
    """The shard's stream, a tgz one through gzip.GzipFile: tarfile's own
    stream reader never checks the gzip CRC and length, and would yield
    flipped bytes of a stored block as data. The check comes at the end of
    the gzip member (the shard's trailer is read to its end)."""
    buffered = io.BufferedReader(reader, 1 << 16)
    head = buffered.peek(10)[:10]
    magic = head[:6]
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered, mode="rb")
    # Through their file readers, which bound what one read inflates
    # (tarfile's stream would inflate a MiB of input whole: a sparse
    # member, gigabytes at once).
    # bzip2's whole header (a block size, then a block's or the end's
    # magic): a tar's first member may be named "BZh...".
    if head[:3] == b"BZh" and head[3:4] in (b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9") and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return bz2.BZ2File(buffered, mode="rb")
    if magic == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(buffered, mode="rb")
    return buffered


def _transient(exc: AisError) -> bool:
    """Whether an error may not come again: no answer came whole (a node
    cut off, restarting, busy), not a refusal or a client's mistake."""
    if isinstance(exc, ShardIndexError):
        return False
    return isinstance(exc, (AisConnectionError, AisTimeout, AnswerCut)) or exc.status == 503


class RecordDataset(Dataset):
    """A map-style dataset of the members of indexed tar shards.

    Args:
        client: the cluster's client.
        bucket: the bucket of the shards.
        shards: a list of shard names, or a template (as ShardDataset
            takes; the names that exist).
        transform: called with each item; its result is returned instead.
        retry_time: as ShardDataset's.

    Every shard needs its index, ``<shard>.idx`` (``ais archive index``, or
    dSort's ``"output_index": true``). Item ``i`` is the i-th member across
    the shards in order: ``{"__key__": key, "__url__": "ais://bucket/shard",
    "name": member name, "data": bytes}``, read with one range GET.
    """

    def __init__(
        self,
        client: Client,
        bucket: str,
        shards: Union[str, Sequence[str]],
        transform: Optional[Callable[[Sample], Any]] = None,
        *,
        load_concurrency: int = 8,
        retry_time: float = DATASET_RETRY_TIME,
    ) -> None:
        super().__init__()
        self.client = client = _retrying(client, retry_time)
        self.bucket = bucket
        self.transform = transform
        # A list is checked as a listing is (no index, no format tarfile
        # cannot read).
        names = resolve_shards(client, bucket, shards if isinstance(shards, str) else list(shards))
        # Members are read by range: a compressed shard has no offsets to
        # index (`ais archive index` refuses it).
        compressed = next((n for n in names if _is_tar_name(n) and not n.lower().endswith(".tar")), None)
        if compressed is not None:
            raise DatasetError(
                f"ais://{bucket}/{compressed} is compressed: RecordDataset reads indexed uncompressed .tar shards; read it with ShardDataset",
                kind="bad-request",
            )
        with ThreadPoolExecutor(max_workers=max(1, min(load_concurrency, len(names)))) as pool:
            self.indexes: List[ShardIndex] = list(pool.map(lambda s: ShardIndex.load(client, bucket, s), names))
        self.shards = names
        self._starts: List[int] = []
        total = 0
        for idx in self.indexes:
            self._starts.append(total)
            total += len(idx)
        self._len = total

    def __len__(self) -> int:
        return self._len

    def locate(self, i: int) -> Tuple[ShardIndex, IndexMember]:
        """The shard index and member of item ``i``."""
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(f"record {i} out of range ({self._len} records)")
        s = bisect.bisect_right(self._starts, i) - 1
        idx = self.indexes[s]
        return idx, idx.members[i - self._starts[s]]

    def __getitem__(self, i: int) -> Any:
        idx, m = self.locate(int(i))
        data = self._member(idx, m)
        item: Sample = {"__key__": split_name(m.name)[0], "__url__": f"ais://{self.bucket}/{idx.shard}", "name": m.name, "data": data}
        if self.transform is not None:
            return self.transform(item)
        return item

    def __getitems__(self, indices: Sequence[int]) -> List[Any]:
        """The items of a batch, read with one get-batch request: a
        DataLoader with a batch size calls this for each batch instead of
        ``__getitem__`` per item."""
        located = [self.locate(int(i)) for i in indices]
        entries: List[Dict[str, Any]] = []
        for idx, m in located:
            if m.size > 0:
                entry: Dict[str, Any] = {"objname": idx.shard, "start": m.data_offset, "length": m.size}
                if idx.shard_checksum:
                    # A shard rewritten since it was indexed fails the
                    # request, rather than give other bytes at the offsets.
                    entry["if_checksum"] = {"type": idx.shard_checksum[0], "value": idx.shard_checksum[1]}
                entries.append(entry)
        try:
            datas = iter(self._batch(entries, [idx for idx, _ in located]) if entries else [])
        except AisError:
            # Say which shard changed, when one did.
            for idx in {id(idx): idx for idx, _ in located}.values():
                idx.check_current(self.client, self.bucket)
            raise
        items: List[Any] = []
        for idx, m in located:
            data = next(datas, b"") if m.size > 0 else b""
            if len(data) != m.size:
                raise DatasetError(f"RecordDataset: {idx.shard}:{m.name}: get-batch returned {len(data)} bytes, the index says {m.size}")
            item: Sample = {"__key__": split_name(m.name)[0], "__url__": f"ais://{self.bucket}/{idx.shard}", "name": m.name, "data": data}
            items.append(self.transform(item) if self.transform is not None else item)
        return items

    def _member(self, idx: ShardIndex, m: IndexMember) -> bytes:
        """A member's bytes, read again while the client's ``retry_time``
        lasts when the read was cut (a target killed or restarting), as
        a batch's are."""
        try:
            return self._ride_out(lambda: idx.read_member(self.client, self.bucket, m), [idx])
        except AisError:
            # Say so when the shard changed (a range past a shorter one's
            # end is a bare 416), as a batch does.
            idx.check_current(self.client, self.bucket)
            raise

    def _batch(self, entries: List[Dict[str, Any]], indexes: Sequence[Any] = ()) -> List[bytes]:
        """The entries' bytes by one get-batch, asked again while the
        client's ``retry_time`` lasts when no answer came whole (a target
        killed or restarting cut it): a training job rides that out, as
        ShardDataset's reads do."""
        return self._ride_out(lambda: [data for _, data in self.client.get_batch(self.bucket, entries)], indexes)

    def _ride_out(self, read: Callable[[], Any], indexes: Sequence[Any]) -> Any:
        """``read()``, asked again while the client's ``retry_time`` lasts
        when no answer came whole. A node's refusal is not asked again:
        one of a later entry also cuts an answer, so the shards are
        checked (a shard changed since it was indexed, or gone, is said
        at once)."""
        deadline = time.monotonic() + self.client.retry_time
        delay = 0.5
        while True:
            try:
                return read()
            except AisError as exc:
                if not _transient(exc) or time.monotonic() + delay > deadline:
                    raise
                for idx in {id(idx): idx for idx in indexes}.values():
                    try:
                        idx.check_current(self.client, self.bucket)
                    except AisError as check:
                        if not _transient(check):
                            raise
                # (The checks may themselves have waited out a node down.)
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 5.0)

    def __repr__(self) -> str:
        return f"RecordDataset(ais://{self.bucket}, {len(self.indexes)} shards, {self._len} records)"
