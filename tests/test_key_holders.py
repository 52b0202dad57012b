"""Split trust (#13) on real servers: nodes pseudonymise through t of n key holders.

Every network here is the demo's (node/demo.py build_network): three key holders, any two
of which evaluate, and a coordinator without any key. The key holders are the real service
(coordinator/keyholder); a holder that lies is tests/support/rogue_holder.py at the real
holder's endpoint with the real holder's certificate.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path

import grpc
import pytest
from fastapi.testclient import TestClient

from samenloop.coordinator.cli import sign_from_file
from samenloop.coordinator.config import CoordinatorConfig
from samenloop.coordinator.keyholder.shares import read_share_file
from samenloop.coordinator.server import CoordinatorServer
from samenloop.crypto import pki, voprf
from samenloop.crypto.identity import match_keys
from samenloop.crypto.tags import node_tag
from samenloop.node.check import KEY_HOLDERS_UNAVAILABLE, CheckRefused, KeyHoldersUnavailable
from samenloop.node.config import WebConfig
from samenloop.node.demo import DEMO_KEY_HOLDERS, free_port, write_holder_configs
from samenloop.node.network import TooFewKeyHolders
from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext
from samenloop.node.web.app import create_app
from samenloop.proto import directory as directory_mod
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb
from samenloop.proto.samenloop.v1 import samenloop_pb2_grpc as pb_grpc
from samenloop.proto.transport import TlsFiles, secure_channel
from tests.support.network import (
    NOBODY,
    PIETER_VAN_DEN_BERG,
    TJEERD_DIJKSTRA,
    Harness,
    oprf_key,
    person,
)
from tests.support.rogue_holder import RogueHolder, tls_of

FRYSLAN, LIMBURG, RIJNMOND = "zvh-fryslan", "zvh-noord-limburg", "zvh-rotterdam-rijnmond"
TRIAGE_CASE = "F-2026-001"
HOLDERS = [h for h, _ in DEMO_KEY_HOLDERS]
EL_AMRANI = dict(surname="El Amrani", given_names="Mohammed", date_of_birth="21-06-1990",
                 place_of_birth="'s-Gravenhage")
SAMENLOOP = [sys.executable, "-m", "samenloop.node"]
# Why the node refuses each lie (its log line): the check that catches it first.
REASONS = {"wrong_share": "does not verify against its public share",
           "bad_proof": "does not verify against its public share",
           "replay": "not for this request", "other_holder": "names another holder"}


@pytest.fixture
def split_network(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "net", deadline_seconds=2.0)
    try:
        yield harness.start()
    finally:
        harness.close()


def _hit_nodes(harness: Harness, *subject: dict[str, str]) -> list[str]:
    result = harness.check(FRYSLAN, TRIAGE_CASE, *subject)
    assert result.coverage.complete
    return [h.node_id for h in result.hits]


def _restart(harness: Harness, holder_id: str) -> None:
    """Start a stopped holder again and wait until every node's channel to it has
    reconnected (a node does not wait for a holder that is down: it asks the others)."""
    harness.start_holder(holder_id)
    for node in harness.nodes.values():
        known = node.network._holders.get(holder_id)
        if known is not None:
            grpc.channel_ready_future(known[2]).result(timeout=30)


def _secret(harness: Harness, holder_id: str) -> bytes:
    path = harness.layout.root / "keys" / "holders" / f"{holder_id}.shares.toml"
    return read_share_file(path).shares[1].secret


def _rogue(harness: Harness, holder_id: str, mode: str,
           tls: TlsFiles | None = None) -> RogueHolder:
    """Replace a running holder by a rogue one at its endpoint (its own certificate unless
    `tls` says otherwise)."""
    if holder_id in harness.holders:
        harness.stop_holder(holder_id)
    pki_dir = harness.layout.root / "pki"
    return RogueHolder(holder_id, _secret(harness, holder_id), mode).start(
        harness.layout.holder_endpoints[holder_id], tls or tls_of(pki_dir, holder_id))


# ------------------------------------------------------------------ the threshold output


def test_threshold_output_equals_single_key_output(split_network: Harness) -> None:
    """Tags registered through the holders are exactly those of the whole key: the
    registry the demo imported holds node_tag(Ψ_k(x)) for k recombined here (test only)."""
    net = split_network
    assert net.layout.threshold == 2 and sorted(net.holders) == sorted(HOLDERS)
    key = oprf_key(net.layout)
    directory = net.nodes[LIMBURG].network.directory()
    assert directory.key_splits[1].threshold == 2
    assert voprf.public_key(key) == directory.oprf_keys[1]
    inputs = [k.oprf_input for k in match_keys(person(**PIETER_VAN_DEN_BERG))]
    _, pseudonyms = net.nodes[LIMBURG].network.pseudonymise(inputs, "test-equal")
    assert pseudonyms == [voprf.evaluate(key, x, voprf.Mode.VOPRF) for x in inputs]
    found = net.nodes[LIMBURG].store.cases_with_tags(
        [(node_tag(p, LIMBURG), 1) for p in pseudonyms])
    assert [c.case_ref for c in found] == ["NL-2026-014"]
    assert _hit_nodes(net, PIETER_VAN_DEN_BERG) == [LIMBURG]
    # The coordinator evaluated nothing; every holder's audit has evaluations.
    assert net.coordinator is not None
    assert not [r for r in net.coordinator.audit.records() if r.kind == "evaluate"]


def test_any_t_of_n_holders_give_the_same_tags(split_network: Harness) -> None:
    net = split_network
    inputs = [k.oprf_input for s in (PIETER_VAN_DEN_BERG, NOBODY)
              for k in match_keys(person(**s))]
    expected = [voprf.evaluate(oprf_key(net.layout), x, voprf.Mode.VOPRF) for x in inputs]
    for pair in combinations(HOLDERS, 2):
        (down,) = set(HOLDERS) - set(pair)
        net.stop_holder(down)
        try:
            _, pseudonyms = net.nodes[FRYSLAN].network.pseudonymise(inputs, f"pair-{down}")
            assert pseudonyms == expected, pair
            assert _hit_nodes(net, PIETER_VAN_DEN_BERG) == [LIMBURG]
        finally:
            _restart(net, down)


# ------------------------------------------------------------------ holders down


def test_one_holder_killed_mid_load_checks_continue_without_a_wrong_no_hit(
        split_network: Harness) -> None:
    net = split_network
    outcomes: list[list[str] | Exception] = []

    def load() -> None:
        for _ in range(24):  # bounded
            try:
                outcomes.append(_hit_nodes(net, PIETER_VAN_DEN_BERG))
            except Exception as exc:  # reported below
                outcomes.append(exc)

    worker = threading.Thread(target=load)
    worker.start()
    while len(outcomes) < 4 and worker.is_alive():
        time.sleep(0.01)
    net.stop_holder(HOLDERS[0])  # no grace: calls in flight are cut off
    worker.join(300)
    assert not worker.is_alive()
    assert len(outcomes) == 24
    assert outcomes == [[LIMBURG]] * 24  # every check found the hit, none failed


def test_two_of_three_down_refuses_the_check_clearly(split_network: Harness,
                                                     tmp_path: Path) -> None:
    net = split_network
    net.stop_holder(HOLDERS[0])
    net.stop_holder(HOLDERS[1])
    node = net.nodes[FRYSLAN]
    with pytest.raises(KeyHoldersUnavailable) as refused:
        net.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
    assert refused.value.field == "netwerk"
    assert refused.value.message.startswith(KEY_HOLDERS_UNAVAILABLE)
    assert "niet uitgevoerd" in refused.value.message
    # Nothing left the node: the coordinator received no query.
    assert net.coordinator is not None
    assert not [r for r in net.coordinator.audit.records() if r.kind == "check"]

    # The HTTP API: 503 with the same Dutch message, never an empty result.
    ctx = NodeContext(node.config, WebConfig(), node.store, node.network)
    accounts.add_user(node.store, "regisseur", "procesregisseur", "pr-1",
                      "correct-horse-battery", by="test", now=time.time(), must_change=False)
    token = accounts.create_api_token(node.store, "regisseur", by="test", now=time.time())
    with TestClient(create_app(ctx), follow_redirects=False) as client:
        answer = client.post("/api/v1/checks", headers={"Authorization": f"Bearer {token}"},
                             json={"casus": TRIAGE_CASE, "doel": "triage: samenloop met ander ZVH",
                                   "personen": [{"achternaam": "Van den Berg",
                                                 "voornamen": "Pieter",
                                                 "geboortedatum": "12-3-1985"}]})
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["fouten"][0]["melding"].startswith(KEY_HOLDERS_UNAVAILABLE)

    # The operator's CLI: refused with the same message, exit code not 0.
    cli = subprocess.run(
        [*SAMENLOOP, "check", "--node-config", str(net.layout.node_configs[FRYSLAN]),
         "--case", TRIAGE_CASE, "--purpose", "triage: samenloop met ander ZVH",
         "--surname", "Van den Berg", "--given-names", "Pieter", "--date-of-birth",
         "12-3-1985"], capture_output=True, text=True, timeout=120, check=False)
    assert cli.returncode != 0
    assert KEY_HOLDERS_UNAVAILABLE in cli.stderr
    assert "geen samenloop" not in cli.stdout

    # An import is refused too and changes nothing.
    tags = node.store.tag_count()
    with pytest.raises(TooFewKeyHolders):
        net.import_cases(FRYSLAN)
    assert node.store.tag_count() == tags

    # One back: two of three answer again, and the check finds the hit.
    _restart(net, HOLDERS[1])
    assert _hit_nodes(net, PIETER_VAN_DEN_BERG) == [LIMBURG]


def test_a_holder_back_after_an_outage_answers_the_very_next_check(
        split_network: Harness) -> None:
    """With one holder down, a second that restarts must count at once: the node's channel
    to it is still in its reconnect backoff (up to 2 s after failed attempts), and a check
    then must wait for it, not be refused while two holders could answer."""
    net = split_network
    net.stop_holder(HOLDERS[0])
    net.stop_holder(HOLDERS[1])
    for _ in range(3):  # failed connection attempts: the channel backs off
        with pytest.raises(KeyHoldersUnavailable):
            net.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
    time.sleep(2.5)  # the backoff grows to its maximum meanwhile
    channel = net.nodes[FRYSLAN].network._holders[HOLDERS[1]][2]
    net.start_holder(HOLDERS[1])  # not waiting for the node's channel to reconnect
    # The channel is still backing off (`try_to_connect=False` leaves it alone).
    assert channel._channel.check_connectivity_state(False) != 2  # not READY
    assert _hit_nodes(net, PIETER_VAN_DEN_BERG) == [LIMBURG]


# ------------------------------------------------------------------ holders that lie


@pytest.mark.parametrize("mode", ["wrong_share", "bad_proof", "replay", "other_holder"])
def test_a_lying_holder_is_detected_excluded_and_reported(
        split_network: Harness, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    """Each check still finds the hit with the two honest holders; the lie, once the node
    meets it among the first answers, is refused, logged and opens one incident."""
    net = split_network
    liar = HOLDERS[1]
    rogue = _rogue(net, liar, mode)
    store = net.nodes[FRYSLAN].store
    try:
        with caplog.at_level(logging.ERROR, logger="samenloop.node"):
            for _ in range(30):  # bounded: the liar is among the first two answers soon
                assert _hit_nodes(net, PIETER_VAN_DEN_BERG) == [LIMBURG]
                if [i for i in store.incidents() if i.category == "sleutelhouder_geweigerd"]:
                    break
        assert rogue.calls >= 1
        [incident] = [i for i in store.incidents() if i.category == "sleutelhouder_geweigerd"]
        assert incident.cause == f"keyholder:{liar}:1" and liar in incident.description
        refusals = [r.getMessage() for r in caplog.records if "refused and left out" in
                    r.getMessage()]
        assert refusals and all(liar in m for m in refusals)
        assert all(REASONS[mode] in m for m in refusals), refusals
        # The log names the holder and why, never an element.
        assert not any(len(w) >= 40 and all(c in "0123456789abcdef" for c in w)
                       for m in refusals for w in m.split())
    finally:
        rogue.stop()


def test_a_lying_holder_and_one_down_refuse_the_check_never_a_no_hit(
        split_network: Harness) -> None:
    net = split_network
    rogue = _rogue(net, HOLDERS[1], "wrong_share")
    net.stop_holder(HOLDERS[2])
    try:
        for subject in (PIETER_VAN_DEN_BERG, NOBODY):
            with pytest.raises(KeyHoldersUnavailable):
                net.check(FRYSLAN, TRIAGE_CASE, subject)
    finally:
        rogue.stop()


def test_a_holder_not_in_the_directory_or_of_a_foreign_ca_is_never_asked(
        split_network: Harness, tmp_path: Path) -> None:
    """At the address of a listed holder: a server with a network certificate for another
    name (not in the directory), then one with the right name from a foreign CA. The
    node's TLS refuses both before any request; the check goes on with the two others."""
    net = split_network
    holder = HOLDERS[0]
    pki_dir = net.layout.root / "pki"
    now = dt.datetime.now(dt.UTC)
    ca_key, ca_cert = (pki_dir / "ca.key").read_bytes(), (pki_dir / "ca.crt").read_bytes()
    foreign_key, foreign_cert = pki.new_ca("foreign", now=now)
    folder = tmp_path / "impostors"
    folder.mkdir()
    for name, (issuer_key, issuer_cert), identity in (
            ("unlisted", (ca_key, ca_cert), "kh-elders"),
            ("foreign", (foreign_key, foreign_cert), holder)):
        key, cert = pki.issue(issuer_key, issuer_cert, identity, now=now)
        (folder / f"{name}.key").write_bytes(key)
        (folder / f"{name}.crt").write_bytes(cert)
        (folder / f"{name}-ca.crt").write_bytes(issuer_cert)
        tls = TlsFiles(folder / f"{name}-ca.crt", folder / f"{name}.crt", folder / f"{name}.key")
        rogue = _rogue(net, holder, "honest", tls=tls)
        try:
            for _ in range(3):
                assert _hit_nodes(net, PIETER_VAN_DEN_BERG) == [LIMBURG]
            assert rogue.calls == 0, name
        finally:
            rogue.stop()


