#!/bin/sh
# Creates the files of a small development network for compose.yaml: a CA, certificates,
# keys, the signed directory and a config per process, in OUT (default ./network):
#
#   OUT/admin/                  CA key, directory signing key, directory.toml: keep offline
#   OUT/coordinator/            mounted at /etc/samenloop in the coordinator container
#   OUT/zvh-fryslan/            mounted at /etc/samenloop in its node container
#   OUT/zvh-noord-limburg/      likewise
#
# Needs the `samenloop` command (the project installed, or SAMENLOOP="docker run --rm ...").
# Afterwards give the files to the containers' user: sudo chown -R 10001:10001 OUT
set -eu

OUT=${1:-network}
SAMENLOOP=${SAMENLOOP:-samenloop}
NODES="zvh-fryslan zvh-noord-limburg"

if [ -e "$OUT" ]; then
    echo "$OUT exists; refusing to overwrite a network" >&2
    exit 1
fi
umask 077
mkdir -p "$OUT/admin" "$OUT/coordinator/pki" "$OUT/coordinator/keys"

$SAMENLOOP pki init --dir "$OUT/admin" --network samenloop-compose >/dev/null
ADMIN_PUB=$($SAMENLOOP directory keygen --out "$OUT/admin/directory-admin.key")
OPRF_PUB=$($SAMENLOOP coordinator keygen --out "$OUT/coordinator/keys/oprf-epoch-1.key")
$SAMENLOOP pki issue --dir "$OUT/admin" --coordinator --host coordinator >/dev/null
mv "$OUT/admin/coordinator.key" "$OUT/admin/coordinator.crt" "$OUT/coordinator/pki/"
cp "$OUT/admin/ca.crt" "$OUT/coordinator/pki/"

cat > "$OUT/admin/directory.toml" <<TOML
network = "samenloop-compose"
serial = 1
current_epoch = 1

[[oprf_keys]]
epoch = 1
public_key = "$OPRF_PUB"
TOML

for node in $NODES; do
    mkdir -p "$OUT/$node/pki" "$OUT/$node/keys" "$OUT/$node/export"
    BOX_PUB=$($SAMENLOOP node keygen --out "$OUT/$node/keys/$node.box")
    $SAMENLOOP pki issue --dir "$OUT/admin" --node "$node" --host "$node" >/dev/null
    mv "$OUT/admin/$node.key" "$OUT/admin/$node.crt" "$OUT/$node/pki/"
    cp "$OUT/admin/ca.crt" "$OUT/$node/pki/"
    cat >> "$OUT/admin/directory.toml" <<TOML

[[nodes]]
node_id = "$node"
display_name = "$node (compose)"
endpoint = "$node:7101"
box_public_key = "$BOX_PUB"
TOML
    cat > "$OUT/$node/node.toml" <<TOML
# $node in compose.yaml (options: deploy/examples/node.toml).
metrics_listen = "0.0.0.0:9710"
node_id = "$node"
listen = "0.0.0.0:7101"
coordinator = "coordinator:7000"
data_dir = "/var/lib/samenloop"
directory_public_key = "$ADMIN_PUB"

[tls]
ca = "pki/ca.crt"
cert = "pki/$node.crt"
key = "pki/$node.key"

[keys]
box_secret_key = "keys/$node.box"

[[procesregisseurs]]
id = "pr-1"
name = "Procesregisseur $node"
phone = "010 000 0000"
email = "procesregisseur@$node.example"
TOML
done

$SAMENLOOP directory sign --spec "$OUT/admin/directory.toml" \
    --key "$OUT/admin/directory-admin.key" --out "$OUT/coordinator/directory.pb" >/dev/null

cat > "$OUT/coordinator/coordinator.toml" <<TOML
# The coordinator in compose.yaml (options: deploy/examples/coordinator.toml).
metrics_listen = "0.0.0.0:9700"
listen = "0.0.0.0:7000"
data_dir = "/var/lib/samenloop"
directory = "directory.pb"
directory_public_key = "$ADMIN_PUB"
deadline_seconds = 2.0

[tls]
ca = "pki/ca.crt"
cert = "pki/coordinator.crt"
key = "pki/coordinator.key"

[[oprf_keys]]
epoch = 1
key = "keys/oprf-epoch-1.key"
TOML

# Configs, certificates and folders readable by the containers' user; keys stay 0600.
find "$OUT" -type d -exec chmod 0755 {} +
find "$OUT" -name '*.toml' -exec chmod 0644 {} +
find "$OUT" -name '*.crt' -exec chmod 0644 {} +
chmod 0644 "$OUT/coordinator/directory.pb"
chmod 0700 "$OUT/admin"
echo "created $OUT: run  sudo chown -R 10001:10001 $OUT/coordinator $OUT/zvh-*  then  docker compose up -d"
