"""The operator's path, through the real `samenloop` command in separate processes:
PKI, keys, signed directory, coordinator and nodes, import, check, melding, close, audit.
Afterwards no identifier may be found in any file the processes wrote, logs included."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from samenloop.node.demo import free_port, stop_processes, wait_for_port

SAMENLOOP = [sys.executable, "-m", "samenloop.node"]
CASES = """casusnummer,fase,procesregisseur,achternaam,tussenvoegsel,voornamen,geboortedatum,\
geboorteplaats
B-1,triage,pr-b,Kuipers,van,Wilhelmina Geertruida,1966-04-23,'s-Hertogenbosch
B-2,uitvoering,pr-b,Öztürk,,Mehmet Ali,2003-12-01,Zwolle
"""
A_CASES = ("casusnummer,fase,procesregisseur,achternaam,voornamen,geboortedatum\n"
           "A-1,triage,pr-a,Prins,Lotte,2010-10-10\n")
# What the procesregisseur at A types: another order, diacritics, a date format, an alias.
QUERY = [{"achternaam": "Kuipers, van", "voornamen": "Wilhelmina", "geboortedatum": "23-4-1966",
          "geboorteplaats": "Den Bosch"},
         {"achternaam": "Oztürk", "voornamen": "Mehmet", "geboortedatum": "01-12-2003"}]
IDENTIFIERS = ["Kuipers", "kuipers", "Wilhelmina", "wilhelmina", "Geertruida", "1966-04-23",
               "23-4-1966", "Hertogenbosch", "hertogenbosch", "Den Bosch", "den bosch",
               "Öztürk", "Oztürk", "ozturk", "Mehmet", "mehmet", "2003-12-01", "01-12-2003",
               "Zwolle", "zwolle", "Prins", "Lotte", "2010-10-10"]


def run(*args: str, cwd: Path, stdin: str | None = None, ok: bool = True
        ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*SAMENLOOP, *args], cwd=cwd, input=stdin, capture_output=True,
                            text=True, timeout=120, check=False)
    if ok:
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result




@pytest.fixture
def deployed(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """The network as operators build it. Parametrised indirectly with node ids, those nodes
    make their own key and CSR, which the network operator signs."""
    csr_nodes: tuple[str, ...] = getattr(request, "param", ())
    root = tmp_path / "network"
    root.mkdir()
    run("pki", "init", "--dir", "pki", "--network", "test", cwd=root)
    run("pki", "issue", "--coordinator", cwd=root)
    admin_pub = run("directory", "keygen", "--out", "keys/admin.key", cwd=root).stdout.strip()
    oprf_pub = run("coordinator", "keygen", "--out", "keys/oprf-1.key", cwd=root).stdout.strip()
    ports = {"coordinator": free_port(), "zvh-a": free_port(), "zvh-b": free_port()}
    spec = [f'network = "test"\nserial = 1\ncurrent_epoch = 1\n[[oprf_keys]]\nepoch = 1\n'
            f'public_key = "{oprf_pub}"\n']
    for node in ("zvh-a", "zvh-b"):
        if node in csr_nodes:
            run("node", "csr", "--node-id", node, "--key-out", f"pki/{node}.key",
                "--csr-out", f"{node}.csr", cwd=root)
            run("pki", "sign", "--csr", f"{node}.csr", "--out", f"pki/{node}.crt", cwd=root)
        else:
            run("pki", "issue", "--node", node, cwd=root)
        box_pub = run("node", "keygen", "--out", f"keys/{node}.box", cwd=root).stdout.strip()
        spec.append(f'[[nodes]]\nnode_id = "{node}"\ndisplay_name = "ZVH {node[-1].upper()}"\n'
                    f'endpoint = "127.0.0.1:{ports[node]}"\nbox_public_key = "{box_pub}"\n')
        short = node[-1]
        (root / f"{node}.toml").write_text(
            f'node_id = "{node}"\nlisten = "127.0.0.1:{ports[node]}"\n'
            f'coordinator = "127.0.0.1:{ports["coordinator"]}"\ndata_dir = "data/{node}"\n'
            f'directory_public_key = "{admin_pub}"\n'
            f'[tls]\nca = "pki/ca.crt"\ncert = "pki/{node}.crt"\nkey = "pki/{node}.key"\n'
            f'[keys]\nbox_secret_key = "keys/{node}.box"\n'
            f'[[procesregisseurs]]\nid = "pr-{short}"\nname = "Regisseur {short.upper()}"\n'
            f'phone = "010 000 000{ord(short) % 10}"\nemail = "pr@{short}.example"\n')
    (root / "directory.toml").write_text("\n".join(spec))
    run("directory", "sign", "--spec", "directory.toml", "--key", "keys/admin.key",
        "--out", "directory.pb", cwd=root)
    shown = run("directory", "show", "directory.pb", "--public-key", admin_pub, cwd=root).stdout
    assert "zvh-a" in shown and "zvh-b" in shown
    (root / "coordinator.toml").write_text(
        f'listen = "127.0.0.1:{ports["coordinator"]}"\ndata_dir = "data/coordinator"\n'
        f'directory = "directory.pb"\ndirectory_public_key = "{admin_pub}"\n'
        f'[tls]\nca = "pki/ca.crt"\ncert = "pki/coordinator.crt"\nkey = "pki/coordinator.key"\n'
        f'[[oprf_keys]]\nepoch = 1\nkey = "keys/oprf-1.key"\n')
    (root / "logs").mkdir()
    processes = []
    for name, args in (("coordinator", ("coordinator", "serve", "--config", "coordinator.toml")),
                       ("zvh-a", ("node", "serve", "--config", "zvh-a.toml")),
                       ("zvh-b", ("node", "serve", "--config", "zvh-b.toml"))):
        log = (root / "logs" / f"{name}.log").open("w")
        processes.append(subprocess.Popen([*SAMENLOOP, *args], cwd=root, stdout=log, stderr=log))
        wait_for_port(f"127.0.0.1:{ports[name]}")
    try:
        yield root
    finally:
        assert stop_processes(processes) == [0, 0, 0], "servers must stop cleanly on SIGTERM"


def test_operator_flow_and_no_identifier_in_any_file(deployed: Path) -> None:
    root = deployed
    (root / "b-cases.csv").write_text(CASES, encoding="utf-8")
    (root / "a-cases.csv").write_text(A_CASES, encoding="utf-8")
    out = run("node", "import", "b-cases.csv", "--sync", "--config", "zvh-b.toml", cwd=root)
    assert "imported 2 case(s): 2 added" in out.stdout
    run("node", "import", "a-cases.csv", "--config", "zvh-a.toml", cwd=root)

    check = ["check", "--node-config", "zvh-a.toml", "--case", "A-1", "--purpose",
             "triage: samenloop met ander ZVH", "--subjects-json", "-"]
    result = run(*check, cwd=root, stdin=json.dumps(QUERY))
    lines = result.stdout.splitlines()
    assert any(line.startswith("persoon 1: SAMENLOOP") and "ZVH B" in line
               and "Regisseur B" in line for line in lines), result.stdout
    assert any(line.startswith("persoon 2: SAMENLOOP") for line in lines), result.stdout
    assert "gecontroleerd bij 2 van 2 Zorg- en Veiligheidshuizen" in result.stdout

    meldingen = run("node", "meldingen", "--config", "zvh-b.toml", cwd=root).stdout
    assert "B-1" in meldingen and "ZVH A" in meldingen and "Regisseur A" in meldingen
    header, row = meldingen.splitlines()[:2]  # a header, and each melding's status
    assert header.split()[:5] == ["LAST", "CASE", "STRENGTH", "TIMES", "STATUS"]
    assert "B-1" in row and " open " in row

    run("node", "close", "B-1", "--config", "zvh-b.toml", cwd=root)
    result = run(*check, cwd=root, stdin=json.dumps(QUERY[:1]))
    assert "persoon 1: geen samenloop gevonden" in result.stdout

    # A mistyped case number is refused, never registered; an aanmelding is its own step,
    # and its check asks only the own ZVH.
    typo = [*check[:4], "A-l", *check[5:]]
    refused = run(*typo, cwd=root, stdin=json.dumps(QUERY[:1]), ok=False)
    assert refused.returncode == 2
    assert "onbekende casus; registreer eerst de aanmelding" in refused.stderr
    run("node", "intake", "A-2", "--procesregisseur", "pr-a", "--config", "zvh-a.toml", cwd=root)
    local = run("check", "--node-config", "zvh-a.toml", "--case", "A-2", "--purpose",
                "aanmelding: al bekend bij eigen ZVH", "--subjects-json", "-", cwd=root,
                stdin=json.dumps(QUERY[:1]))
    assert "gecontroleerd bij het eigen Zorg- en Veiligheidshuis" in local.stdout
    status = run("node", "status", "--config", "zvh-a.toml", cwd=root).stdout
    assert "aanmelding" in status and "expiring within 30 days" in status

    bad = root / "bad.csv"
    bad.write_text(CASES.replace("1966-04-23", "1966-02-30"), encoding="utf-8")
    refused = run("node", "import", "bad.csv", "--config", "zvh-b.toml", cwd=root, ok=False)
    assert refused.returncode == 2
    assert "line 2: geboortedatum" in refused.stderr and "nothing changed" in refused.stderr

    verify = run("node", "audit", "verify", "--config", "zvh-a.toml", cwd=root)
    assert "audit trail intact" in verify.stdout
    for output in (result.stdout + result.stderr, refused.stdout + refused.stderr):
        assert not any(i in output for i in IDENTIFIERS)

    # Nothing the processes wrote holds an identifier: databases, WAL files, caches, logs.
    written = [p for p in (root / "data").rglob("*") if p.is_file()]
    written += list((root / "logs").glob("*.log"))
    assert any(p.name == "registry.sqlite" for p in written)
    for path in written:
        data = path.read_bytes()
        for identifier in IDENTIFIERS:
            assert identifier.encode() not in data, f"{path.name} holds an identifier"


@pytest.mark.parametrize("deployed", [("zvh-a", "zvh-b")], indirect=True)
def test_nodes_with_csr_signed_certificates_join_and_answer(deployed: Path) -> None:
    """Both nodes made their own keys (the network operator never saw them): the holder
    answers the coordinator and the querying node reaches it, both over mutual TLS."""
    root = deployed
    for node in ("zvh-a", "zvh-b"):
        assert (root / "pki" / f"{node}.key").stat().st_mode & 0o777 == 0o600
    (root / "b-cases.csv").write_text(CASES, encoding="utf-8")
    (root / "a-cases.csv").write_text(A_CASES, encoding="utf-8")
    run("node", "import", "b-cases.csv", "--config", "zvh-b.toml", cwd=root)
    run("node", "import", "a-cases.csv", "--config", "zvh-a.toml", cwd=root)
    result = run("check", "--node-config", "zvh-a.toml", "--case", "A-1", "--purpose",
                 "triage: samenloop met ander ZVH", "--subjects-json", "-", cwd=root,
                 stdin=json.dumps(QUERY[:1]))
    assert "persoon 1: SAMENLOOP" in result.stdout and "ZVH B" in result.stdout
    assert "gecontroleerd bij 2 van 2 Zorg- en Veiligheidshuizen" in result.stdout


def _csr(common_name: str, *, extensions: tuple[x509.ExtensionType, ...] = (),
         organisation: str | None = None) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organisation:
        subject.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _tampered_csr() -> bytes:
    der = bytearray(x509.load_pem_x509_csr(_csr("zvh-a")).public_bytes(
        serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)


def test_pki_sign_signs_only_a_node_and_only_for_tls(tmp_path: Path) -> None:
    run("pki", "init", "--dir", "pki", cwd=tmp_path)
    made = run("node", "csr", "--node-id", "zvh-a", "--key-out", "node.key", "--csr-out",
               "node.csr", cwd=tmp_path)
    assert "node.csr" in made.stdout
    key = serialization.load_pem_private_key((tmp_path / "node.key").read_bytes(), None)
    assert (tmp_path / "node.key").stat().st_mode & 0o777 == 0o600
    again = run("node", "csr", "--node-id", "zvh-a", "--key-out", "node.key", "--csr-out",
                "other.csr", cwd=tmp_path, ok=False)
    assert again.returncode == 2 and "refusing to overwrite a key" in again.stderr
    bad_id = run("node", "csr", "--node-id", "coordinator", "--key-out", "c.key", "--csr-out",
                 "c.csr", cwd=tmp_path, ok=False)
    assert bad_id.returncode == 2 and "node id 'coordinator'" in bad_id.stderr
    assert not (tmp_path / "c.key").exists()

    run("pki", "sign", "--csr", "node.csr", "--out", "node.crt", "--host", "zvh-a.example",
        cwd=tmp_path)
    cert = x509.load_pem_x509_certificate((tmp_path / "node.crt").read_bytes())
    assert cert.public_key() == key.public_key(), "the certificate is for the node's own key"
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "zvh-a"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign and not usage.crl_sign
    assert set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == {
        ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == [
        "zvh-a", "zvh-a.example"]
    ca = x509.load_pem_x509_certificate((tmp_path / "pki" / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca)

    refused = {
        "coordinator": (_csr("coordinator"), "node id 'coordinator'"),
        "bad id": (_csr("Zvh A"), "node id 'Zvh A'"),
        "a CA": (_csr("zvh-a", extensions=(x509.BasicConstraints(ca=True, path_length=None),)),
                 "BasicConstraints extension"),
        "other names": (_csr("zvh-a", extensions=(x509.SubjectAlternativeName(
            [x509.DNSName("zvh-a"), x509.DNSName("coordinator")]),)),
            "subject alternative name must be only the node id"),
        "key usages": (_csr("zvh-a", extensions=(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.CODE_SIGNING]),)), "ExtendedKeyUsage extension"),
        "more subject": (_csr("zvh-a", organisation="Other"), "must be only a common name"),
        "tampered": (_tampered_csr(), "signature does not verify"),
        "not a CSR": (b"hello", "not a PEM certificate signing request"),
    }
    for case, (request, reason) in refused.items():
        (tmp_path / "bad.csr").write_bytes(request)
        result = run("pki", "sign", "--csr", "bad.csr", "--out", "bad.crt", cwd=tmp_path,
                     ok=False)
        assert result.returncode == 2, case
        assert result.stderr.startswith("error: bad.csr: ") and reason in result.stderr, (
            case, result.stderr)
        assert not (tmp_path / "bad.crt").exists(), case


def test_bad_config_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "node.toml").write_text('node_id = "Bad Id"\n')
    result = run("node", "status", "--config", "node.toml", cwd=tmp_path, ok=False)
    assert result.returncode == 2 and "node_id" in result.stderr
    (tmp_path / "node.toml").write_text("node_id = \n")
    result = run("node", "status", "--config", "node.toml", cwd=tmp_path, ok=False)
    assert "not valid TOML" in result.stderr


def test_demo_refuses_a_port_in_use_before_it_starts(tmp_path: Path) -> None:
    """Another demo (or macOS's AirPlay receiver on 7000) holds a port: the demo says which,
    instead of talking to it and failing later with a TLS error."""
    for taken in ("coordinator", "key holder", "web app"):
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            base = {"coordinator": port, "key holder": port - 201, "web app": port - 1101}[taken]
            if base < 1024:
                continue
            result = run("demo", "--dir", str(tmp_path / "demo"), "--base-port", str(base),
                         cwd=tmp_path, ok=False)
        assert result.returncode == 2, result.stdout + result.stderr
        # Every busy port is named: the one held here, and any other process's that happens
        # to hold a port of the range (these are ephemeral ports).
        assert re.search(rf"ports? (\d+, )*{port}(, \d+)* (is|are) in use", result.stderr), \
            result.stderr
        assert not (tmp_path / "demo").exists(), "nothing is written before the ports are free"

    # `make demo` passes no options: the environment chooses the ports there.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run([*SAMENLOOP, "demo", "--dir", str(tmp_path / "demo")],
                                cwd=tmp_path, capture_output=True, text=True, timeout=120,
                                check=False, env={**os.environ,
                                                  "SAMENLOOP_DEMO_BASE_PORT": str(port)})
    assert result.returncode == 2
    assert re.search(rf"ports? (\d+, )*{port}(, \d+)* (is|are) in use", result.stderr)


def test_demo_starts_answers_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """On ports the system chooses (--base-port 0), so it never depends on 7000 being free."""
    demo = subprocess.Popen([*SAMENLOOP, "demo", "--dir", str(tmp_path / "demo"),
                             "--base-port", "0"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        printed = []
        assert demo.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            printed.append(line)
            if "Press Ctrl-C" in line or not line:
                break
        text = "".join(printed)
        assert "Press Ctrl-C" in text, text
        assert "127.0.0.1:7000" not in text, "the chosen ports are printed"
        assert all(h in text for h in ("kh-netwerkbeheer", "kh-tweede-overheid",
                                       "kh-onafhankelijk")), "the key holders run and are shown"
        commands = [c for c in text.split("\n\n") if "check --node-config" in c]
        assert len(commands) == 2
        outputs = []
        for command in commands:
            argv = command.strip().split("\n", 1)[1].replace("\\\n", " ")
            import shlex

            args = shlex.split(argv)[1:]  # drop the path of the samenloop executable
            outputs.append(run(*args, cwd=tmp_path).stdout)
        assert "SAMENLOOP" in outputs[0] and "Noord-Limburg" in outputs[0]
        assert "geen samenloop gevonden" in outputs[1]
        assert "gecontroleerd bij 3 van 3" in outputs[1]
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=30)
        assert "stopped." in rest
    finally:
        if demo.poll() is None:  # Ctrl-C first: a killed demo leaves its servers running
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=30)
            except subprocess.TimeoutExpired:
                demo.kill()


def _next_line(stream: IO[str]) -> str:
    """The demo's next non-empty line (its instructions end with a blank one)."""
    for _ in range(5):
        line = stream.readline()
        if line.strip() or not line:
            return line
    return ""


def test_demo_goes_on_when_a_key_holder_is_killed_and_refuses_with_two(tmp_path: Path
                                                                       ) -> None:
    """The README's walk-through: kill one key holder's process and checks go on with the
    other two; kill a second and a check is refused in Dutch, never "geen samenloop". The
    demo itself keeps running through both (it used to stop everything at the first)."""
    demo = subprocess.Popen([*SAMENLOOP, "demo", "--dir", str(tmp_path / "demo"),
                             "--base-port", "0"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 120
        printed = ""
        while time.monotonic() < deadline and "Press Ctrl-C" not in printed:
            line = demo.stdout.readline()
            if not line:
                break
            printed += line
        assert "Press Ctrl-C" in printed, printed
        check = ["check", "--node-config", "demo/nodes/zvh-fryslan/node.toml", "--case",
                 "F-2026-001", "--purpose", "triage: samenloop met ander ZVH", "--surname",
                 "Van den Berg", "--given-names", "Pieter", "--date-of-birth", "12-3-1985",
                 "--place-of-birth", "Venlo"]
        # The pid the demo prints beside each key holder, as the README tells an operator.
        pids = {h: int(p) for h, p in re.findall(r"(kh-[a-z-]+) +127\.0\.0\.1:\d+ +\(pid (\d+)",
                                                 printed)}
        assert set(pids) == {"kh-netwerkbeheer", "kh-tweede-overheid", "kh-onafhankelijk"}

        os.kill(pids["kh-netwerkbeheer"], signal.SIGKILL)
        line = _next_line(demo.stdout)  # the demo reports it, and goes on
        assert "key holder kh-netwerkbeheer stopped; 2 of 3 still run" in line, line
        assert demo.poll() is None
        answer = run(*check, cwd=tmp_path)
        assert "SAMENLOOP" in answer.stdout and "Noord-Limburg" in answer.stdout
        assert "gecontroleerd bij 3 van 3" in answer.stdout

        os.kill(pids["kh-tweede-overheid"], signal.SIGKILL)
        line = _next_line(demo.stdout)
        assert "key holder kh-tweede-overheid stopped; 1 of 3 still run" in line, line
        assert demo.poll() is None
        refused = run(*check, cwd=tmp_path, ok=False)
        assert refused.returncode != 0
        assert "te weinig sleutelhouders bereikbaar" in refused.stderr, refused.stderr
        assert "geen samenloop" not in refused.stdout + refused.stderr
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=30)
        assert "stopped unexpectedly" not in rest and "stopped." in rest
    finally:
        if demo.poll() is None:  # Ctrl-C first: a killed demo leaves its servers running
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=30)
            except subprocess.TimeoutExpired:
                demo.kill()


def test_server_logs_are_json_lines_with_query_ids(deployed: Path) -> None:
    root = deployed
    (root / "a-cases.csv").write_text(A_CASES, encoding="utf-8")
    run("node", "import", "a-cases.csv", "--config", "zvh-a.toml", cwd=root)
    run("check", "--node-config", "zvh-a.toml", "--case", "A-1", "--purpose",
        "triage: samenloop met ander ZVH", "--subjects-json", "-", cwd=root,
        stdin=json.dumps(QUERY[:1]))
    time.sleep(0.3)
    lines = (root / "logs" / "coordinator.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records and len(records) == len(lines), "every log line is one JSON object"
    checks = [r for r in records if r["message"].startswith("check:")]
    assert checks and len(checks[0]["query_id"]) == 32
    assert {"time", "level", "logger", "message"} <= set(checks[0])


def test_a_bad_log_level_is_refused_by_name(tmp_path: Path) -> None:
    result = subprocess.run([*SAMENLOOP, "node", "serve", "--config", "node.toml"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            check=False, env={**os.environ, "SAMENLOOP_LOG_LEVEL": "loud"})
    assert result.returncode == 2
    assert "SAMENLOOP_LOG_LEVEL: must be one of debug, info, warning, error" in result.stderr


def test_demo_tells_how_to_get_a_totp_code_and_reset_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: the demo said beheerder, auditor and privacy set up TOTP, but not how to get a
    code without an authenticator app, nor how to start over when it is lost. The printed
    command must work on the key as the page shows it (groups of four, spaces)."""
    import shlex

    import pyotp

    from samenloop.node.demo import DemoPorts, _print_instructions
    configs = {n: tmp_path / "nodes" / n / "node.toml"
               for n in ("zvh-fryslan", "zvh-noord-limburg", "zvh-rotterdam-rijnmond")}
    ports = DemoPorts(coordinator=1, nodes={n: 2 for n in configs},
                      web={n: 3 for n in configs}, holders={"kh-netwerkbeheer": 4})
    _print_instructions(tmp_path, configs, "demo-geheim", ports, {"kh-netwerkbeheer": 5})
    text = capsys.readouterr().out
    code_line = next(line for line in text.splitlines() if "pyotp" in line)
    secret = pyotp.random_base32()
    shown = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    argv = shlex.split(code_line.strip())
    key = argv.index("SLEUTEL")
    result = subprocess.run([*argv[:key], *shown.split(), *argv[key + 1:]], capture_output=True,
                            text=True, timeout=60, check=True)
    assert pyotp.TOTP(secret).verify(result.stdout.strip(), valid_window=1)
    reset = next(line for line in text.splitlines() if "reset-totp" in line)
    assert "node user reset-totp beheerder --config" in reset