# ------------------------------------------------------------------ a holder's rate limit


def test_a_node_above_one_holders_rate_limit_is_refused_there_and_uses_the_others(
        tmp_path: Path) -> None:
    """One holder allows few evaluations per minute. It refuses the node
    (RESOURCE_EXHAUSTED, in its own audit); the node takes the other two answers and the
    check succeeds. With a second holder down, the node refuses the check as a budget
    refusal (never a no-hit), naming the holders' budget in the log."""
    harness = Harness(tmp_path / "net", deadline_seconds=2.0)
    strict = HOLDERS[2]
    config = harness.layout.holder_configs[strict]
    config.write_text(config.read_text() + "evaluations_per_minute = 1\n"
                      "import_evaluations_per_minute = 1000\n", encoding="utf-8")
    try:
        harness.start()
        for _ in range(3):
            assert _hit_nodes(harness, PIETER_VAN_DEN_BERG) == [LIMBURG]
        audit = harness.holders[strict].audit.records()
        assert any(r.outcome == "refused" and r.node_id == FRYSLAN and r.purpose == "check"
                   for r in audit)
        harness.stop_holder(HOLDERS[0])
        with pytest.raises(CheckRefused) as refused:
            harness.check(FRYSLAN, TRIAGE_CASE, PIETER_VAN_DEN_BERG)
        assert not isinstance(refused.value, KeyHoldersUnavailable)
        assert "evaluatielimiet" in refused.value.message
    finally:
        harness.close()


