#!/usr/bin/env bash
# rotate-ticket-keys.sh — rotate a HAProxy-format TLS session-ticket key file, atomically.
#
# The file (tlsterm `[tls] ticket_keys`, HAProxy `tls-ticket-keys`) holds one base64 key per
# line, 48 bytes (16 name + 16 AES + 16 HMAC) or 80 bytes (16 + 32 + 32), one size per file.
# The second-to-last line encrypts new tickets, every line decrypts. Rotation appends one new
# random key and drops the oldest, keeping N lines (default 3):
#
#     before: K1 K2 K3      K2 encrypts, K1 still decrypts, K3 is already known
#     after:  K2 K3 K4      K3 encrypts, K2 still decrypts, K4 is already known
#
# The new key is written one period before it starts encrypting, so hosts that receive a
# shared file up to one period late still decrypt each other's tickets.
#
# Atomic: the new contents go to a temporary file in the same directory, which gets the old
# file's owner, group and mode, is fsynced and then renamed over the file (rename(2)), and
# the directory is fsynced. Readers (tlsterm polls the file's mtime once a second and reloads
# it) see the old file or the new one, never a mix. Concurrent runs are serialised with
# flock on the directory. Key material is never printed; key NAMES (public: they travel in
# clear in every ticket) are, as hex.
#
# Does not: signal tlsterm (it notices the change itself; HAProxy needs a reload), or copy
# the file to other hosts (see tuning/README.md, "Session-ticket keys across a fleet").
set -euo pipefail

PROG=${0##*/}

usage() {
    cat <<EOF
Usage: $PROG [options] FILE            rotate FILE: append a new key, drop the oldest
       $PROG --create [options] FILE   the same, creating FILE with N fresh keys if missing
       $PROG --install SRC FILE        validate SRC and atomically replace FILE with it
       $PROG --check FILE              validate FILE and list its key names

Options:
  --keep N        lines to keep (default 3: previous, current, next); at least 2
  --size 48|80    key size for a new file (default: that of FILE, else 80)
  --create        create FILE with N fresh keys when it does not exist
  --group NAME    group of a newly created FILE (default: tlsterm if that group exists)
  --mode MODE     mode of a newly created FILE (default: 0640)
  -q, --quiet     print nothing on success
  -h, --help      this text

An existing FILE keeps its owner, group and mode. One key line is what
  openssl rand 80 | openssl base64 -A
prints. Exit status: 0 done, 1 refused (invalid file, I/O error), 2 usage.
EOF
}

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}
usage_error() {
    echo "$PROG: $* (try --help)" >&2
    exit 2
}

