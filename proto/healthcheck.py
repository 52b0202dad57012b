"""`samenloop-healthcheck`: ask a running coordinator, node or key holder for its gRPC
health, over its own mutual TLS.

Operators (systemd, scripts), container healthchecks and Kubernetes exec probes use this:
the kubelet's built-in `grpc:` probe cannot present a client certificate, and every
Samenloop port demands one. It is installed with the package as a console script. The check
connects to the process's own `listen` port (0.0.0.0 becomes loopback) with the certificate
and key named in its config, and pins the identity in that certificate.

    samenloop-healthcheck --config /etc/samenloop/node.toml          # readiness
    samenloop-healthcheck --config /etc/samenloop/node.toml --live   # liveness

Exit 0: SERVING (with --live: any answer, so a node still waiting for its directory is not
restarted). Exit 1: it answered, but not SERVING. Exit 2: no answer or unusable config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SERVICES = {"node": "samenloop.v1.Node", "coordinator": "samenloop.v1.Coordinator",
            "keyholder": "samenloop.v1.KeyHolder"}


def local_target(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    if host in ("0.0.0.0", "", "*"):  # noqa: S104 - a listen address, not a bind
        host = "127.0.0.1"
    elif host in ("[::]", "::"):
        host = "[::1]"
    return f"{host}:{port}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="samenloop-healthcheck", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True,
                        help="the process's coordinator.toml, node.toml or keyholder.toml")
    parser.add_argument("--service", default=None,
                        help='health service name (default: samenloop.v1.Node, '
                             'samenloop.v1.Coordinator or samenloop.v1.KeyHolder; "" for the '
                             'whole server)')
    parser.add_argument("--live", action="store_true",
                        help="succeed on any answer (liveness), not only SERVING")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    args = parser.parse_args(argv)

    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from samenloop.crypto.pki import certificate_identity
    from samenloop.proto.configfile import ConfigError, Section
    from samenloop.proto.transport import secure_channel

    try:
        root = Section.load(args.config)
        kind = ("node" if root.has("node_id") else
                "keyholder" if root.has("holder_id") else "coordinator")
        listen = root.endpoint("listen", "127.0.0.1:7000")
        tls = root.tls()
        identity = certificate_identity(tls.cert.read_bytes())
    except (ConfigError, OSError, ValueError) as exc:
        print(f"unhealthy: cannot use {args.config}: {exc}", file=sys.stderr)
        return 2
    service = SERVICES[kind] if args.service is None else args.service
    target = local_target(listen)
    channel = secure_channel(target, tls, expected_peer=identity)
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=args.timeout)
    except grpc.RpcError as exc:
        print(f"unhealthy: {kind} {identity} at {target}: {exc.code().name}", file=sys.stderr)
        return 2
    finally:
        channel.close()
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{kind} {identity} at {target}: {status}")
    serving = reply.status == health_pb2.HealthCheckResponse.SERVING
    return 0 if serving or args.live else 1


if __name__ == "__main__":
    sys.exit(main())
