"""A node's view of the network: the verified directory and the OPRF evaluators.

Pseudonymising is always an online, audited evaluation; the node never holds the OPRF key.
An epoch the signed directory lists as split (#13) is evaluated by its key holders, asked
directly and in parallel: every answer's DLEQ proof is checked against that holder's public
share, and the first t valid ones are combined and checked against the epoch's public key.
An epoch not split is still one Evaluate at the coordinator (before the migration), its
proof checked against the directory's pkS.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc

from samenloop.crypto import seal, voprf
from samenloop.crypto.batch import ClientBatch
from samenloop.crypto.pki import COORDINATOR
from samenloop.node.config import NodeConfig
from samenloop.proto import directory as directory_mod
from samenloop.proto.directory import KeyHolder, KeySplit, NodeDirectory, PublicShare
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.samenloop.v1 import samenloop_pb2_grpc as pb_grpc
from samenloop.proto.transport import MAX_RECONNECT_BACKOFF_SECONDS, RETRY_AFTER_MS, secure_channel

log = logging.getLogger("samenloop.node")

T = TypeVar("T")

# Elements per Evaluate call: one proof per batch keeps the coordinator's work and our
# verification linear, stays well under the coordinator's per-call maximum, and is small
# enough that two chunks in flight keep both ends busy.
EVALUATE_BATCH = 2_000
MIN_CHUNK = 64
EVALUATE_THREADS = 2
# How long a check waits for a key holder it could not reach, once the others left it short
# of t: the channel's longest reconnect backoff and a connection (a restarted holder).
RECONNECT_WAIT_SECONDS = MAX_RECONNECT_BACKOFF_SECONDS + 1.0
# Calls to a name are spread over every coordinator replica it resolves to; a replica that
# is down leaves the rotation until it is back.
ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


class NetworkError(Exception):
    """The coordinator could not be used; the message is for operators (English)."""


class DirectoryRefused(NetworkError):
    """The coordinator sent a directory that does not verify against the pinned key (or
    does not parse): altered on the way or by the coordinator. Nothing of it is used."""


# Told about every refused directory (its bytes, and "coordinator" or "cache"): the node
# process opens an incident in the privacy role's register.
RefusedHook = Callable[[bytes, str], None]


class EvaluationBudgetExhausted(NetworkError):
    """The coordinator (or, for a split epoch, so many key holders that fewer than t
    remain) is reachable but refused: this node's check or import evaluation budget there
    is used up (RESOURCE_EXHAUSTED), and pacing could not wait it out."""

    def __init__(self, purpose: int, message: str) -> None:
        super().__init__(message)
        self.for_import = purpose == pb.EVALUATION_FOR_IMPORT


class TooFewKeyHolders(NetworkError):
    """Fewer than t key holders of a split epoch gave a valid answer in time: nothing can
    be pseudonymised now, and nothing was (never a "no hit")."""


# Told about every key holder answer refused for a bad proof or a wrong echo (holder id,
# epoch, why in English without elements): the node opens an incident for the privacy role.
HolderRefusedHook = Callable[[str, int, str], None]


@dataclass(frozen=True)
class _HolderAnswer:
    """What one key holder returned for one request: a response, or the gRPC error."""

    holder: KeyHolder
    index: int
    response: pb.EvaluateShareResponse | None = None
    error: grpc.RpcError | None = None


def coordinator_channel(address: str, config: NodeConfig) -> grpc.Channel:
    """A channel of its own to one coordinator address (no subchannel shared with another
    channel to the same address, so a retry really opens a second connection). A name
    that resolves to several replicas is balanced round-robin."""
    return secure_channel(address, config.tls, expected_peer=COORDINATOR, extra_options=(
        ("grpc.service_config", ROUND_ROBIN), ("grpc.use_local_subchannel_pool", 1)))


class Replicas:
    """One channel per configured coordinator address, taken in turn, skipping one whose
    connection is failing. A retry goes to another address; with one address (a Service
    or a DNS name in front of the replicas), to a second connection of its own, which the
    load balancer in front sends to a live replica."""

    def __init__(self, config: NodeConfig) -> None:
        self.addresses = config.coordinator_addresses
        self.channels = [coordinator_channel(a, config) for a in self.addresses]
        self.stubs = [pb_grpc.CoordinatorStub(c) for c in self.channels]
        self._config = config
        self._failing = [False] * len(self.channels)
        self._next = 0
        self._lock = threading.Lock()
        self._spare: tuple[grpc.Channel, pb_grpc.CoordinatorStub] | None = None
        for index, channel in enumerate(self.channels):
            channel.subscribe(self._watcher(index))

    def _watcher(self, index: int) -> Callable[[grpc.ChannelConnectivity], None]:
        def changed(state: grpc.ChannelConnectivity) -> None:
            self._failing[index] = state == grpc.ChannelConnectivity.TRANSIENT_FAILURE
        return changed

    def pick(self) -> int:
        """The next address in turn whose connection is not failing (if all are, the next)."""
        with self._lock:
            count = len(self.stubs)
            for step in range(count):
                index = (self._next + step) % count
                if not self._failing[index]:
                    break
            else:
                index = self._next % count
            self._next = (index + 1) % count
        return index

    def other_than(self, index: int) -> pb_grpc.CoordinatorStub:
        """For a retry: the next address, or a separate connection to the only one."""
        if len(self.stubs) > 1:
            return self.stubs[(index + 1) % len(self.stubs)]
        with self._lock:
            if self._spare is None:
                channel = coordinator_channel(self.addresses[0], self._config)
                self._spare = (channel, pb_grpc.CoordinatorStub(channel))
            return self._spare[1]

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
        if self._spare is not None:
            self._spare[0].close()


class Network:
    def __init__(self, config: NodeConfig, on_refused: RefusedHook | None = None,
                 on_holder_refused: HolderRefusedHook | None = None) -> None:
        self.config = config
        self.on_refused = on_refused
        self.on_holder_refused = on_holder_refused
        # holder id -> (endpoint, TLS files version, channel, stub), made on first use.
        self._holders: dict[str, tuple[str, tuple[int, ...], grpc.Channel,
                                       pb_grpc.KeyHolderStub]] = {}
        self._holders_lock = threading.Lock()
        self._tls_version = config.tls.version()
        self.replicas = Replicas(config)
        self.channel = self.replicas.channels[0]
        self._directory: NodeDirectory | None = None
        self._fetched_at = 0.0
        self.sealer = seal.Sealer(config.box_secret_key)  # shared by checks and lookups

    def _current(self) -> Replicas:
        """The replicas' channels; a renewed certificate gets new ones."""
        if self.config.tls.version() != self._tls_version:
            self._tls_version = self.config.tls.version()
            old = self.replicas
            self.replicas = Replicas(self.config)
            self.channel = self.replicas.channels[0]
            old.close()
            log.info("TLS files changed: reconnecting to the coordinator")
        return self.replicas

    @property
    def stub(self) -> pb_grpc.CoordinatorStub:
        """A coordinator stub, the replicas in turn."""
        replicas = self._current()
        return replicas.stubs[replicas.pick()]

    def close(self) -> None:
        self.replicas.close()
        with self._holders_lock:
            for _, _, channel, _ in self._holders.values():
                channel.close()
            self._holders.clear()

    def _holder_stub(self, holder: KeyHolder) -> pb_grpc.KeyHolderStub:
        """A channel per key holder, pinned to the holder's id as the TLS peer name; a new
        endpoint in the directory or renewed TLS files get a new channel."""
        version = self.config.tls.version()
        with self._holders_lock:
            known = self._holders.get(holder.holder_id)
            if known is not None and known[0] == holder.endpoint and known[1] == version:
                return known[3]
            channel = secure_channel(holder.endpoint, self.config.tls,
                                     expected_peer=holder.holder_id)
            stub = pb_grpc.KeyHolderStub(channel)
            self._holders[holder.holder_id] = (holder.endpoint, version, channel, stub)
        if known is not None:
            known[2].close()
        return stub

    def call_with_failover(self, call: Callable[..., T], what: str, timeout: float) -> T:
        """`call(stub, timeout=..., wait_for_ready=...)` once and, if the replica was down or
        died before answering (UNAVAILABLE), once more: the same request to another replica
        (waiting for it to be ready within `timeout`). A Check sent again keeps its query
        id: a holder that already answered it gives the same answer again and files no
        second melding (node/lookup.py ReplayGuard)."""
        replicas = self._current()
        index = replicas.pick()
        try:
            return call(replicas.stubs[index], timeout=timeout, wait_for_ready=False)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            log.warning("%s: coordinator replica unavailable (%s); sending it once more to "
                        "another replica", what, str(exc.details())[:120])
        return call(replicas.other_than(index), timeout=timeout, wait_for_ready=True)

    # ------------------------------------------------------------ directory

    def directory(self, refresh: bool = False, timeout: float | None = None,
                  max_age: float | None = None) -> NodeDirectory:
        """The latest verified directory: fetched from the coordinator, else the cache.
        With `max_age`, a copy fetched at most that many seconds ago is good enough."""
        fresh = (max_age is not None and self._directory is not None
                 and time.monotonic() - self._fetched_at <= max_age)
        if self._directory is not None and (not refresh or fresh):
            return self._directory
        cached = _read_cached(self.config.directory_cache, self.config.directory_verify_key,
                              self._refused)
        try:
            # wait_for_ready: a channel still backing off from an outage reconnects first.
            signed = self.stub.GetDirectory(
                pb.GetDirectoryRequest(), wait_for_ready=True,
                timeout=timeout or self.config.coordinator_timeout_seconds)
            fetched = directory_mod.verify(signed, self.config.directory_verify_key)
        except directory_mod.DirectoryError as exc:
            self._refused(signed.SerializeToString(), "coordinator")
            raise DirectoryRefused(f"the coordinator sent a directory that is refused: {exc}; "
                                   f"nothing of it is used") from None
        except grpc.RpcError as exc:
            if cached is None:
                raise NetworkError(f"cannot fetch the directory from the coordinator "
                                   f"({exc.code().name}) and no cached copy exists") from None
            log.warning("directory: coordinator unavailable (%s), using cached serial %d",
                        exc.code().name, cached.serial)
            self._directory = cached
            return cached
        if cached is not None and fetched.serial < cached.serial:
            raise NetworkError(f"coordinator sent directory serial {fetched.serial}, older than "
                               f"the cached serial {cached.serial}: refusing a rollback")
        if fetched.node(self.config.node_id) is None:
            raise NetworkError(f"this node ({self.config.node_id}) is not in the directory")
        if cached is None or fetched.serial != cached.serial:
            self.config.directory_cache.parent.mkdir(parents=True, exist_ok=True)
            self.config.directory_cache.write_bytes(fetched.signed.SerializeToString())
        self._directory = fetched
        self._fetched_at = time.monotonic()
        return fetched

    def _refused(self, signed: bytes, source: str) -> None:
        """Tell the hook (the incident register); its own failure must not hide the
        refusal."""
        if self.on_refused is None:
            return
        try:
            self.on_refused(signed, source)
        except Exception:
            log.exception("directory: the refusal could not be registered as an incident")

    def cached_directory(self) -> NodeDirectory | None:
        return self._directory

    # ------------------------------------------------------------ pseudonyms

    def pseudonymise(self, inputs: Sequence[bytes], request_id: str,
                     epoch: int | None = None,
                     then: Callable[[list[bytes]], list[T]] | None = None,
                     purpose: pb.EvaluationPurpose = pb.EVALUATION_FOR_CHECK, pace_for: float = 0.0
                     ) -> tuple[int, list[T]]:
        """Ψ(x) for every input, via blinded, proof-checked evaluations: (epoch, pseudonyms),
        or `then(pseudonyms)` of each chunk, so the pseudonyms can become tags while the
        coordinator evaluates the next chunk. Without `epoch`, the directory's current one.
        Large inputs go in chunks, two at a time, so blinding and finalising here overlap
        the coordinator's evaluation. `purpose` picks the coordinator's budget; with
        `pace_for` seconds, a chunk refused for the budget waits as the coordinator says and
        is sent again, for at most that long in all (an import paces itself)."""
        pace_until = time.monotonic() + pace_for
        directory = self.directory()
        epoch = directory.current_epoch if epoch is None else epoch
        pk = directory.oprf_keys[epoch]
        split = directory.key_splits.get(epoch)
        # At least four chunks for a large batch, so there is always one to finalise here
        # while the coordinator evaluates the next (each chunk costs only one extra proof).
        size = min(EVALUATE_BATCH, max(MIN_CHUNK, -(-len(inputs) // 4)))
        chunks = [list(inputs[i:i + size]) for i in range(0, len(inputs), size)]

        def work(numbered: tuple[int, list[bytes]]) -> list[T]:
            number, chunk = numbered
            chunk_id = f"{request_id}/{number}"
            pseudonyms = (self._evaluate(chunk, epoch, pk, chunk_id, purpose, pace_until)
                          if split is None else
                          self._evaluate_split(chunk, epoch, pk, split, directory, chunk_id,
                                               purpose, pace_until))
            return then(pseudonyms) if then is not None else pseudonyms  # type: ignore[return-value]

        if len(chunks) <= 1:
            return epoch, [x for c in enumerate(chunks) for x in work(c)]
        with ThreadPoolExecutor(max_workers=EVALUATE_THREADS,
                                thread_name_prefix="evaluate") as pool:
            return epoch, [x for part in pool.map(work, enumerate(chunks)) for x in part]

    def _evaluate(self, chunk: list[bytes], epoch: int, pk: bytes, request_id: str,
                  purpose: pb.EvaluationPurpose = pb.EVALUATION_FOR_CHECK,
                  pace_until: float = 0.0) -> list[bytes]:
        """One Evaluate call: blind, evaluate at the coordinator, verify, finalise; a
        refusal for the budget is waited out while `pace_until` (monotonic) allows."""
        batch = ClientBatch(chunk)
        request = pb.EvaluateRequest(epoch=epoch, blinded_elements=batch.blinded,
                                     request_id=request_id, purpose=purpose)
        while True:
            try:
                response = self.call_with_failover(
                    lambda stub, **call: stub.Evaluate(request, **call),
                    f"evaluate {request_id}",
                    self.config.coordinator_timeout_seconds + len(chunk) / 1000)
                break
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise NetworkError(f"coordinator refused the evaluation: "
                                       f"{exc.code().name}: {exc.details()}") from None
                wait = _retry_after(exc)
                if wait is None or time.monotonic() + wait > pace_until:
                    raise EvaluationBudgetExhausted(purpose, str(exc.details())) from None
                # Seen by the operator running a long import from the CLI.
                log.warning("evaluate %s: the coordinator's evaluation budget is used up for "
                            "now; continuing in %.1f s", request_id, wait)
                time.sleep(wait)
        if response.epoch != epoch:
            raise NetworkError(f"coordinator evaluated with epoch {response.epoch}, "
                               f"expected {epoch}")
        try:
            return batch.finalize([bytes(e) for e in response.evaluated_elements],
                                  bytes(response.proof), pk)
        except voprf.VoprfError as exc:
            raise NetworkError(f"the coordinator's evaluation proof does not verify against "
                               f"the directory's key of epoch {epoch} ({type(exc).__name__})"
                               ) from None

    def _evaluate_split(self, chunk: list[bytes], epoch: int, pk: bytes, split: KeySplit,
                        directory: NodeDirectory, request_id: str,
                        purpose: pb.EvaluationPurpose = pb.EVALUATION_FOR_CHECK,
                        pace_until: float = 0.0) -> list[bytes]:
        """One chunk at the key holders of a split epoch: blind once, ask all n in
        parallel, combine the first t answers whose proofs verify, finalise. Fewer than t:
        refused (TooFewKeyHolders, or EvaluationBudgetExhausted when holders' budgets made
        the difference and pacing cannot wait them out), never a partial result."""
        batch = ClientBatch(chunk)
        attempt = 0
        while True:
            round_id = request_id if not attempt else f"{request_id}/r{attempt}"
            valid, budget_waits, failures, unreachable = self._ask_holders(
                batch, epoch, split.shares, split.threshold, directory, round_id, purpose)
            if len(valid) < split.threshold and unreachable:
                # A holder that has just restarted is reached again only when its channel's
                # reconnect backoff ends: ask the unreachable ones once more, waiting that
                # long for them, rather than refuse a check the holders could answer.
                more, more_waits, more_failures, still = self._ask_holders(
                    batch, epoch, [s for s in split.shares if s.holder_id in unreachable],
                    split.threshold - len(valid), directory, f"{round_id}/w", purpose,
                    wait_for_ready=True, timeout=RECONNECT_WAIT_SECONDS)
                valid.update(more)
                budget_waits += more_waits
                # A holder still away keeps the first round's reason; one that came back
                # and answered badly gets the second's; one that answered, none.
                for holder_id in unreachable:
                    if holder_id in still:
                        failures[holder_id] += (f"; not back within "
                                                f"{RECONNECT_WAIT_SECONDS:g} s")
                    elif holder_id in more_failures:
                        failures[holder_id] = more_failures[holder_id]
                    else:
                        failures.pop(holder_id, None)
            if len(valid) >= split.threshold:
                break
            needed = split.threshold - len(valid)
            waits = sorted(w for w in budget_waits if w is not None)
            if budget_waits and len(valid) + len(budget_waits) >= split.threshold:
                wait = waits[needed - 1] if len(waits) >= needed else None
                if wait is None or time.monotonic() + wait > pace_until:
                    raise EvaluationBudgetExhausted(
                        purpose, f"key holders of epoch {epoch} refused: this node's "
                                 f"evaluation budget there is used up ({_reasons(failures)})")
                log.warning("evaluate %s: key holders' evaluation budgets are used up for now; "
                            "continuing in %.1f s", request_id, wait)
                time.sleep(wait)
                attempt += 1
                continue
            raise TooFewKeyHolders(
                f"epoch {epoch}: {len(valid)} valid answers from {len(split.shares)} key "
                f"holders, {split.threshold} needed ({_reasons(failures) or 'no answers'})")
        public_shares = {s.index: s.public_share for s in split.shares if s.index in valid}
        try:
            return batch.finalize_combined(pk, public_shares, valid, split.threshold)
        except voprf.VoprfError as exc:
            raise NetworkError(f"the key holders' verified partial evaluations of epoch {epoch} "
                               f"do not combine to the directory's public key "
                               f"({type(exc).__name__}): the signed directory's public shares "
                               f"do not match its key") from None

    def _ask_holders(self, batch: ClientBatch, epoch: int, shares: Sequence[PublicShare],
                     need: int, directory: NodeDirectory, request_id: str,
                     purpose: pb.EvaluationPurpose, *, wait_for_ready: bool = False,
                     timeout: float | None = None
                     ) -> tuple[dict[int, list[bytes]], list[float | None], dict[str, str],
                                set[str]]:
        """The holders of `shares` at once, under one deadline; answers are verified as they
        arrive until `need` are valid, and the calls still running are then cancelled.
        Returns the valid partial evaluations by share index, the retry hints of holders
        that refused for this node's budget, why each other holder gave nothing (English,
        by holder id; "" when the deadline passed), and the holders that could not be
        reached (UNAVAILABLE; with `wait_for_ready`, also not back before the deadline).
        Without `wait_for_ready` a holder that is down fails at once: the others answer."""
        request = pb.EvaluateShareRequest(epoch=epoch, blinded_elements=batch.blinded,
                                          request_id=request_id, purpose=purpose)
        if timeout is None:
            timeout = self.config.coordinator_timeout_seconds + len(batch) / 1000
        answers: queue.Queue[_HolderAnswer] = queue.Queue()
        calls: list[grpc.Future] = []
        for share in shares:
            holder = directory.key_holder(share.holder_id)
            if holder is None:  # directory.verify refuses this; never ask an unlisted party
                continue
            call = self._holder_stub(holder).EvaluateShare.future(
                request, timeout=timeout, wait_for_ready=wait_for_ready)
            call.add_done_callback(
                lambda done, h=holder, i=share.index: answers.put(_answer_of(h, i, done)))
            calls.append(call)
        public_shares = {s.index: s.public_share for s in shares}
        valid: dict[int, list[bytes]] = {}
        budget_waits: list[float | None] = []
        failures: dict[str, str] = {}
        unreachable: set[str] = set()
        try:
            for _ in calls:
                try:
                    answer = answers.get(timeout=timeout + 5)
                except queue.Empty:
                    failures[""] = "no answer before the deadline"
                    break
                holder_id = answer.holder.holder_id
                if answer.response is None:
                    code = answer.error.code() if answer.error is not None else None
                    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        budget_waits.append(_retry_after(answer.error))  # type: ignore[arg-type]
                    elif code == grpc.StatusCode.UNAVAILABLE or (
                            wait_for_ready and code == grpc.StatusCode.DEADLINE_EXCEEDED):
                        unreachable.add(holder_id)
                    why = (f"{code.name}: {answer.error.details()}"  # type: ignore[union-attr]
                           if code is not None else "cancelled")
                    failures[holder_id] = why[:300]
                    log.warning("evaluate %s: key holder %s gave no evaluation (%s)",
                                request_id, holder_id, why[:200])
                    continue
                try:
                    valid[answer.index] = self._verified(batch, answer.response, holder_id,
                                                         epoch, request_id,
                                                         public_shares[answer.index])
                except _AnswerRefused as exc:
                    failures[holder_id] = f"refused, {exc}"
                    self._holder_refused(holder_id, epoch, request_id, str(exc))
                    continue
                if len(valid) == need:
                    break
        finally:
            for call in calls:
                call.cancel()  # a call already finished is not affected
        return valid, budget_waits, failures, unreachable

    @staticmethod
    def _verified(batch: ClientBatch, response: pb.EvaluateShareResponse, holder_id: str,
                  epoch: int, request_id: str, public_share: bytes) -> list[bytes]:
        """The partial evaluation, once it answers this request of this epoch as this holder
        and its proof verifies against the holder's public share in the signed directory.
        (The TLS peer is that holder: its channel pins the holder id as the peer name.)"""
        if response.holder_id != holder_id:
            raise _AnswerRefused(f"the answer names another holder ({response.holder_id[:64]!r})")
        if response.epoch != epoch:
            raise _AnswerRefused(f"the answer is for epoch {response.epoch}, not {epoch}")
        if response.request_id != request_id:
            raise _AnswerRefused("the answer is not for this request (replayed or misrouted)")
        evaluated = [bytes(e) for e in response.evaluated_elements]
        if len(evaluated) != len(batch):
            raise _AnswerRefused(f"the answer has {len(evaluated)} elements, the request "
                                 f"{len(batch)}")
        try:
            batch.verify_share(public_share, evaluated, bytes(response.proof))
        except voprf.VoprfError as exc:
            raise _AnswerRefused(f"its partial evaluation does not verify against its public "
                                 f"share ({type(exc).__name__})") from None
        return evaluated

    def _holder_refused(self, holder_id: str, epoch: int, request_id: str, why: str) -> None:
        """A holder that answered wrongly is left out of this evaluation, logged, and
        reported to the hook (the privacy role's incident register); the hook's own
        failure must not hide it."""
        log.error("evaluate %s: key holder %s answer for epoch %d refused and left out: %s",
                  request_id, holder_id, epoch, why)
        if self.on_holder_refused is None:
            return
        try:
            self.on_holder_refused(holder_id, epoch, why)
        except Exception:
            log.exception("key holder %s: the refusal could not be registered as an incident",
                          holder_id)


class _AnswerRefused(Exception):
    """A key holder's answer that is not a valid evaluation of this request (English)."""


def _reasons(failures: dict[str, str]) -> str:
    """Why holders gave nothing, for the operator's log and the refusal (English)."""
    return "; ".join(f"{holder_id}: {why}" if holder_id else why
                     for holder_id, why in failures.items())


def _answer_of(holder: KeyHolder, index: int, call: grpc.Future) -> _HolderAnswer:
    if call.cancelled():
        return _HolderAnswer(holder, index)
    error = call.exception()
    if error is not None:
        return _HolderAnswer(holder, index, error=error)  # type: ignore[arg-type]
    return _HolderAnswer(holder, index, response=call.result())


def _retry_after(exc: grpc.RpcError) -> float | None:
    """The coordinator's retry hint in seconds, if it sent a sane one."""
    call: grpc.Call = exc  # type: ignore[assignment]
    for key, value in call.trailing_metadata() or ():
        if key == RETRY_AFTER_MS and isinstance(value, str) and value.isdigit() \
                and len(value) <= 9:
            return int(value) / 1000
    return None


def match_key_versions(config: NodeConfig, directory: NodeDirectory) -> tuple[int, ...]:
    """The match-key input versions this node derives: those the network accepts (signed
    directory) that the node may use (its config, by default every version its code knows).
    During a rollout that is two, and checks ask for both, as for key epochs."""
    versions = tuple(v for v in directory.match_key_versions if v in config.match_key_versions)
    if not versions:
        raise NetworkError(
            f"none of this node's match key versions "
            f"({', '.join(map(str, config.match_key_versions))}) is accepted by the network "
            f"({', '.join(map(str, directory.match_key_versions))}); upgrade the node or fix "
            f"match_key_versions in node.toml")
    return versions


def _read_cached(path: Path, verify_key: bytes,
                 refused: RefusedHook | None = None) -> NodeDirectory | None:
    if not path.exists():
        return None
    data = path.read_bytes()
    try:
        return directory_mod.parse_file(data, verify_key)
    except directory_mod.DirectoryError as exc:
        log.warning("directory: ignoring cached copy (%s)", exc)
        if refused is not None:
            refused(data, "cache")
        return None


def new_query_id() -> str:
    return secrets.token_hex(16)
