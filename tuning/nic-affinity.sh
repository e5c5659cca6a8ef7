#!/usr/bin/env bash
# nic-affinity.sh — line up a NIC's interrupts, RPS and XPS with tlsterm's shards.
#
# Reads (never writes, unless --apply):
#   /sys/class/net/IF/device  → the NIC's PCI device, its numa_node, local_cpulist, msi_irqs
#   /sys/devices/system/node/nodeN/cpulist, /sys/devices/system/cpu/online
#   /proc/interrupts, /proc/irq/N/smp_affinity_list
#   /sys/class/net/IF/queues/{rx,tx}-*/{rps,xps}_cpus
# Prints the NIC's NUMA node and its CPUs, the plan, and the `[shards] cpus` line for tlsterm
# (the same CPUs). With --apply (root) it writes:
#   /proc/irq/N/smp_affinity_list   queue IRQs round-robin over the CPUs, other IRQs of the
#                                   device (config, misc, async...) on the first CPU
#   queues/rx-Q/rps_cpus            0 when the NIC has at least as many RX queues as CPUs
#                                   (RSS already spreads flows; RPS would only add IPIs),
#                                   else all the CPUs (same NUMA node as the interrupt)
#   queues/tx-Q/xps_cpus            each CPU sends on one TX queue: CPU j → queue j mod ntx
#
# Does not: change queue counts or the RSS table (it prints the ethtool commands), stop
# irqbalance (it warns), touch the network, or persist anything across reboots or driver
# reloads (run it from a boot-time unit: see tuning/README.md). See tuning/README.md.
set -euo pipefail

