"""Key ceremonies over files: the trusted-dealer split of an existing epoch key, and the
dealerless key generation (crypto/dkg.py) of a new epoch's key.

Files, not a network protocol: ceremonies are rare, run by people of several
organisations, and a file can be checked, signed off and archived. What travels is public
(commitments, public shares) or sealed with crypto_box from the dealer's to the
recipient's X25519 key; a sealed share also binds the epoch, both indices and a hash of
the dealer's commitments, so it cannot be moved to another ceremony, recipient or set of
commitments. Messages are English, for the operators running the ceremony.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from samenloop.coordinator.keyholder.shares import EpochShare, public_shares_text
from samenloop.crypto import dkg, seal, threshold, voprf
from samenloop.proto.configfile import ConfigError, Section
from samenloop.proto.directory import DirectoryError, validate_node_id

SEALED_LABEL = b"samenloop/v1/dkg-share"
_SEALED_LAYOUT = struct.Struct(">IBB32s32s")  # epoch, dealer, recipient, commitments hash, share


class CeremonyError(ValueError):
    """A ceremony input is refused; the message names the file, field or dealer."""


@dataclass(frozen=True)
class Participant:
    holder_id: str
    index: int
    box_public_key: bytes


@dataclass(frozen=True)
class Ceremony:
    """ceremony.toml: the epoch, t, and every participant's index and box key (public)."""

    epoch: int
    threshold: int
    participants: tuple[Participant, ...]

    def participant(self, holder_id: str) -> Participant:
        for p in self.participants:
            if p.holder_id == holder_id:
                return p
        raise CeremonyError(f"{holder_id} is not a participant of this ceremony "
                            f"({', '.join(p.holder_id for p in self.participants)})")

    def by_index(self, index: int) -> Participant:
        return next(p for p in self.participants if p.index == index)

    @classmethod
    def load(cls, path: Path) -> Ceremony:
        root = Section.load(path)
        epoch = root.int("epoch", 0, minimum=1)
        t = root.int("threshold", 0, minimum=1, maximum=255)
        participants = []
        for entry in root.sections("holders"):
            holder_id = entry.str("holder_id")
            try:
                validate_node_id(holder_id)
            except DirectoryError as exc:
                raise ConfigError(f"{entry.name}.holder_id", str(exc), file=str(path)) from None
            participants.append(Participant(holder_id, entry.int("index", 0, minimum=1,
                                                                 maximum=255),
                                            entry.hex_bytes("box_public_key", 32)))
        root.refuse_unknown()
        if len({p.holder_id for p in participants}) != len(participants) or \
                len({p.index for p in participants}) != len(participants):
            raise ConfigError("holders", "a holder id or index is listed twice", file=str(path))
        if not 1 <= t <= len(participants):
            raise ConfigError("threshold", f"must be 1 to the number of holders "
                              f"({len(participants)})", file=str(path))
        return cls(epoch, t, tuple(participants))


def ceremony_text(epoch: int, t: int, participants: list[Participant]) -> str:
    lines = [f"# Key generation for epoch {epoch}: {t} of {len(participants)} holders. "
             "Public; every holder gets the same file.", f"epoch = {epoch}",
             f"threshold = {t}", ""]
    for p in participants:
        lines += ["[[holders]]", f'holder_id = "{p.holder_id}"', f"index = {p.index}",
                  f'box_public_key = "{p.box_public_key.hex()}"', ""]
    return "\n".join(lines)


def commitments_hash(commitments: tuple[bytes, ...] | list[bytes]) -> bytes:
    return hashlib.sha256(SEALED_LABEL + b"".join(commitments)).digest()


def fingerprint(all_commitments: Mapping[int, list[bytes]]) -> str:
    """What every holder compares with the others (phone, chat) before signing off: equal
    fingerprints mean everyone saw the same commitments of the same dealers."""
    digest = hashlib.sha256(SEALED_LABEL)
    for index in sorted(all_commitments):
        digest.update(bytes([index]) + commitments_hash(all_commitments[index]))
    text = digest.hexdigest()[:32]
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


# ---------------------------------------------------------------- trusted dealer


@dataclass(frozen=True)
class SplitResult:
    public_key: bytes
    shares: dict[str, EpochShare] = field(repr=False)
    public_shares_text: str = ""


def split(key: bytes, epoch: int, t: int, holders: list[str]) -> SplitResult:
    """Shamir shares of an existing key, index i to the i-th holder given."""
    for holder_id in holders:
        try:
            validate_node_id(holder_id)
        except DirectoryError as exc:
            raise CeremonyError(f"--holders: {exc}") from None
    if len(set(holders)) != len(holders):
        raise CeremonyError("--holders: a holder is listed twice")
    try:
        pieces = threshold.split_key(key, t, len(holders))
        public_key = threshold.public_share(key)
    except voprf.VoprfError as exc:
        raise CeremonyError(f"--threshold/--holders: {exc}") from None
    shares = {h: EpochShare(epoch, s.index, s.secret)
              for h, s in zip(holders, pieces, strict=True)}
    public = {h: (s.index, s.public_share) for h, s in shares.items()}
    if threshold.combined_public_key({i: p for i, p in public.values()}) != public_key:
        raise CeremonyError("the shares do not combine to the key's public key")  # never
    return SplitResult(public_key, shares, public_shares_text(epoch, public_key, t, public))


# ---------------------------------------------------------------- DKG


