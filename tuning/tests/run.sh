#!/usr/bin/env bash
# tuning/tests/run.sh — tests for the scripts in tuning/, runnable anywhere (no root needed
# for most checks; the ownership checks run when root).
#
#   rotate-ticket-keys.sh  on temporary files: creation, three rotations (line count, lines
#                          shift by one, new key unique), sizes, refusals that leave the file
#                          untouched, --install, symlinks, mode/group kept, concurrent runs.
#   nic-affinity.sh        in --dry-run against fake /sys and /proc trees (a two-node host
#                          with an 8-queue mlx5-like NIC on node 1 and a 2-queue ixgbe-like NIC
#                          on node 0, CPUs above 31 to exercise multi-word masks), checking
#                          the exact plan and that nothing in the tree was modified.
#                          --apply is never run by these tests.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
ROT=$HERE/rotate-ticket-keys.sh
NIC=$HERE/nic-affinity.sh
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tuning-tests.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

PASS=0
FAIL=0
ok() {
    PASS=$((PASS + 1))
    echo "ok   $*"
}
bad() {
    FAIL=$((FAIL + 1))
    echo "FAIL $*"
}
check() { # check "description" command...
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
has() { grep -qF -- "$2" <<<"$1"; }
names() { while IFS= read -r l; do printf '%s' "$l" | base64 -d | head -c 16 | od -An -tx1 | tr -d ' \n'; echo; done <"$1"; }

# ------------------------------------------------------------------------ rotate-ticket-keys

F=$WORK/keys/ticket-keys
mkdir -p "$WORK/keys"
check "rotate refuses a missing file without --create" bash -c "! '$ROT' -q '$F' 2>/dev/null"
"$ROT" -q --create --group "$(id -gn)" "$F"
check "created with 3 lines" test "$(wc -l <"$F")" -eq 3
check "created mode 0640" test "$(stat -c %a "$F")" = 640
check "created keys are 80 bytes" bash -c "'$ROT' --check '$F' | grep -q '3 key(s) of 80 bytes'"
cp "$F" "$WORK/gen0"
for r in 1 2 3; do
    ino_before=$(stat -c %i "$F")
    "$ROT" -q "$F"
    cp "$F" "$WORK/gen$r"
    p=$((r - 1))
    check "rotation $r keeps 3 lines" test "$(wc -l <"$F")" -eq 3
    check "rotation $r: old lines 2,3 are new lines 1,2" \
        test "$(sed -n 2,3p "$WORK/gen$p")" = "$(sed -n 1,2p "$F")"
    check "rotation $r: new line 3 was not in the file before" \
        bash -c "! grep -qxF -- \"\$(sed -n 3p '$F')\" '$WORK/gen$p'"
    check "rotation $r replaced the file by rename (new inode)" test "$(stat -c %i "$F")" != "$ino_before"
done
check "after 3 rotations no line of the first file is left" \
    bash -c "! grep -qxFf '$WORK/gen0' '$F'"
check "no temporary files left behind" test "$(find "$WORK/keys" -name '.ticket-keys.*' | wc -l)" -eq 0
out=$("$ROT" --check "$F")
check "--check names the encrypting key (line 2)" has "$out" "line 2: $(names "$F" | sed -n 2p)  encrypts"

# 48-byte keys stay 48; comments, blank lines and CRLF are accepted and dropped.
F48=$WORK/keys/k48
{
    echo "# a comment"
    openssl rand 48 | openssl base64 -A
    printf '\r\n\n'
    openssl rand 48 | openssl base64 -A
    echo
} >"$F48"
"$ROT" -q "$F48"
check "48-byte file: 3 lines after rotation" test "$(wc -l <"$F48")" -eq 3
check "48-byte file: still 48-byte keys" bash -c "'$ROT' --check '$F48' | grep -q '3 key(s) of 48 bytes'"
check "48-byte file: comments dropped" bash -c "! grep -q '#' '$F48'"
check "--size 80 on a 48-byte file is refused" bash -c "! '$ROT' -q --size 80 '$F48' 2>/dev/null"

# Refusals leave the file byte-for-byte as it was.
refuse() { # refuse "description" CONTENT-GENERATOR
    local what=$1 gen=$2 f=$WORK/keys/bad sum
    eval "$gen" >"$f"
    sum=$(sha256sum <"$f")
    if "$ROT" -q "$f" 2>"$WORK/err"; then
        bad "$what: accepted"
    elif [[ $(sha256sum <"$f") != "$sum" ]]; then
        bad "$what: file changed"
    elif grep -qE '[A-Za-z0-9+/]{40,}' "$WORK/err"; then
        bad "$what: error message contains key material"
    else
        ok "$what: refused ($(head -c 70 "$WORK/err")), file unchanged"
    fi
}
refuse "invalid base64" "echo 'not*base64'"
refuse "wrong length" "openssl rand 32 | openssl base64 -A; echo"
refuse "mixed 48/80" "openssl rand 48 | openssl base64 -A; echo; openssl rand 80 | openssl base64 -A; echo"
refuse "duplicate key name" "k=\$(openssl rand 80 | openssl base64 -A); echo \$k; echo \$k"
refuse "no keys" "echo '# only a comment'"

# --keep 2 shrinks a 3-line file to 2.
cp "$F" "$WORK/keys/k2"
"$ROT" -q --keep 2 "$WORK/keys/k2"
check "--keep 2: 2 lines" test "$(wc -l <"$WORK/keys/k2")" -eq 2
check "--keep 2: old line 3 is now line 1" test "$(sed -n 3p "$F")" = "$(sed -n 1p "$WORK/keys/k2")"

# --install validates, then replaces atomically; an invalid source changes nothing.
cp "$WORK/gen0" "$WORK/master"
"$ROT" -q --install "$WORK/master" "$F"
check "--install copies the source's keys" cmp -s "$WORK/master" "$F"
echo garbage >"$WORK/badmaster"
check "--install refuses an invalid source" bash -c "! '$ROT' -q --install '$WORK/badmaster' '$F' 2>/dev/null"
check "--install of an invalid source leaves the file" cmp -s "$WORK/master" "$F"

# A symlinked FILE: the target is replaced, the link stays a link.
ln -s ticket-keys "$WORK/keys/link"
"$ROT" -q "$WORK/keys/link"
check "symlink stays a symlink" test -L "$WORK/keys/link"
check "symlink target rotated" test "$(sed -n 2,3p "$WORK/master")" = "$(sed -n 1,2p "$F")"

# Mode and group of an existing file are kept.
chmod 0604 "$F"
"$ROT" -q "$F"
check "mode of an existing file kept" test "$(stat -c %a "$F")" = 604
if [[ $EUID -eq 0 ]] && getent group daemon >/dev/null; then
    chgrp daemon "$F"
    "$ROT" -q "$F"
    check "group of an existing file kept" test "$(stat -c %G "$F")" = daemon
fi

# Concurrent rotations are serialised: the result is a valid 3-line file.
for _ in 1 2 3 4 5; do "$ROT" -q "$F" & done
wait
check "5 concurrent rotations leave a valid 3-line file" \
    bash -c "'$ROT' --check '$F' | grep -q '3 key(s) of 80 bytes'"

# ----------------------------------------------------------------------------- nic-affinity

R=$WORK/root
mk() { mkdir -p "$(dirname "$1")" && printf '%s\n' "$2" >"$1"; }
mk "$R/sys/devices/system/cpu/online" "0-7,32-39"
mk "$R/sys/devices/system/node/node0/cpulist" "0-3,32-35"
mk "$R/sys/devices/system/node/node1/cpulist" "4-7,36-39"
# NIC A: mlx5-like, 8 combined queues, NUMA node 1, MSI-X vectors 100-108.
PA=$R/sys/devices/pci0000:3a/0000:3b:00.0
mk "$PA/numa_node" 1
mk "$PA/local_cpulist" "4-7,36-39"
mkdir -p "$PA/msi_irqs" "$PA/net/ens1f0" "$R/sys/class/net"
ln -s ../../devices/pci0000:3a/0000:3b:00.0/net/ens1f0 "$R/sys/class/net/ens1f0"
ln -s ../../../0000:3b:00.0 "$PA/net/ens1f0/device"
mkdir -p "$R/proc"
{
    echo "           CPU0       CPU1"
    echo " 100:  1  0  IR-PCI-MSIX-0000:3b:00.0    0-edge      mlx5_async0@pci:0000:3b:00.0"
    for q in 0 1 2 3 4 5 6 7; do
        echo " $((101 + q)):  1  0  IR-PCI-MSIX-0000:3b:00.0    $((q + 1))-edge      mlx5_comp$q@pci:0000:3b:00.0"
    done
    echo " 200:  1  0  IR-PCI-MSIX-0000:18:00.0    0-edge      eth1"
    echo " 201:  1  0  IR-PCI-MSIX-0000:18:00.0    1-edge      eth1-TxRx-0"
    echo " 202:  1  0  IR-PCI-MSIX-0000:18:00.0    2-edge      eth1-TxRx-1"
    echo " 300:  1  0  IR-PCI-MSIX-0000:99:00.0    0-edge      nvme0q1"
    echo "NMI:   0  0  Non-maskable interrupts"
} >"$R/proc/interrupts"
for irq in 100 101 102 103 104 105 106 107 108 200 201 202 300; do
    mk "$R/proc/irq/$irq/smp_affinity_list" "0-7,32-39"
done
for irq in 100 101 102 103 104 105 106 107 108; do touch "$PA/msi_irqs/$irq"; done
for q in 0 1 2 3 4 5 6 7; do
    mk "$PA/net/ens1f0/queues/rx-$q/rps_cpus" "00,00000000"
    mk "$PA/net/ens1f0/queues/tx-$q/xps_cpus" "00,00000000"
done
# NIC B: ixgbe-like, 2 queues, node 0, no msi_irqs directory (found by name).
PB=$R/sys/devices/pci0000:17/0000:18:00.0
mk "$PB/numa_node" 0
mkdir -p "$PB/net/eth1"
ln -s ../../devices/pci0000:17/0000:18:00.0/net/eth1 "$R/sys/class/net/eth1"
ln -s ../../../0000:18:00.0 "$PB/net/eth1/device"
for q in 0 1; do
    mk "$PB/net/eth1/queues/rx-$q/rps_cpus" "00,00000000"
    mk "$PB/net/eth1/queues/tx-$q/xps_cpus" "00,00000000"
done
# A running irqbalance.
mk "$R/proc/4242/comm" irqbalance

before=$(find "$R" -type f -exec sha256sum {} + | sort)
outA=$("$NIC" --root "$R" -i ens1f0)
check "A: NUMA node 1" has "$outA" "NUMA node:    1"
check "A: uses node 1's CPUs" has "$outA" "using CPUs:   4-7,36-39"
check "A: finds 9 IRQs, 8 queue + 1 other" has "$outA" "IRQs of ens1f0: 9 (8 queue, 1 other)"
check "A: comp0 -> CPU 4" bash -c "grep -q 'irq 101 mlx5_comp0@pci:0000:3b:00.0 *0-7,32-39 -> 4 ' <<<\"\$1\"" _ "$outA"
check "A: comp4 -> CPU 36" bash -c "grep -q 'irq 105 mlx5_comp4@pci:0000:3b:00.0 *0-7,32-39 -> 36 ' <<<\"\$1\"" _ "$outA"
check "A: comp7 -> CPU 39" bash -c "grep -q 'irq 108 mlx5_comp7@pci:0000:3b:00.0 *0-7,32-39 -> 39 ' <<<\"\$1\"" _ "$outA"
check "A: async vector -> first CPU" bash -c "grep -q 'irq 100 mlx5_async0@pci:0000:3b:00.0 *0-7,32-39 -> 4 ' <<<\"\$1\"" _ "$outA"
check "A: nvme IRQ not included" bash -c "! grep -q 'nvme' <<<\"\$1\"" _ "$outA"
check "A: RPS off with a queue per CPU" has "$outA" "RPS: off (0)"
check "A: rx-0 RPS already 0" bash -c "grep -q 'rx-0 rps_cpus *00,00000000 (already)' <<<\"\$1\"" _ "$outA"
check "A: tx-0 XPS = CPU 4" bash -c "grep -q 'tx-0 xps_cpus *00,00000000 -> 10 ' <<<\"\$1\"" _ "$outA"
check "A: tx-4 XPS = CPU 36 (second word)" bash -c "grep -q 'tx-4 xps_cpus *00,00000000 -> 10,00000000 ' <<<\"\$1\"" _ "$outA"
check "A: tlsterm line" has "$outA" "cpus = [4, 5, 6, 7, 36, 37, 38, 39]"
check "A: auto:1 equivalent" has "$outA" 'cpus = "auto:1"'
check "A: irqbalance warning" has "$outA" "irqbalance is running (pid 4242)"
check "A: says dry run" has "$outA" "Dry run: nothing was changed"

outB=$("$NIC" --root "$R" -i eth1)
check "B: node 0 CPUs" has "$outB" "using CPUs:   0-3,32-35"
check "B: no msi_irqs noted" has "$outB" "no msi_irqs directory"
check "B: 3 IRQs found by name" has "$outB" "IRQs of eth1: 3 (3 queue, 0 other)"
check "B: TxRx-1 -> CPU 1" bash -c "grep -q 'irq 202 eth1-TxRx-1 *0-7,32-39 -> 1 ' <<<\"\$1\"" _ "$outB"
check "B: RPS over node 0 (2 queues < 8 CPUs)" bash -c "grep -q 'rx-1 rps_cpus *00,00000000 -> f,0000000f ' <<<\"\$1\"" _ "$outB"
check "B: XPS tx-0 = CPUs 0,2,32,34" bash -c "grep -q 'tx-0 xps_cpus *00,00000000 -> 5,00000005 ' <<<\"\$1\"" _ "$outB"
check "B: XPS tx-1 = CPUs 1,3,33,35" bash -c "grep -q 'tx-1 xps_cpus *00,00000000 -> a,0000000a ' <<<\"\$1\"" _ "$outB"
check "B: ethtool hint" has "$outB" "ethtool -L eth1 combined 8"
check "B: auto:0 equivalent" has "$outB" 'cpus = "auto:0"'

outC=$("$NIC" --root "$R" -i eth1 --cpus 4-5)
check "--cpus off-node is noted" has "$outC" "CPU 4 is not on the NIC's node"
check "--cpus gives the tlsterm line" has "$outC" "cpus = [4, 5]"
check "--cpus with an offline CPU is refused (exit 2)" bash -c "'$NIC' --root '$R' -i eth1 --cpus 8 >/dev/null 2>&1; test \$? -eq 2"
check "unknown interface is refused (exit 2)" bash -c "'$NIC' --root '$R' -i nope >/dev/null 2>&1; test \$? -eq 2"

mk "$PB/numa_node" -1
outD=$("$NIC" --root "$R" -i eth1)
check "numa_node -1: all online CPUs" has "$outD" "all online CPUs: 0-7,32-39"
check "numa_node -1: auto hint" has "$outD" 'cpus = "auto" picks'
mk "$PB/numa_node" 0

after=$(find "$R" -type f -exec sha256sum {} + | sort)
check "dry runs modified nothing in the fake tree" test "$before" = "$after"

echo
echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