# ------------------------------------------------------------------ the coordinator


def test_the_coordinator_holds_no_key_of_a_split_epoch(split_network: Harness,
                                                       tmp_path: Path) -> None:
    net = split_network
    assert net.coordinator is not None
    assert net.coordinator.config.oprf_keys == {}
    assert not (net.layout.root / "keys" / "oprf-epoch-1.key").exists()
    # Its Evaluate refuses the split epoch.
    pki_dir = net.layout.root / "pki"
    channel = secure_channel(net.layout.coordinator_endpoint, tls_of(pki_dir, FRYSLAN),
                             expected_peer=pki.COORDINATOR)
    try:
        element = voprf.blind(b"x", voprf.Mode.VOPRF)[1]
        with pytest.raises(grpc.RpcError) as refused:
            pb_grpc.CoordinatorStub(channel).Evaluate(
                pb.EvaluateRequest(epoch=1, blinded_elements=[element], request_id="r-1"),
                timeout=10)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "split over key holders" in (refused.value.details() or "")
    finally:
        channel.close()
    # The demo's directory.toml, signed by the operator's command, is the directory in use.
    signed = sign_from_file(net.layout.directory_spec, net.layout.admin_key,
                            tmp_path / "resigned.pb", int(time.time()))
    running = net.nodes[FRYSLAN].network.directory()
    assert (signed.key_splits, signed.key_holders, signed.oprf_keys) == (
        running.key_splits, running.key_holders, running.oprf_keys)
    # Given a key for that epoch, it refuses to start.
    key_file = tmp_path / "oprf-epoch-1.key"
    key_file.write_text(oprf_key(net.layout).hex() + "\n")
    key_file.chmod(0o600)
    config = CoordinatorConfig.load(net.layout.coordinator_config)
    with pytest.raises(ValueError, match="splits over key holders"):
        CoordinatorServer(dataclasses.replace(config, oprf_keys={1: oprf_key(net.layout)}))