MODE=rotate
KEEP=3
SIZE=""
CREATE=0
GROUP=""
NEWMODE=0640
QUIET=0
SRC=""
FILE=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --keep)
            [[ $# -ge 2 ]] || usage_error "--keep needs a number"
            KEEP=$2
            shift 2
            ;;
        --size)
            [[ $# -ge 2 ]] || usage_error "--size needs 48 or 80"
            SIZE=$2
            shift 2
            ;;
        --create)
            CREATE=1
            shift
            ;;
        --install)
            [[ $# -ge 2 ]] || usage_error "--install needs a source file"
            MODE=install
            SRC=$2
            shift 2
            ;;
        --check)
            MODE=check
            shift
            ;;
        --group)
            [[ $# -ge 2 ]] || usage_error "--group needs a name"
            GROUP=$2
            shift 2
            ;;
        --mode)
            [[ $# -ge 2 ]] || usage_error "--mode needs an octal mode"
            NEWMODE=$2
            shift 2
            ;;
        -q | --quiet)
            QUIET=1
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        -*) usage_error "unknown option '$1'" ;;
        *)
            [[ -z $FILE ]] || usage_error "only one FILE, got '$FILE' and '$1'"
            FILE=$1
            shift
            ;;
    esac
done
[[ -n $FILE ]] || usage_error "no FILE given"
[[ $KEEP =~ ^[0-9]+$ && $KEEP -ge 2 && $KEEP -le 64 ]] || usage_error "--keep must be 2..64, not '$KEEP'"
[[ -z $SIZE || $SIZE == 48 || $SIZE == 80 ]] || usage_error "--size must be 48 or 80, not '$SIZE'"
[[ $NEWMODE =~ ^0?[0-7]{3}$ ]] || usage_error "--mode must be octal like 0640, not '$NEWMODE'"

say() { [[ $QUIET -eq 1 ]] || echo "$PROG: $*"; }

# The file a symlink points at is the one replaced (config management often links it).
if [[ -L $FILE ]]; then
    FILE=$(readlink -f "$FILE")
fi

# --- key lines ---------------------------------------------------------------------------------

# Decoded length of one base64 line, or nothing when the line is not strict base64.
decoded_len() {
    local line=$1
    [[ $line =~ ^[A-Za-z0-9+/]+={0,2}$ && $((${#line} % 4)) -eq 0 ]] || return 1
    printf '%s' "$line" | base64 -d 2>/dev/null | wc -c
}

# The public key name (first 16 bytes) as hex.
key_name() {
    printf '%s' "$1" | base64 -d 2>/dev/null | head -c 16 | od -An -tx1 | tr -d ' \n'
}

# Reads a key file into KEYS (key lines only: blank and # lines dropped), checking every
# line as tlsterm does: strict base64 of 48 or 80 bytes, one size per file, unique names.
# Sets KEYSIZE. Errors name the file and the line, never the key.
KEYS=()
KEYSIZE=""
load_keys() {
    local file=$1 n=0 line len name
    local -A names=()
    KEYS=()
    KEYSIZE=""
    while IFS= read -r line || [[ -n $line ]]; do
        n=$((n + 1))
        line=${line%$'\r'}
        line=${line#"${line%%[![:space:]]*}"}
        line=${line%"${line##*[![:space:]]}"}
        [[ -z $line || $line == \#* ]] && continue
        len=$(decoded_len "$line") || die "$file: line $n: not valid base64"
        [[ $len == 48 || $len == 80 ]] || die "$file: line $n: key is $len bytes, must be 48 or 80"
        if [[ -z $KEYSIZE ]]; then
            KEYSIZE=$len
        elif [[ $len != "$KEYSIZE" ]]; then
            die "$file: line $n: $len-byte key in a file of $KEYSIZE-byte keys"
        fi
        name=$(key_name "$line")
        [[ -z ${names[$name]:-} ]] || die "$file: line $n: key name $name already used on line ${names[$name]}"
        names[$name]=$n
        KEYS+=("$line")
    done <"$file"
    [[ ${#KEYS[@]} -gt 0 ]] || die "$file: no keys (only blank and # lines)"
}

new_key() {
    local size=$1 key
    if command -v openssl >/dev/null 2>&1; then
        key=$(openssl rand "$size" | openssl base64 -A)
    else
        key=$(head -c "$size" /dev/urandom | base64 -w0)
    fi
    [[ $(decoded_len "$key") == "$size" ]] || die "could not generate a $size-byte key"
    printf '%s' "$key"
}

describe() {
    local i n=${#KEYS[@]} role
    for ((i = 0; i < n; i++)); do
        if ((i == n - 2 || (n == 1 && i == 0))); then
            role="encrypts"
        elif ((i == n - 1)); then
            role="next"
        else
            role="decrypts"
        fi
        say "  line $((i + 1)): $(key_name "${KEYS[i]}")  $role"
    done
}

# --- atomic replacement --------------------------------------------------------------------

TMP=""
cleanup() { [[ -z $TMP ]] || rm -f -- "$TMP"; }
trap cleanup EXIT

# Writes the lines of KEYS to FILE: temp file, ownership and mode, fsync, rename, fsync dir.
write_keys() {
    local dir base
    dir=$(dirname -- "$FILE")
    base=$(basename -- "$FILE")
    [[ -d $dir ]] || die "$dir: no such directory"
    TMP=$(mktemp "$dir/.$base.XXXXXX") || die "$dir: cannot create a temporary file"
    printf '%s\n' "${KEYS[@]}" >"$TMP" || die "$TMP: write failed"
    if [[ -e $FILE ]]; then
        chown --reference="$FILE" -- "$TMP" 2>/dev/null || {
            # Not root: keep our own owner, but the group and mode must still match.
            chgrp --reference="$FILE" -- "$TMP" || die "$TMP: cannot copy the group of $FILE"
        }
        chmod --reference="$FILE" -- "$TMP" || die "$TMP: cannot copy the mode of $FILE"
    else
        local group=$GROUP
        if [[ -z $group ]] && getent group tlsterm >/dev/null 2>&1; then
            group=tlsterm
        fi
        if [[ -n $group ]]; then
            chgrp -- "$group" "$TMP" || die "$TMP: cannot set group $group"
        fi
        chmod -- "$NEWMODE" "$TMP" || die "$TMP: cannot set mode $NEWMODE"
    fi
    sync -- "$TMP" || die "$TMP: fsync failed"
    mv -f -T -- "$TMP" "$FILE" || die "$FILE: rename failed"
    TMP=""
    sync -- "$dir" || die "$dir: fsync failed"
}

lock_dir() {
    local dir
    dir=$(dirname -- "$FILE")
    [[ -d $dir ]] || die "$dir: no such directory"
    exec 9<"$dir"
    flock -w 30 9 || die "$dir: another rotation holds the lock"
}

# --- modes ---------------------------------------------------------------------------------

case $MODE in
    check)
        [[ -e $FILE ]] || die "$FILE: no such file"
        load_keys "$FILE"
        say "$FILE: ${#KEYS[@]} key(s) of $KEYSIZE bytes, valid"
        describe
        ;;
    install)
        [[ -r $SRC ]] || die "$SRC: cannot read"
        load_keys "$SRC"
        lock_dir
        write_keys
        say "$FILE: installed from $SRC: ${#KEYS[@]} key(s) of $KEYSIZE bytes"
        describe
        ;;
    rotate)
        lock_dir
        if [[ -e $FILE ]]; then
            load_keys "$FILE"
            [[ -z $SIZE || $SIZE == "$KEYSIZE" ]] ||
                die "$FILE holds $KEYSIZE-byte keys; --size $SIZE would mix sizes (start a new file instead)"
            added=$(new_key "$KEYSIZE")
            # A fresh random name colliding with one in the file is a 2^-128 event; refuse
            # rather than write a file tlsterm would reject.
            for k in "${KEYS[@]}"; do
                [[ $(key_name "$k") != "$(key_name "$added")" ]] || die "generated a duplicate key name; run again"
            done
            KEYS+=("$added")
            dropped=()
            while [[ ${#KEYS[@]} -gt $KEEP ]]; do
                dropped+=("$(key_name "${KEYS[0]}")")
                KEYS=("${KEYS[@]:1}")
            done
            write_keys
            say "$FILE: added $(key_name "$added"), dropped ${dropped[*]:-nothing}; ${#KEYS[@]} key(s):"
            describe
        else
            [[ $CREATE -eq 1 ]] || die "$FILE: no such file (use --create to make one)"
            size=${SIZE:-80}
            KEYS=()
            for ((i = 0; i < KEEP; i++)); do
                KEYS+=("$(new_key "$size")")
            done
            write_keys
            say "$FILE: created with $KEEP fresh $size-byte key(s):"
            describe
        fi
        ;;
esac