PROG=${0##*/}

usage() {
    cat <<EOF
Usage: $PROG -i IFACE [--dry-run | --apply] [--cpus LIST] [--root DIR]

Shows the NUMA node of IFACE's NIC, the CPUs of that node, the NIC's IRQs and RX/TX
queues, and the IRQ affinity / RPS / XPS settings that put all of it on those CPUs, and
prints the [shards] cpus line for tlsterm.

  -i, --interface IFACE  network interface, e.g. eth0 (see: ip -o link)
  -n, --dry-run          print the plan, change nothing (default)
      --apply            write the plan to /proc/irq and /sys (root only)
      --cpus LIST        use these CPUs ("0-7,16-23") instead of the NIC's NUMA node
      --root DIR         read /sys and /proc below DIR (testing with a fake tree)
  -h, --help             this text

Exit status: 0 done (or nothing to do), 1 some writes failed, 2 usage or missing data.
EOF
}

die() {
    echo "$PROG: error: $*" >&2
    exit 2
}
note() { echo "  note: $*"; }

# --- arguments -------------------------------------------------------------------------------

IFACE=""
APPLY=0
CPUS_ARG=""
ROOT=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        -i | --interface)
            [[ $# -ge 2 ]] || die "$1 needs an interface name"
            IFACE=$2
            shift 2
            ;;
        --interface=*)
            IFACE=${1#*=}
            shift
            ;;
        -n | --dry-run)
            APPLY=0
            shift
            ;;
        --apply)
            APPLY=1
            shift
            ;;
        --cpus)
            [[ $# -ge 2 ]] || die "--cpus needs a CPU list"
            CPUS_ARG=$2
            shift 2
            ;;
        --cpus=*)
            CPUS_ARG=${1#*=}
            shift
            ;;
        --root)
            [[ $# -ge 2 ]] || die "--root needs a directory"
            ROOT=${2%/}
            shift 2
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown argument '$1' (try --help)" ;;
    esac
done

SYS=$ROOT/sys
PROC=$ROOT/proc

interfaces() {
    local f out=""
    for f in "$SYS"/class/net/*; do
        [[ -e $f ]] && out+="${f##*/} "
    done
    echo "${out:-none}"
}

if [[ -z $IFACE ]]; then
    usage >&2
    echo >&2
    die "no interface given; interfaces here: $(interfaces)"
fi
NETDIR=$SYS/class/net/$IFACE
[[ -e $NETDIR ]] || die "no interface '$IFACE' in $SYS/class/net (have: $(interfaces))"
if [[ $APPLY -eq 1 && -z $ROOT && $EUID -ne 0 ]]; then
    die "--apply writes /proc/irq and /sys: run it as root (or use --dry-run)"
fi

# --- helpers -----------------------------------------------------------------------------------

# Kernel CPU list ("0-3,8,10-11") → one CPU per line, ascending, unique.
expand_cpus() {
    local list=$1 item a b
    list=${list//[[:space:]]/}
    [[ -z $list ]] && return 0
    IFS=, read -r -a items <<<"$list"
    for item in "${items[@]}"; do
        if [[ $item =~ ^([0-9]+)-([0-9]+)$ ]]; then
            a=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]}
            ((a <= b)) || die "CPU range '$item' runs backwards"
            seq "$a" "$b"
        elif [[ $item =~ ^[0-9]+$ ]]; then
            echo "$item"
        else
            die "'$item' is not a CPU number or range (in '$1')"
        fi
    done | sort -n -u
}

# CPUs (arguments) → compact list "0-3,8".
compact_cpus() {
    local out="" start="" prev="" c
    for c in "$@"; do
        if [[ -z $start ]]; then
            start=$c prev=$c
        elif ((c == prev + 1)); then
            prev=$c
        else
            out+="${out:+,}$start$([[ $start != "$prev" ]] && echo "-$prev")"
            start=$c prev=$c
        fi
    done
    [[ -n $start ]] && out+="${out:+,}$start$([[ $start != "$prev" ]] && echo "-$prev")"
    echo "$out"
}

# CPUs (arguments) → hex mask as the kernel writes it: 32-bit words, comma-separated,
# most significant first ("1,00000003" = CPUs 0, 1 and 32). No CPUs → "0".
cpus_to_mask() {
    local -a words=()
    local c w top=0 out=""
    for c in "$@"; do
        w=$((c / 32))
        words[w]=$((${words[w]:-0} | (1 << (c % 32))))
        ((w > top)) && top=$w
    done
    [[ $# -eq 0 ]] && {
        echo 0
        return
    }
    for ((w = top; w >= 0; w--)); do
        if ((w == top)); then
            out+=$(printf '%x' "${words[w]:-0}")
        else
            out+=$(printf ',%08x' "${words[w]:-0}")
        fi
    done
    echo "$out"
}

# Masks compare equal regardless of commas and leading zeros.
norm_mask() {
    local m=${1//,/}
    while [[ $m == 0* ]]; do m=${m#0}; done
    echo "${m:-0}"
}

# Reads a one-line file; prints "" and returns 1 when missing or unreadable.
read1() {
    local v
    if v=$(cat "$1" 2>/dev/null); then
        echo "$v"
    else
        return 1
    fi
}

FAILED=0
# Writes (or, in dry-run, shows) VALUE to FILE unless it already holds it.
put() {
    local file=$1 value=$2 current=$3 label=$4
    if [[ $current == "$value" ]]; then
        printf '    %-34s %s (already)\n' "$label" "$value"
        return
    fi
    if [[ $APPLY -eq 0 ]]; then
        printf '    %-34s %s -> %s   (would write %s)\n' "$label" "${current:-?}" "$value" "$file"
        return
    fi
    if printf '%s\n' "$value" >"$file" 2>/dev/null; then
        printf '    %-34s %s -> %s   (written)\n' "$label" "${current:-?}" "$value"
    else
        printf '    %-34s %s -> %s   FAILED to write %s\n' "$label" "${current:-?}" "$value" "$file"
        FAILED=$((FAILED + 1))
    fi
}

# --- the NIC's device and NUMA node ----------------------------------------------------------

echo "Interface $IFACE"
DEV=""
if [[ -e $NETDIR/device ]]; then
    DEV=$(readlink -f "$NETDIR/device")
    echo "  device:       $DEV"
else
    echo "  device:       none (a virtual interface: loopback, bridge, bond, veth, ifb...)"
    note "no hardware device: no NUMA node, no IRQs; set up the physical NIC(s) underneath instead"
fi

# The numa_node and msi_irqs live on the PCI function; virtio and some other drivers put an
# intermediate device in between, so walk up until a numa_node file appears.
PCIDEV=""
if [[ -n $DEV ]]; then
    d=$DEV
    for _ in 1 2 3 4; do
        if [[ -r $d/numa_node ]]; then
            PCIDEV=$d
            break
        fi
        d=$(dirname "$d")
        [[ $d == "$SYS/devices" || $d == / ]] && break
    done
fi

NODE=-1
if [[ -n $PCIDEV ]]; then
    [[ $PCIDEV != "$DEV" ]] && echo "  bus device:   $PCIDEV"
    NODE=$(read1 "$PCIDEV/numa_node" || echo -1)
    LOCAL=$(read1 "$PCIDEV/local_cpulist" || echo "")
    [[ -n $LOCAL ]] && echo "  local CPUs:   $LOCAL (the device's local_cpulist)"
elif [[ -n $DEV ]]; then
    note "no numa_node file found at or above $DEV"
fi

ONLINE_LIST=$(read1 "$SYS/devices/system/cpu/online" || true)
[[ -n $ONLINE_LIST ]] || die "cannot read $SYS/devices/system/cpu/online"
mapfile -t ONLINE < <(expand_cpus "$ONLINE_LIST")

NODE_CPUS=()
if [[ $NODE =~ ^[0-9]+$ ]]; then
    echo "  NUMA node:    $NODE"
    NODELIST=$(read1 "$SYS/devices/system/node/node$NODE/cpulist" || true)
    if [[ -n $NODELIST ]]; then
        mapfile -t NODE_CPUS < <(comm -12 <(expand_cpus "$NODELIST" | sort) <(printf '%s\n' "${ONLINE[@]}" | sort) | sort -n)
        echo "  node CPUs:    $NODELIST (online: $(compact_cpus "${NODE_CPUS[@]}"))"
    else
        note "cannot read $SYS/devices/system/node/node$NODE/cpulist; using all online CPUs"
    fi
else
    echo "  NUMA node:    none (numa_node = ${NODE}: one node, or the firmware does not say)"
fi
if [[ ${#NODE_CPUS[@]} -eq 0 ]]; then
    NODE_CPUS=("${ONLINE[@]}")
    echo "  CPUs:         all online CPUs: $ONLINE_LIST"
fi

if [[ -n $CPUS_ARG ]]; then
    mapfile -t CPUS < <(expand_cpus "$CPUS_ARG")
    [[ ${#CPUS[@]} -gt 0 ]] || die "--cpus '$CPUS_ARG' is empty"
    for c in "${CPUS[@]}"; do
        printf '%s\n' "${ONLINE[@]}" | grep -qx "$c" || die "CPU $c (from --cpus) is not online (online: $ONLINE_LIST)"
        printf '%s\n' "${NODE_CPUS[@]}" | grep -qx "$c" || note "CPU $c is not on the NIC's node: its packets cross the interconnect"
    done
    echo "  using CPUs:   $(compact_cpus "${CPUS[@]}") (from --cpus)"
else
    CPUS=("${NODE_CPUS[@]}")
    echo "  using CPUs:   $(compact_cpus "${CPUS[@]}")"
fi
NCPU=${#CPUS[@]}

# --- IRQs ------------------------------------------------------------------------------------

# Names from /proc/interrupts: IRQ number → last field (the handler's name).
declare -A IRQNAME=()
if [[ -r $PROC/interrupts ]]; then
    while read -r first rest; do
        [[ $first =~ ^([0-9]+):$ ]] || continue
        IRQNAME[${BASH_REMATCH[1]}]=${rest##* }
    done <"$PROC/interrupts"
else
    note "cannot read $PROC/interrupts"
fi

declare -A SEEN=()
IRQS=()
add_irq() {
    [[ -n ${SEEN[$1]:-} ]] && return
    SEEN[$1]=1
    IRQS+=("$1")
}
# 1. The PCI function's MSI/MSI-X vectors: authoritative when present.
if [[ -n $PCIDEV && -d $PCIDEV/msi_irqs ]]; then
    for f in "$PCIDEV"/msi_irqs/*; do
        [[ -e $f ]] && add_irq "${f##*/}"
    done
elif [[ -n $DEV ]]; then
    note "no msi_irqs directory for the device (legacy INTx or not PCI); matching by name only"
fi
# 2. Names in /proc/interrupts that carry the interface name, the PCI address, or the virtio
#    device name (virtioN-input.0), as drivers name their vectors.
PATTERNS=("^${IFACE}([-_@:.]|$)")
[[ -n $PCIDEV ]] && PATTERNS+=("${PCIDEV##*/}")
[[ -n $DEV && ${DEV##*/} =~ ^virtio[0-9]+$ ]] && PATTERNS+=("^${DEV##*/}-")
if [[ -n $DEV ]]; then
    for irq in "${!IRQNAME[@]}"; do
        for p in "${PATTERNS[@]}"; do
            if [[ ${IRQNAME[$irq]} =~ $p ]]; then
                add_irq "$irq"
                break
            fi
        done
    done
fi
mapfile -t IRQS < <(printf '%s\n' "${IRQS[@]}" | sed '/^$/d' | sort -n)

# Queue vectors are spread; the device's other vectors (configuration, mailbox, async
# events) carry little traffic and go to the first CPU.
QUEUE_IRQS=()
OTHER_IRQS=()
for irq in "${IRQS[@]}"; do
    name=${IRQNAME[$irq]:-}
    if [[ ${name,,} =~ (config|misc|async|ctrl|event|fdir|lsc|mbx|other|err) ]]; then
        OTHER_IRQS+=("$irq")
    else
        QUEUE_IRQS+=("$irq")
    fi
done

# The queue number in a vector's name: virtio2-input.3, eth0-TxRx-3, i40e-eth0-rx-3,
# mlx5_comp3@pci:0000:3b:00.0 → 3. None → "".
queue_index() {
    local name=${1%%@*}
    if [[ $name =~ [^0-9]([0-9]+)$ ]]; then
        echo $((10#${BASH_REMATCH[1]}))
    fi
}

echo
echo "IRQs of $IFACE: ${#IRQS[@]} (${#QUEUE_IRQS[@]} queue, ${#OTHER_IRQS[@]} other)"
if [[ ${#IRQS[@]} -eq 0 ]]; then
    note "none found: nothing to pin"
else
    echo "  queue N's vectors (RX and TX alike) go to CPU number N mod $NCPU of the list;"
    echo "  vectors without a queue number round-robin; other vectors go to CPU ${CPUS[0]}"
fi
k=0
for irq in "${QUEUE_IRQS[@]}" "${OTHER_IRQS[@]}"; do
    [[ -z $irq ]] && continue
    name=${IRQNAME[$irq]:-}
    if printf '%s\n' "${QUEUE_IRQS[@]}" | grep -qx "$irq"; then
        idx=$(queue_index "$name")
        if [[ -n $idx ]]; then
            cpu=${CPUS[idx % NCPU]}
        else
            cpu=${CPUS[k % NCPU]}
            k=$((k + 1))
        fi
    else
        cpu=${CPUS[0]}
    fi
    cur=$(read1 "$PROC/irq/$irq/smp_affinity_list" || echo "")
    eff=$(read1 "$PROC/irq/$irq/effective_affinity_list" || echo "")
    label="irq $irq ${name:-(not in /proc/interrupts)}"
    [[ -n $eff && $eff != "$cur" ]] && label+=" [effective $eff]"
    if [[ ! -e $PROC/irq/$irq/smp_affinity_list ]]; then
        printf '    %-34s no %s: skipped\n' "$label" "$PROC/irq/$irq/smp_affinity_list"
        continue
    fi
    put "$PROC/irq/$irq/smp_affinity_list" "$cpu" "$cur" "$label"
done

if [[ ${#IRQS[@]} -gt 0 ]]; then
    for p in "$PROC"/[0-9]*; do
        if [[ $(cat "$p/comm" 2>/dev/null || true) == irqbalance ]]; then
            note "irqbalance is running (pid ${p##*/}) and will move these IRQs again: stop it,"
            note "or ban them (IRQBALANCE_ARGS=\"--banirq=N ...\") or their CPUs (IRQBALANCE_BANNED_CPULIST)"
            break
        fi
    done
fi

# --- RPS and XPS ---------------------------------------------------------------------------

shopt -s nullglob
RXQ=("$NETDIR"/queues/rx-*)
TXQ=("$NETDIR"/queues/tx-*)
shopt -u nullglob
NRX=${#RXQ[@]}
NTX=${#TXQ[@]}

echo
echo "RX queues: $NRX, TX queues: $NTX, CPUs: $NCPU"
if [[ -z $DEV ]]; then
    note "virtual interface: RPS/XPS left as they are (current values shown)"
fi

if [[ -z $DEV ]]; then
    RPS_MASK=""
elif [[ $NRX -ge $NCPU ]]; then
    RPS_MASK=0
    echo "  RPS: off (0): at least one RX queue per CPU, hardware RSS spreads the flows"
else
    RPS_MASK=$(cpus_to_mask "${CPUS[@]}")
    echo "  RPS: $RPS_MASK on every RX queue: fewer RX queues than CPUs, software steering"
    echo "       spreads protocol processing over the CPUs of the same node"
fi
for q in "${RXQ[@]}"; do
    f=$q/rps_cpus
    if ! cur=$(read1 "$f"); then
        printf '    %-34s not readable (kernel without CONFIG_RPS?): skipped\n' "${q##*/} rps_cpus"
        continue
    fi
    if [[ -z $DEV ]]; then
        printf '    %-34s %s\n' "${q##*/} rps_cpus" "$cur"
        continue
    fi
    if [[ $(norm_mask "$cur") == "$(norm_mask "$RPS_MASK")" ]]; then
        put "$f" "$cur" "$cur" "${q##*/} rps_cpus"
    else
        put "$f" "$RPS_MASK" "$cur" "${q##*/} rps_cpus"
    fi
done

if [[ -n $DEV && $NTX -gt 0 ]]; then
    echo "  XPS: CPU j sends on TX queue (j mod $NTX)"
fi
qi=0
for q in "${TXQ[@]}"; do
    f=$q/xps_cpus
    mine=()
    for ((j = 0; j < NCPU; j++)); do
        ((j % NTX == qi)) && mine+=("${CPUS[j]}")
    done
    qi=$((qi + 1))
    if [[ ! -e $f ]]; then
        printf '    %-34s absent (kernel without CONFIG_XPS?): skipped\n' "${q##*/} xps_cpus"
        continue
    fi
    if ! cur=$(read1 "$f"); then
        printf '    %-34s not readable (single TX queue: XPS does not apply): skipped\n' "${q##*/} xps_cpus"
        continue
    fi
    if [[ -z $DEV ]]; then
        printf '    %-34s %s\n' "${q##*/} xps_cpus" "$cur"
        continue
    fi
    want=$(cpus_to_mask "${mine[@]}")
    if [[ $(norm_mask "$cur") == "$(norm_mask "$want")" ]]; then
        put "$f" "$cur" "$cur" "${q##*/} xps_cpus"
    else
        put "$f" "$want" "$cur" "${q##*/} xps_cpus"
    fi
done

if [[ -n $DEV && $NRX -gt 0 && $NRX -ne $NCPU ]]; then
    echo
    echo "Queues vs CPUs: $NRX RX queue(s) for $NCPU CPU(s). One combined queue per shard CPU is"
    echo "the usual target; check and change with (not run by this script):"
    echo "    ethtool -l $IFACE                 # supported / current channel counts"
    echo "    ethtool -L $IFACE combined $NCPU       # one queue per shard CPU"
    echo "    ethtool -X $IFACE equal $NCPU          # RSS over those queues"
fi

# --- tlsterm ---------------------------------------------------------------------------------

echo
echo "tlsterm configuration (same CPUs as the NIC's interrupts):"
echo
echo "[shards]"
LIST=$(printf '%s, ' "${CPUS[@]}")
echo "cpus = [${LIST%, }]"
if [[ $NODE =~ ^[0-9]+$ && -z $CPUS_ARG ]]; then
    echo "# equivalent: cpus = \"auto:$NODE\"   (all online CPUs of NUMA node $NODE)"
elif [[ ! $NODE =~ ^[0-9]+$ && -z $CPUS_ARG ]]; then
    echo "# no NUMA node for this NIC: cpus = \"auto\" picks the node of the first online CPU"
fi
echo

if [[ $APPLY -eq 0 ]]; then
    echo "Dry run: nothing was changed. Re-run with --apply (as root) to write the values above."
elif [[ $FAILED -gt 0 ]]; then
    echo "$FAILED write(s) failed (managed IRQs refuse affinity changes with EIO: the driver"
    echo "already spreads them, leave those as they are)."
    exit 1
else
    echo "Applied. These settings do not survive a reboot or a driver reload."
fi