def deal_text(ceremony: Ceremony, dealer: str, box_secret: bytes) -> str:
    """My dealing: my commitments (public) and each participant's share of my polynomial,
    sealed to that participant. The polynomial is never written anywhere."""
    me = ceremony.participant(dealer)
    if seal.box_public_key(box_secret) != me.box_public_key:
        raise CeremonyError(f"--box-key is not the box key the ceremony lists for {dealer}")
    dealing = dkg.deal(ceremony.threshold, [p.index for p in ceremony.participants])
    bound = commitments_hash(list(dealing.commitments))
    lines = [f"# Dealing of {dealer} for epoch {ceremony.epoch}: give it to every holder. "
             "Commitments are public; each share is sealed to its holder.",
             f"epoch = {ceremony.epoch}", f'dealer = "{dealer}"',
             f"threshold = {ceremony.threshold}",
             "commitments = [" + ", ".join(f'"{c.hex()}"' for c in dealing.commitments) + "]",
             ""]
    for p in ceremony.participants:
        plaintext = _SEALED_LAYOUT.pack(ceremony.epoch, me.index, p.index, bound,
                                        dealing.shares[p.index])
        sealed = seal.seal(SEALED_LABEL + plaintext, box_secret, p.box_public_key)
        lines += ["[[sealed_shares]]", f'recipient = "{p.holder_id}"',
                  f'sealed = "{sealed.hex()}"', ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class Finished:
    share: EpochShare = field(repr=False)
    public_key: bytes = b""
    public_shares_text: str = ""
    fingerprint: str = ""


def finish(ceremony: Ceremony, holder: str, box_secret: bytes, dealings: Path) -> Finished:
    """Check every participant's dealing (there must be one from each) and my share in it,
    then sum my shares. A bad dealing is refused naming its dealer: the ceremony files a
    complaint against that dealer (crypto/dkg.py says what happens next)."""
    me = ceremony.participant(holder)
    if seal.box_public_key(box_secret) != me.box_public_key:
        raise CeremonyError(f"--box-key is not the box key the ceremony lists for {holder}")
    received: dict[int, bytes] = {}
    commitments: dict[int, list[bytes]] = {}
    for dealer in ceremony.participants:
        path = dealings / f"{dealer.holder_id}.dealing.toml"
        commitments[dealer.index], received[dealer.index] = _open_dealing(
            ceremony, dealer, me, box_secret, path)
    try:
        share = dkg.finish(me.index, received, commitments)
        public_key = dkg.public_key_from(commitments)
        public = {p.holder_id: (p.index, dkg.public_share_from(p.index, commitments))
                  for p in ceremony.participants}
    except dkg.BadDealing as exc:
        raise CeremonyError(f"dealing of {ceremony.by_index(exc.dealer).holder_id} refused: "
                            f"{exc}") from None
    except threshold.ThresholdError as exc:
        raise CeremonyError(str(exc)) from None
    if public[holder][1] != threshold.public_share(share.secret):
        raise CeremonyError("my share does not match my public share")  # never, by dkg
    return Finished(EpochShare(ceremony.epoch, me.index, share.secret), public_key,
                    public_shares_text(ceremony.epoch, public_key, ceremony.threshold, public),
                    fingerprint(commitments))


def _open_dealing(ceremony: Ceremony, dealer: Participant, me: Participant,
                  box_secret: bytes, path: Path) -> tuple[list[bytes], bytes]:
    """(the dealer's commitments, my share from it), every check naming the dealer."""
    name = dealer.holder_id
    if not path.exists():
        raise CeremonyError(f"dealing of {name} refused: {path} is missing")
    try:
        root = Section.load(path)
        if root.str("dealer") != name or root.int("epoch", 0) != ceremony.epoch or \
                root.int("threshold", 0) != ceremony.threshold:
            raise CeremonyError(f"dealing of {name} refused: {path} is not {name}'s dealing "
                                f"for epoch {ceremony.epoch} with threshold "
                                f"{ceremony.threshold}")
        raw = root.value("commitments")
        if not isinstance(raw, list) or len(raw) != ceremony.threshold or \
                not all(isinstance(c, str) for c in raw):
            raise CeremonyError(f"dealing of {name} refused: commitments must be "
                                f"{ceremony.threshold} hex strings")
        points = [bytes.fromhex(c) for c in raw]
        mine = [s for s in root.sections("sealed_shares") if s.str("recipient") == me.holder_id]
        for entry in root.sections("sealed_shares"):
            entry.value("sealed")
        root.refuse_unknown()
    except (ConfigError, ValueError) as exc:
        if isinstance(exc, CeremonyError):
            raise
        raise CeremonyError(f"dealing of {name} refused: {exc}") from None
    if len(mine) != 1:
        raise CeremonyError(f"dealing of {name} refused: it holds {len(mine)} shares for "
                            f"{me.holder_id}, not one")
    try:
        opened = seal.open_sealed(bytes.fromhex(mine[0].str("sealed")), box_secret,
                                  dealer.box_public_key)
    except (ValueError, ConfigError):
        raise CeremonyError(f"dealing of {name} refused: the share sealed to "
                            f"{me.holder_id} does not open with {name}'s box key") from None
    if not opened.startswith(SEALED_LABEL) or \
            len(opened) != len(SEALED_LABEL) + _SEALED_LAYOUT.size:
        raise CeremonyError(f"dealing of {name} refused: the sealed share is malformed")
    epoch, dealer_index, recipient, bound, share = _SEALED_LAYOUT.unpack(
        opened[len(SEALED_LABEL):])
    if (epoch, dealer_index, recipient) != (ceremony.epoch, dealer.index, me.index):
        raise CeremonyError(f"dealing of {name} refused: the sealed share is for another "
                            "epoch, dealer or recipient")
    if bound != commitments_hash(points):
        raise CeremonyError(f"dealing of {name} refused: its commitments are not the ones "
                            "its sealed share was made with")
    return points, share
