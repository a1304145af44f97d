#!/usr/bin/env bash
# demo.sh shows seesawd failing over: two LB nodes and a client in network
# namespaces on one bridge, a VIP held by the higher-priority node, a client
# pinging it every 10 ms while the master stops gracefully, then comes back
# and preempts. `make demo` runs it inside the VM lab; it also runs on any
# Linux host as root (it only touches namespaces named demo-*).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seesawd=${SEESAWD:-$here/../../bin/seesawd}
[ -x "$seesawd" ] || { echo "demo: build first (make build): $seesawd missing" >&2; exit 1; }
work=$(mktemp -d /tmp/seesaw-demo.XXXX)
vip=192.0.2.100
ns() { ip netns exec "demo-$1" "${@:2}"; }
cleanup() {
	for n in lb1 lb2 client sw; do
		for p in $(ip netns pids "demo-$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
		ip netns del "demo-$n" 2>/dev/null || true
	done
}
trap cleanup EXIT
cleanup
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "topology: lb1 (.1, priority 150) and lb2 (.2, priority 100) and a client (.10) on one bridge; VIP $vip"
ip netns add demo-sw
ns sw ip link add br0 type bridge
ns sw ip link set br0 up
i=1
for n in lb1 lb2 client; do
	ip netns add "demo-$n"
	ip link add eth0 netns "demo-$n" type veth peer name "p-$n" netns demo-sw
	ns sw ip link set "p-$n" master br0 up
	case $n in client) a=10 ;; *) a=$i ;; esac
	ns "$n" ip addr add "192.0.2.$a/24" dev eth0
	ns "$n" ip link set eth0 up
	ns "$n" ip link set lo up
	i=$((i + 1))
done

config() { # config NODE PRIORITY
	cat > "$work/$1.yaml" <<YAML
node: { name: $1 }
log: { level: info, format: json }
vrrp:
  - name: front
    interface: eth0
    vrid: 51
    priority: $2
    advert_interval: 100ms
    virtual_ips: [$vip/24]
YAML
}
config lb1 150
config lb2 100
start() { # ip netns exec execs the daemon, so $! is seesawd itself
	ip netns exec "demo-$1" "$seesawd" --config "$work/$1.yaml" >>"$work/$1.log" 2>&1 &
	echo $! > "$work/$1.pid"
}
holder() {
	for n in lb1 lb2; do ns "$n" ip -br addr show dev eth0 | grep -q "$vip/" && echo -n "$n "; done
	echo
}
mac() { ns "$1" cat /sys/class/net/eth0/address; }

say "starting seesawd on lb1 and lb2"
start lb1
start lb2
sleep 2
echo "VIP held by: $(holder)"

say "client pings the VIP every 10 ms; lb1 (master) gets SIGTERM"
# Bounded: ping stops by itself after 7 s.
ip netns exec demo-client ping -n -D -i 0.01 -W 1 -w 7 "$vip" > "$work/ping.txt" 2>&1 &
pinger=$!
sleep 1
kill -TERM "$(cat "$work/lb1.pid")"
sleep 1.5
echo "VIP held by: $(holder)"
echo "client's neighbour entry for the VIP: $(ns client ip neigh show "$vip" | awk '{print $5}') (lb1 $(mac lb1), lb2 $(mac lb2))"

say "lb1 comes back and preempts (priority 150 > 100)"
start lb1
sleep 2
echo "VIP held by: $(holder)"
echo "client's neighbour entry for the VIP: $(ns client ip neigh show "$vip" | awk '{print $5}') (lb1 $(mac lb1))"
wait "$pinger" 2>/dev/null || true

say "what the client saw"
awk -F'[][]' '/bytes from/ { t = $2 + 0; if (prev && t - prev > gap) gap = t - prev; prev = t; n++ }
	END { printf "  %d replies, longest silence %.0f ms across the failover and the preemption\n", n, gap * 1000 }' "$work/ping.txt"
tail -2 "$work/ping.txt" | sed 's/^/  /'

say "every VRRP transition the daemons logged"
grep -h '"vrrp transition"' "$work"/lb*.log | sort |
	sed -E 's/.*"ts":"[0-9-]*T([^"]*)".*"node":"([^"]*)".*"from":"([^"]*)","to":"([^"]*)","reason":"([^"]*)".*/  \1 \2: \3 -> \4 (\5)/'

say "stopping both nodes gracefully"
for n in lb1 lb2; do kill -TERM "$(cat "$work/$n.pid")" 2>/dev/null || true; done
sleep 0.5
echo "VIP held by: $(holder)(nobody, as expected)"
echo
echo "IPVS programming by the daemon arrives with the engine; the VM lab's IPVS is shown by make test (pkg/ipvs)."
