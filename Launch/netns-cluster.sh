#!/usr/bin/env bash
# Runs `rechub` across several "hosts" made on this one machine as Linux network namespaces,
# with MPI traffic over TCP across veth links: a real multi-node launch (hostfile, remote
# daemons started through an agent instead of ssh, TCP transport) without a second machine.
# Needs root and iproute2. Tears everything down on exit, also on failure.
#
#   Launch/netns-cluster.sh train --config Configs/default.yaml --set max_steps=50
#
# Variables:
#   HOSTS           number of hosts (default 2)
#   RANKS_PER_HOST  ranks on each host (default 1)
#   PREFIX          name prefix of namespaces, links and hosts (default rhn)
#   SUBNET          first three octets of the link-local addresses (default 169.254.77)
#   BINARY          the rechub executable (default .build/release/rechub)
# Arguments are passed to rechub on every rank.
set -euo pipefail

cd "$(dirname "$0")/.."
HOSTS="${HOSTS:-2}"
RANKS_PER_HOST="${RANKS_PER_HOST:-1}"
PREFIX="${PREFIX:-rhn}"
SUBNET="${SUBNET:-169.254.77}"
BINARY="$(realpath "${BINARY:-.build/release/rechub}")"
IFACE=mpi0
work="$(mktemp -d)"
bridge_ns="${PREFIX}br"

cleanup() {
  for i in $(seq 0 $((HOSTS - 1))); do
    ip netns del "${PREFIX}h$i" 2>/dev/null || true
    rm -rf "/etc/netns/${PREFIX}h$i"
  done
  ip netns del "$bridge_ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cleanup_before() { for i in $(seq 0 $((HOSTS - 1))); do ip netns del "${PREFIX}h$i" 2>/dev/null || true; done; ip netns del "$bridge_ns" 2>/dev/null || true; }
cleanup_before

# A bridge in its own namespace joins one veth pair per host.
ip netns add "$bridge_ns"
ip -n "$bridge_ns" link add br0 type bridge
ip -n "$bridge_ns" link set br0 up
hosts_file="$work/hosts"
echo "127.0.0.1 localhost" > "$hosts_file"
for i in $(seq 0 $((HOSTS - 1))); do
  echo "$SUBNET.$((i + 1)) ${PREFIX}h$i" >> "$hosts_file"
done
for i in $(seq 0 $((HOSTS - 1))); do
  ns="${PREFIX}h$i"
  ip netns add "$ns"
  ip link add "${PREFIX}v$i" type veth peer name "${PREFIX}p$i"
  ip link set "${PREFIX}v$i" netns "$ns"
  ip link set "${PREFIX}p$i" netns "$bridge_ns"
  ip -n "$ns" link set "${PREFIX}v$i" name "$IFACE"
  ip -n "$ns" addr add "$SUBNET.$((i + 1))/24" dev "$IFACE"
  ip -n "$ns" link set "$IFACE" up
  ip -n "$ns" link set lo up
  ip -n "$bridge_ns" link set "${PREFIX}p$i" master br0
  ip -n "$bridge_ns" link set "${PREFIX}p$i" up
  # Host names resolve inside the namespaces only (ip netns exec bind-mounts /etc/netns/<ns>/hosts).
  mkdir -p "/etc/netns/$ns"
  cp "$hosts_file" "/etc/netns/$ns/hosts"
  echo "${PREFIX}h$i slots=$RANKS_PER_HOST" >> "$work/hostfile"
done

# mpirun's "ssh": run the remote command inside the host's namespace, under its host name.
cat > "$work/agent.sh" <<AGENT
#!/usr/bin/env bash
host="\$1"; shift
while [ "\${host#-}" != "\$host" ]; do host="\$1"; shift; done
exec ip netns exec "\$host" unshare --uts sh -c "hostname \$host; \$*"
AGENT
chmod +x "$work/agent.sh"

mpi_args=(
  -np "$((HOSTS * RANKS_PER_HOST))"
  --hostfile "$work/hostfile"
  --mca plm_rsh_agent "$work/agent.sh"
  --mca btl tcp,self
  --mca btl_tcp_if_include "$IFACE"
  --mca oob_tcp_if_include "$IFACE"
  --bind-to none
  -x OMPI_ALLOW_RUN_AS_ROOT
  -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cmd=$(printf '%q ' mpirun "${mpi_args[@]}" "$BINARY" "$@")
ip netns exec "${PREFIX}h0" unshare --uts sh -c "hostname ${PREFIX}h0; cd $(printf '%q' "$PWD"); $cmd"