# ------------------------------------------------------------------ migration


def test_splitting_a_running_networks_key_keeps_every_existing_hit(tmp_path: Path) -> None:
    """Before: the coordinator holds the key and the nodes have imported. The operator
    splits the key with `samenloop keyholder split`, issues the holders' certificates,
    signs a directory listing them, removes the key from the coordinator, starts the
    holders and restarts everything. Without any re-import every hit is still found."""
    harness = Harness(tmp_path / "net", deadline_seconds=2.0, key_holders=())
    layout = harness.layout
    root = layout.root
    try:
        harness.start()
        before = {name: _hit_nodes(harness, subject) for name, subject in (
            ("pieter", PIETER_VAN_DEN_BERG), ("tjeerd", TJEERD_DIJKSTRA),
            ("el-amrani", EL_AMRANI), ("nobody", NOBODY))}
        assert before == {"pieter": [LIMBURG], "tjeerd": [FRYSLAN],
                          "el-amrani": [RIJNMOND], "nobody": []}

        shares_dir = root / "split"
        split = subprocess.run(
            [*SAMENLOOP, "keyholder", "split", "--key", str(root / "keys" / "oprf-epoch-1.key"),
             "--threshold", "2", "--holders", ",".join(HOLDERS), "--out", str(shares_dir)],
            capture_output=True, text=True, timeout=120, check=False)
        assert split.returncode == 0, split.stderr
        for holder in HOLDERS:
            issued = subprocess.run(
                [*SAMENLOOP, "pki", "issue", "--dir", str(root / "pki"),
                 "--node", holder], capture_output=True, text=True, timeout=60, check=False)
            assert issued.returncode == 0, issued.stderr
        # The directory: the public-shares block instead of the epoch's key, the holders
        # listed, a new serial; signed with the administrator's key by the operator's CLI.
        endpoints = {h: f"127.0.0.1:{free_port()}" for h in HOLDERS}
        spec = layout.directory_spec.read_text(encoding="utf-8")
        head, _, rest = spec.partition("[[oprf_keys]]")
        _, _, nodes = rest.partition("[[nodes]]")
        spec = (head.replace("serial = 1", "serial = 2")
                + (shares_dir / "public-shares-epoch-1.toml").read_text(encoding="utf-8")
                + "\n" + "".join(f'[[key_holders]]\nholder_id = "{h}"\ndisplay_name = "{n}"\n'
                                 f'endpoint = "{endpoints[h]}"\n\n'
                                 for h, n in DEMO_KEY_HOLDERS)
                + "[[nodes]]" + nodes)
        layout.directory_spec.write_text(spec, encoding="utf-8")
        signed = subprocess.run(
            [*SAMENLOOP, "directory", "sign", "--spec", str(layout.directory_spec),
             "--key", str(layout.admin_key), "--out", str(layout.directory_file)],
            capture_output=True, text=True, timeout=60, check=False)
        assert signed.returncode == 0, signed.stderr
        directory = directory_mod.parse_file(layout.directory_file.read_bytes(),
                                             layout.verify_key)
        assert directory.serial == 2 and directory.key_splits[1].threshold == 2

        # The coordinator, still configured with the key, refuses the new directory.
        evaluations = len([r for r in harness.coordinator.audit.records()
                           if r.kind == "evaluate"]) if harness.coordinator else 0
        harness.stop_coordinator()
        with pytest.raises(ValueError, match="splits over key holders"):
            harness.start_coordinator()
        config = layout.coordinator_config.read_text(encoding="utf-8")
        layout.coordinator_config.write_text(config.replace(
            '[[oprf_keys]]\nepoch = 1\nkey = "keys/oprf-epoch-1.key"\n', ""), encoding="utf-8")
        (root / "keys" / "oprf-epoch-1.key").unlink()
        harness.start_coordinator()

        (root / "keys" / "holders").mkdir(parents=True)
        for holder in HOLDERS:
            (shares_dir / f"{holder}.share").rename(
                root / "keys" / "holders" / f"{holder}.shares.toml")
        layout.holder_configs = write_holder_configs(root, HOLDERS, endpoints,
                                                     layout.verify_key, {})
        layout.holder_endpoints, layout.threshold = endpoints, 2
        for holder in HOLDERS:
            harness.start_holder(holder)
        for node_id in list(harness.nodes):
            harness.stop_node(node_id)
            harness.start_node(node_id)

        after = {name: _hit_nodes(harness, subject) for name, subject in (
            ("pieter", PIETER_VAN_DEN_BERG), ("tjeerd", TJEERD_DIJKSTRA),
            ("el-amrani", EL_AMRANI), ("nobody", NOBODY))}
        assert after == before
        # Through the holders, not the coordinator: its audit has no evaluation since.
        assert harness.coordinator is not None
        assert len([r for r in harness.coordinator.audit.records()
                    if r.kind == "evaluate"]) == evaluations > 0
        assert sum(harness.holders[h].audit.count() for h in HOLDERS) >= 2
    finally:
        harness.close()
