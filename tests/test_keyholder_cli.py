"""`samenloop keyholder ...`: the split of a running network's key, the dealerless key
generation of a new epoch's key over files, and `serve` as its own process."""

from __future__ import annotations

import itertools
import re
import secrets
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from samenloop.coordinator.keyholder import ceremony
from samenloop.coordinator.keyholder.shares import (
    EpochShare,
    read_share_file,
    remove_share,
    write_share_file,
)
from samenloop.crypto import dkg, seal, threshold, voprf
from samenloop.node.cli import app
from samenloop.proto import directory as directory_mod
from samenloop.proto import healthcheck
from samenloop.proto.configfile import ConfigError, write_secret
from tests.support.keyholders import build_holders, reconstruct_key

HOLDERS = ("houder-a", "houder-b", "houder-c")
SAMENLOOP = [sys.executable, "-m", "samenloop.node"]
OTHER_POINT = voprf.generate_key_pair(voprf.Mode.VOPRF)[1].hex()  # valid, but not committed


def run(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def threshold_outputs(shares: dict[str, EpochShare], public_key: bytes, t: int,
                      inputs: list[bytes]) -> list[list[bytes]]:
    """The VOPRF outputs of `inputs` through every t-subset of the holders' shares."""
    pairs = [voprf.blind(x, voprf.Mode.VOPRF) for x in inputs]
    blinded = [b for _, b in pairs]
    public = {s.index: s.public_share for s in shares.values()}
    outputs = []
    for subset in itertools.combinations(shares.values(), t):
        partials = {}
        for share in subset:
            evaluated, proof = threshold.evaluate_share(share.secret, blinded)
            threshold.verify_share_evaluation(share.public_share, blinded, evaluated, proof)
            partials[share.index] = evaluated
        combined = threshold.combine(public_key, public, partials, threshold=t)
        outputs.append([voprf.finalize(x, r, z, voprf.Mode.VOPRF)
                        for x, (r, _), z in zip(inputs, pairs, combined, strict=True)])
    return outputs


# ---------------------------------------------------------------- split


def test_split_shares_a_running_key_and_every_pair_gives_its_output(tmp_path: Path) -> None:
    key, public_key = voprf.generate_key_pair(voprf.Mode.VOPRF)
    key_file = tmp_path / "oprf-epoch-3.key"
    write_secret(key_file, key.hex() + "\n")
    out = tmp_path / "split"
    printed = run("keyholder", "split", "--key", key_file, "--threshold", 2, "--holders",
                  ",".join(HOLDERS), "--out", out, "--epoch", 3)
    assert public_key.hex() in printed and "nobody holds the whole key" in printed
    shares = {}
    for index, holder in enumerate(HOLDERS, 1):
        path = out / f"{holder}.share"
        assert path.stat().st_mode & 0o777 == 0o600
        loaded = read_share_file(path)
        assert loaded.holder_id == holder and set(loaded.shares) == {3}
        assert loaded.shares[3].index == index and key.hex() not in path.read_text()
        shares[holder] = loaded.shares[3]
    # The public-shares file is the epoch's [[oprf_keys]] entry of directory.toml.
    entry = tomllib.loads((out / "public-shares-epoch-3.toml").read_text())["oprf_keys"][0]
    assert (entry["epoch"], entry["public_key"], entry["threshold"]) == (3, public_key.hex(), 2)
    assert {(s["holder_id"], s["index"], s["public_share"]) for s in entry["public_shares"]} \
        == {(h, s.index, s.public_share.hex()) for h, s in shares.items()}
    # Tags stay valid: every pair of holders gives the single key's output.
    inputs = [secrets.token_bytes(20) for _ in range(3)]
    expected = [voprf.evaluate(key, x, voprf.Mode.VOPRF) for x in inputs]
    assert threshold_outputs(shares, public_key, 2, inputs) == [expected] * 3


def test_the_public_shares_file_signs_into_the_directory(tmp_path: Path) -> None:
    """The administrator pastes the split's file into directory.toml, lists the holders,
    and signs: the directory carries the split, as the nodes and holders read it."""
    key_file = tmp_path / "oprf-epoch-1.key"
    key, public_key = voprf.generate_key_pair(voprf.Mode.VOPRF)
    write_secret(key_file, key.hex())
    run("keyholder", "split", "--key", key_file, "--threshold", 2, "--holders",
        ",".join(HOLDERS), "--out", tmp_path / "split")
    verify_key = run("directory", "keygen", "--out", tmp_path / "admin.key").strip()
    spec = tmp_path / "directory.toml"
    spec.write_text("\n".join([
        'network = "test"', "serial = 2", "current_epoch = 1", "",
        (tmp_path / "split" / "public-shares-epoch-1.toml").read_text(),
        "[[nodes]]", 'node_id = "zvh-fryslan"', 'display_name = "ZVH Fryslân"',
        'endpoint = "127.0.0.1:7101"', f'box_public_key = "{"ab" * 32}"', "",
        *(line for i, h in enumerate(HOLDERS) for line in (
            "[[key_holders]]", f'holder_id = "{h}"', f'display_name = "Houder {i}"',
            f'endpoint = "{h}.example:7300"', ""))]), encoding="utf-8")
    run("directory", "sign", "--spec", spec, "--key", tmp_path / "admin.key", "--out",
        tmp_path / "directory.pb")
    shown = run("directory", "show", tmp_path / "directory.pb", "--public-key", verify_key)
    assert "epoch 1 split 2 of 3: houder-a (index 1), houder-b (index 2), houder-c " \
           "(index 3)" in shown and "key holder houder-b" in shown
    signed = directory_mod.parse_file((tmp_path / "directory.pb").read_bytes(),
                                      bytes.fromhex(verify_key))
    assert signed.oprf_keys[1] == public_key and signed.key_splits[1].threshold == 2
    assert [s.public_share for s in signed.key_splits[1].shares] == [
        read_share_file(tmp_path / "split" / f"{h}.share").shares[1].public_share
        for h in HOLDERS]


@pytest.mark.parametrize(("args", "message"), [
    (["--threshold", "4", "--holders", "houder-a,houder-b,houder-c"], "--threshold"),
    (["--threshold", "2", "--holders", "houder-a,houder-a"], "listed twice"),
    (["--threshold", "2", "--holders", "Houder A,houder-b"], "--holders: node id"),
])
def test_split_refuses_bad_arguments_and_writes_nothing(
        tmp_path: Path, args: list[str], message: str) -> None:
    key_file = tmp_path / "k.key"
    write_secret(key_file, voprf.generate_key_pair(voprf.Mode.VOPRF)[0].hex())
    output = run("keyholder", "split", "--key", key_file, *args, "--out", tmp_path / "out",
                 ok=False)
    assert message in output
    assert not (tmp_path / "out").exists()


def test_split_never_overwrites_a_share_file(tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    write_secret(key_file, voprf.generate_key_pair(voprf.Mode.VOPRF)[0].hex())
    args = ["keyholder", "split", "--key", key_file, "--threshold", 2, "--holders",
            "houder-a,houder-b", "--out", tmp_path / "out"]
    run(*args)
    before = (tmp_path / "out" / "houder-a.share").read_bytes()
    assert "exists; refusing to overwrite" in run(*args, ok=False)
    assert (tmp_path / "out" / "houder-a.share").read_bytes() == before


# ---------------------------------------------------------------- DKG


def _ceremony(tmp_path: Path, t: int = 2) -> Path:
    """Every holder makes a box key; the administrator writes ceremony.toml."""
    participants = []
    for index, holder in enumerate(HOLDERS, 1):
        public = run("keyholder", "dkg", "keygen", "--out", tmp_path / holder / "box.key")
        participants.append(ceremony.Participant(holder, index, bytes.fromhex(public.strip())))
    path = tmp_path / "ceremony.toml"
    path.write_text(ceremony.ceremony_text(7, t, participants), encoding="utf-8")
    return path


def _deal_all(tmp_path: Path, ceremony_file: Path) -> Path:
    dealings = tmp_path / "dealings"
    for holder in HOLDERS:
        run("keyholder", "dkg", "deal", "--ceremony", ceremony_file, "--holder", holder,
            "--box-key", tmp_path / holder / "box.key", "--out", dealings)
    return dealings


def _finish(tmp_path: Path, ceremony_file: Path, dealings: Path, holder: str,
            ok: bool = True) -> str:
    return run("keyholder", "dkg", "finish", "--ceremony", ceremony_file, "--holder", holder,
               "--box-key", tmp_path / holder / "box.key", "--dealings", dealings,
               "--out", tmp_path / holder, ok=ok)


def test_a_dkg_ceremony_of_three_holders_gives_shares_that_agree(tmp_path: Path) -> None:
    ceremony_file = _ceremony(tmp_path)
    dealings = _deal_all(tmp_path, ceremony_file)
    printed = {h: _finish(tmp_path, ceremony_file, dealings, h) for h in HOLDERS}
    fingerprints = {re.search(r"Fingerprint of all commitments: ([0-9a-f ]+)", p).group(1)
                    for p in printed.values()}  # type: ignore[union-attr]
    assert len(fingerprints) == 1
    publics = {(tmp_path / h / "public-shares-epoch-7.toml").read_text() for h in HOLDERS}
    assert len(publics) == 1, "every holder derives the same public shares"
    entry = tomllib.loads(publics.pop())["oprf_keys"][0]
    public_key = bytes.fromhex(entry["public_key"])
    shares = {}
    for holder in HOLDERS:
        path = tmp_path / holder / f"{holder}.share"
        assert path.stat().st_mode & 0o777 == 0o600
        shares[holder] = read_share_file(path).shares[7]
    assert {(s["holder_id"], s["index"], s["public_share"]) for s in entry["public_shares"]} \
        == {(h, s.index, s.public_share.hex()) for h, s in shares.items()}
    # Nobody held k, yet every pair gives the same outputs, checked against the public key.
    inputs = [secrets.token_bytes(20) for _ in range(2)]
    outputs = threshold_outputs(shares, public_key, 2, inputs)
    # Only the test puts k together (from two shares), to compare with single-key VOPRF.
    key = reconstruct_key([shares["houder-a"], shares["houder-b"]])
    assert voprf.public_key(key) == public_key
    expected = [voprf.evaluate(key, x, voprf.Mode.VOPRF) for x in inputs]
    assert outputs == [expected] * 3
    for text in (*printed.values(), *(f.read_text() for f in (tmp_path / "dealings").iterdir())):
        for share in shares.values():
            assert share.secret.hex() not in text


def _forge_dealing(tmp_path: Path, ceremony_file: Path, dealings: Path, dealer: str,
                   victim: str) -> None:
    """`dealer` deals again, properly sealed, but gives `victim` a share that does not lie
    on its committed polynomial (a cheating dealer, not a transport error)."""
    loaded = ceremony.Ceremony.load(ceremony_file)
    me = loaded.participant(dealer)
    box = bytes.fromhex((tmp_path / dealer / "box.key").read_text().strip())
    dealing = dkg.deal(loaded.threshold, [p.index for p in loaded.participants])
    bound = ceremony.commitments_hash(list(dealing.commitments))
    lines = [f"epoch = {loaded.epoch}", f'dealer = "{dealer}"',
             f"threshold = {loaded.threshold}", "commitments = [" +
             ", ".join(f'"{c.hex()}"' for c in dealing.commitments) + "]", ""]
    for p in loaded.participants:
        share = dealing.shares[p.index]
        if p.holder_id == victim:
            share = dealing.shares[p.index % 3 + 1]
        plaintext = ceremony._SEALED_LAYOUT.pack(loaded.epoch, me.index, p.index, bound, share)
        sealed = seal.seal(ceremony.SEALED_LABEL + plaintext, box, p.box_public_key)
        lines += ["[[sealed_shares]]", f'recipient = "{p.holder_id}"',
                  f'sealed = "{sealed.hex()}"', ""]
    (dealings / f"{dealer}.dealing.toml").write_text("\n".join(lines), encoding="utf-8")


def test_a_bad_dealing_is_refused_naming_the_dealer(tmp_path: Path) -> None:
    ceremony_file = _ceremony(tmp_path)
    dealings = _deal_all(tmp_path, ceremony_file)
    _forge_dealing(tmp_path, ceremony_file, dealings, "houder-c", victim="houder-b")
    output = _finish(tmp_path, ceremony_file, dealings, "houder-b", ok=False)
    assert "dealing of houder-c refused: share from dealer 3 does not match its commitments" \
        in output
    assert not (tmp_path / "houder-b" / "houder-b.share").exists()
    _finish(tmp_path, ceremony_file, dealings, "houder-a")  # its own share from c is fine


@pytest.mark.parametrize(("tamper", "message"), [
    (lambda text: text.replace('commitments = ["', 'commitments = ["00'),
     "dealing of houder-c refused"),
    (lambda text: re.sub(r'(commitments = \["[0-9a-f]{64}", ")[0-9a-f]{64}',
                         r"\g<1>" + OTHER_POINT, text),
     "dealing of houder-c refused: its commitments are not the ones its sealed share was "
     "made with"),
    (lambda text: text.replace('dealer = "houder-c"', 'dealer = "houder-a"'),
     "dealing of houder-c refused"),
    (lambda text: "", "dealing of houder-c refused"),
])
def test_a_tampered_or_misplaced_dealing_is_refused_naming_the_dealer(
        tmp_path: Path, tamper: object, message: str) -> None:
    ceremony_file = _ceremony(tmp_path)
    dealings = _deal_all(tmp_path, ceremony_file)
    path = dealings / "houder-c.dealing.toml"
    path.write_text(tamper(path.read_text()), encoding="utf-8")  # type: ignore[operator]
    assert message in _finish(tmp_path, ceremony_file, dealings, "houder-a", ok=False)


def test_a_missing_dealing_is_refused_naming_the_dealer(tmp_path: Path) -> None:
    ceremony_file = _ceremony(tmp_path)
    dealings = _deal_all(tmp_path, ceremony_file)
    (dealings / "houder-b.dealing.toml").unlink()
    assert "dealing of houder-b refused: " in _finish(tmp_path, ceremony_file, dealings,
                                                      "houder-a", ok=False)


def test_a_box_key_that_is_not_the_listed_one_is_refused(tmp_path: Path) -> None:
    ceremony_file = _ceremony(tmp_path)
    output = run("keyholder", "dkg", "deal", "--ceremony", ceremony_file, "--holder",
                 "houder-a", "--box-key", tmp_path / "houder-b" / "box.key", "--out",
                 tmp_path / "dealings", ok=False)
    assert "--box-key is not the box key the ceremony lists for houder-a" in output


def test_finish_adds_the_new_epochs_share_to_the_holders_existing_file(tmp_path: Path) -> None:
    """Rotation: a holder that serves epoch 1 from its share file adds epoch 7's share to
    that same file (the one keyholder.toml names), instead of merging files by hand."""
    ceremony_file = _ceremony(tmp_path)
    dealings = _deal_all(tmp_path, ceremony_file)
    old = EpochShare(1, 2, voprf.generate_key_pair(voprf.Mode.VOPRF)[0])
    share_file = tmp_path / "houder-b" / "shares.toml"
    write_share_file(share_file, "houder-b", [old])
    before = share_file.read_text()
    # Another holder's file, or one that already holds the epoch: refused, nothing changes.
    other = tmp_path / "houder-a" / "shares.toml"
    write_share_file(other, "houder-a", [EpochShare(1, 1, old.secret)])
    refused = run("keyholder", "dkg", "finish", "--ceremony", ceremony_file, "--holder",
                  "houder-b", "--box-key", tmp_path / "houder-b" / "box.key", "--dealings",
                  dealings, "--out", tmp_path / "houder-b", "--add-to", other, ok=False)
    assert "--add-to" in refused and "'houder-a', not of 'houder-b'" in refused
    assert not (tmp_path / "houder-b" / "public-shares-epoch-7.toml").exists()

    printed = run("keyholder", "dkg", "finish", "--ceremony", ceremony_file, "--holder",
                  "houder-b", "--box-key", tmp_path / "houder-b" / "box.key", "--dealings",
                  dealings, "--out", tmp_path / "houder-b", "--add-to", share_file)
    assert f"in {share_file} (added; reload the key holder)" in printed
    assert not (tmp_path / "houder-b" / "houder-b.share").exists()
    assert share_file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in share_file.parent.iterdir() if p.name.startswith(".")] == []
    loaded = read_share_file(share_file)
    assert loaded.holder_id == "houder-b" and set(loaded.shares) == {1, 7}
    assert loaded.shares[1] == old and loaded.shares[7].index == 2
    entry = tomllib.loads((tmp_path / "houder-b" / "public-shares-epoch-7.toml").read_text()
                          )["oprf_keys"][0]
    assert {s["holder_id"]: s["public_share"] for s in entry["public_shares"]}["houder-b"] \
        == loaded.shares[7].public_share.hex()
    assert before != share_file.read_text()

    after = share_file.read_text()
    (tmp_path / "houder-b" / "public-shares-epoch-7.toml").unlink()
    again = run("keyholder", "dkg", "finish", "--ceremony", ceremony_file, "--holder",
                "houder-b", "--box-key", tmp_path / "houder-b" / "box.key", "--dealings",
                dealings, "--out", tmp_path / "houder-b", "--add-to", share_file, ok=False)
    assert "already holds a share of epoch 7" in again
    assert share_file.read_text() == after


# ---------------------------------------------------------------- serve


def test_serve_runs_reloads_on_sighup_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    holders = build_holders(tmp_path / "kh")
    config = holders.configs["houder-a"]
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen([*SAMENLOOP, "keyholder", "serve", "--config", str(config)],
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while healthcheck.main(["--config", str(config), "--timeout", "1"]) != 0:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        holders.sign_directory(serial=2)
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while "directory serial 2 in use" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert "key holder houder-a listening" in text and "stopping" in text


def test_retire_share_refuses_a_listed_missing_or_last_epoch(tmp_path: Path) -> None:
    """Only a share the directory no longer lists is destroyed, and never the last one;
    a refusal leaves the file as it was."""
    holders = build_holders(tmp_path)
    config = holders.configs["houder-a"]
    share_file = config.parent / "shares.toml"
    before = share_file.read_text()
    listed = run("keyholder", "retire-share", "--config", config, "--epoch", 1, ok=False)
    assert "epoch 1 is still listed in the directory (serial 1)" in listed
    absent = run("keyholder", "retire-share", "--config", config, "--epoch", 5, ok=False)
    assert "holds no share of epoch 5 (it holds 1)" in absent
    assert share_file.read_text() == before
    with pytest.raises(ConfigError, match="the only share"):
        remove_share(share_file, "houder-a", 1)
    with pytest.raises(ConfigError, match="not of 'houder-b'"):
        remove_share(share_file, "houder-b", 1)
    assert share_file.read_text() == before
