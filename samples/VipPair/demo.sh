#!/usr/bin/env bash
# VipPair demo (run as root): nodes a and b in their own network namespaces on a bridge, a client in a third. The virtual IP
# 10.78.0.100 starts on a with an HTTP service on it; the client polls it every 10 ms. SIGKILL a: b adds the VIP (its
# duplicate-address check sees a's stale copy, from a cluster peer's MAC, and takes it over), announces it by gratuitous ARP,
# and the client reaches b at the same address without flushing its ARP cache. Restart a: its orphan probe finds the stale VIP
# and removes it. Everything is cleaned up. The last line is
#   vip takeover_ms=<n> client_gap_ms=<n> stale_vip_removed=<yes|no>
# and the exit code is non-zero when a step fails. Needs iproute2, iputils-arping and the .NET 10 SDK.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
VIP=10.78.0.100
pids=()
work=$(mktemp -d /tmp/hakit-vippair.XXXXXX)
ns_br=hk-vp-br ns_a=hk-vp-a ns_b=hk-vp-b ns_c=hk-vp-c

cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  for ns in $ns_a $ns_b $ns_c $ns_br; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "demo FAIL: $1"
  for f in a.out a.err b.out b.err c.out a2.out a2.err; do [[ -f $work/$f ]] && { echo "--- last lines of $f"; tail -n 15 "$work/$f" | sed 's/^/  | /'; }; done
  echo "vip takeover_ms=${takeover_ms:--1} client_gap_ms=${gap_ms:--1} stale_vip_removed=${stale:-no}"
  exit 1
}

# Waits up to $2 seconds until file $1 has a line matching $3.
wait_for() {
  local deadline=$((SECONDS + $2))
  until grep -qE "$3" "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

mac_of() { ip -n "$1" -o link show dev eth0 | grep -oE 'link/ether [0-9a-f:]+' | cut -d' ' -f2; }
now_ms() { date +%s%3N; }

((EUID == 0)) || { echo "demo FAIL: run as root (network namespaces, addresses, arping)"; exit 1; }
for c in ip arping dotnet; do command -v "$c" >/dev/null || { echo "demo FAIL: $c not found (apt-get install iproute2 iputils-arping; the .NET 10 SDK)"; exit 1; }; done

echo "building the sample"
dotnet build "$here/VipPair.csproj" -c Release -o "$work/bin" >"$work/build.log" 2>&1 || { tail -n 20 "$work/build.log"; fail "dotnet build"; }

echo "namespaces: $ns_a (10.78.0.1), $ns_b (10.78.0.2), client $ns_c (10.78.0.3) on a bridge in $ns_br"
for ns in $ns_a $ns_b $ns_c $ns_br; do ip netns del "$ns" 2>/dev/null; done
ip netns add $ns_br && ip -n $ns_br link add br0 type bridge && ip -n $ns_br link set br0 up || fail "bridge"
i=1
for n in a b c; do
  ns=hk-vp-$n
  ip netns add "$ns" &&
    ip link add eth0 netns "$ns" type veth peer name "port$n" netns $ns_br &&
    ip -n $ns_br link set dev "port$n" master br0 up &&
    ip -n "$ns" addr add "10.78.0.$i/24" dev eth0 &&
    ip -n "$ns" link set eth0 up && ip -n "$ns" link set lo up || fail "namespace $ns"
  i=$((i + 1))
done

start_node() { # $1 = a|b, $2 = output name: writes $work/$2.out and .err
  (cd "$work/bin" && exec ip netns exec "hk-vp-$1" dotnet VipPair.dll --HaKit:NodeName="$1" --HaKit:StateDirectory="$work/state-$1") >"$work/$2.out" 2>"$work/$2.err" &
  pids+=($!)
  eval "pid_$1=$!"
}

start_node a a
wait_for "$work/a.out" 20 "^active group=web node=a" || fail "node a did not become active"
echo "a owns group web: $(ip -n $ns_a -o -4 addr show dev eth0 | grep -c "$VIP") VIP on a's eth0"

(cd "$work/bin" && exec ip netns exec $ns_c dotnet VipPair.dll --client "http://$VIP:8080/" --seconds 25) >"$work/c.out" 2>"$work/c.err" &
pid_c=$!
pids+=($pid_c)
wait_for "$work/c.out" 15 "^answer node=a" || fail "the client does not reach a on $VIP"
echo "client reaches a on $VIP (neighbour: $(ip -n $ns_c neigh show $VIP))"

start_node b b
wait_for "$work/b.out" 20 "^ready node=b" || fail "node b did not start"
sleep 1.5 # b hears a's heartbeats

mac_b=$(mac_of $ns_b)
t_kill=$(now_ms)
kill -9 "$pid_a"
wait "$pid_a" 2>/dev/null
echo "SIGKILL a at $t_kill"
wait_for "$work/b.out" 15 "^active group=web node=b" || fail "b did not take the group over"
t_active=$(grep -m1 -oE '^active group=web node=b .*unix_ms=[0-9]+' "$work/b.out" | grep -oE '[0-9]+$')
takeover_ms=$((t_active - t_kill))
wait_for "$work/c.out" 10 "^answer node=b" || fail "the client does not reach b on $VIP"
neigh=$(ip -n $ns_c neigh show $VIP)
echo "client reaches b on $VIP without a flush (neighbour: $neigh)"
grep -qi "$mac_b" <<<"$neigh" || fail "the client's neighbour entry for $VIP does not point at b ($mac_b): $neigh"
ip -n $ns_a -o -4 addr show dev eth0 | grep -q "$VIP" || fail "expected a stale $VIP on a after the kill"
echo "a's kernel still holds the stale $VIP; b: $(grep -m1 -oE 'still answered by .*taking it over' "$work/b.err" || echo 'no stale-copy line')"

start_node a a
wait_for "$work/a.out" 20 "^ready node=a" || fail "node a did not restart"
if ! ip -n $ns_a -o -4 addr show dev eth0 | grep -q "$VIP" && grep -q "orphan probe: vip was Running" "$work/a.err"; then
  stale=yes
  echo "restarted a: the orphan probe removed the stale $VIP"
else
  stale=no
  echo "stale VIP not removed: $(ip -n $ns_a -o -4 addr show dev eth0)"; grep -iE "orphan|vip" "$work/a2.err" | tail -n 8
fi

wait "$pid_c"
gap_ms=$(grep -oE 'client gap_ms=[0-9]+' "$work/c.out" | grep -oE '[0-9]+$')
[[ -n $gap_ms ]] || fail "the client reported no gap"
grep -q "last=b" "$work/c.out" || fail "the client's last answer was not from b"
echo "vip takeover_ms=$takeover_ms client_gap_ms=$gap_ms stale_vip_removed=$stale"
[[ $stale == yes ]] || exit 1
