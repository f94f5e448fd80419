#!/usr/bin/env bash
# click2call test lab: Asterisk 22 (Debian sid) in a chroot on this host,
# configured from ../asterisk-conf, reachable only on 127.0.0.1.
#
# Usage: lab/lab.sh provision|start|stop|restart|status|cli '<asterisk command>'
#   start makes new random passwords; restart keeps the running lab's (a crash-and-recover of Asterisk).
#
# Environment (all optional):
#   C2C_LAB_DIR     where the chroot lives       (default /var/cache/click2call-lab)
#   C2C_LAB_RUN     run dir: logs, lab.env, pid  (default /tmp/click2call-lab, or /tmp/click2call-lab-NODE)
#   LAB_NODE        a named node of a multi-node lab (letters, digits, - and _): its own config, run, log,
#                   spool and db dirs (/etc/click2call-asterisk-NODE ...), RTP range and entityid; give each
#                   node its own C2C_LAB_RUN, LAB_ARI_PORT and LAB_SIP_PORT. Unset: the one default node.
#   LAB_RTP_START / LAB_RTP_END  the node's RTP range (named node default: 2000 ports picked by LAB_SIP_PORT's
#                   last digit, 5060 -> 10000-11999, 5061 -> 12000-13999 ...; default node: rtp.conf's 10000-30000)
#   LAB_ENTITY_ID   the node's Asterisk entityid (named node default: 02:c2:... derived from the name)
#   C2C_LAB_MIRROR  Debian mirror for the chroot (default http://deb.debian.org/debian)
#   LAB_ARI_PORT    ARI/HTTP port                (default 8088)
#   LAB_ARI_TLS_PORT  ARI over TLS (https/wss)   (default LAB_ARI_PORT + 1000: 9088); the certificate is made at
#                   start by lab/certs.py (a CA of the run's own: $C2C_LAB_RUN/tls/ca.pem), with the Python of
#                   LAB_PYTHON, else the repo's .venv, python3 or uv run: it needs the `cryptography` package
#   LAB_SIP_PORT    PJSIP UDP port               (default 5060)
#   LAB_TRUNK_A_PORT / LAB_TRUNK_B_PORT  carrier simulators (default 5070 / 5071)
#   LAB_LOADPOOL_LAST  last extension of the load-test pool 9001..N (default 9200; the benchmark uses more)
#
# Why a chroot: Debian bookworm ships no Asterisk; sid does.  debootstrap +
# apt inside the chroot takes well under a minute and needs nothing but the
# Debian mirror, so it works the same on a laptop and in CI.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAB_DIR="${C2C_LAB_DIR:-/var/cache/click2call-lab}"
ROOT="$LAB_DIR/sid"
NODE="${LAB_NODE:-}"
if [ -n "$NODE" ] && ! [[ "$NODE" =~ ^[A-Za-z0-9_-]{1,32}$ ]]; then
    echo "lab: ERROR: LAB_NODE must be 1-32 letters, digits, '-' or '_', got '$NODE'" >&2
    exit 2
fi
SUFFIX="${NODE:+-$NODE}"                   # every per-node path: empty for the default node
RUN="${C2C_LAB_RUN:-/tmp/click2call-lab$SUFFIX}"
MIRROR="${C2C_LAB_MIRROR:-http://deb.debian.org/debian}"
ARI_PORT="${LAB_ARI_PORT:-8088}"
TLS_PORT="${LAB_ARI_TLS_PORT:-$((ARI_PORT + 1000))}"
SIP_PORT="${LAB_SIP_PORT:-5060}"
TRUNK_A_PORT="${LAB_TRUNK_A_PORT:-5070}"
TRUNK_B_PORT="${LAB_TRUNK_B_PORT:-5071}"
ARI_USER=click2call
CONF_DIR=/etc/click2call-asterisk$SUFFIX   # inside the chroot
CONF="$CONF_DIR/asterisk.conf"
AST_RUNDIR=/run/click2call-asterisk$SUFFIX # must match astrundir in asterisk.conf (install_conf rewrites it per node)
RTP_START="${LAB_RTP_START:-}"
RTP_END="${LAB_RTP_END:-}"
ENTITY_ID="${LAB_ENTITY_ID:-}"
if [ -n "$NODE" ]; then
    # Nodes share 127.0.0.1: disjoint RTP ranges so that they never take each other's ports.
    if [ -z "$RTP_START" ]; then
        RTP_START=$((10000 + (SIP_PORT % 10) * 2000))
        RTP_END=$((RTP_START + 1999))
    fi
    [ -n "$RTP_END" ] || RTP_END=$((RTP_START + 1999))
    # Asterisk derives its entity id from a network card's MAC: in the lab every node would get the same one
    # (a netns with only lo gives 00:00:00:00:00:00), and identical ids confuse channel and event routing.
    [ -n "$ENTITY_ID" ] || ENTITY_ID="02:c2:$(printf %s "$NODE" | md5sum | cut -c1-8 | sed 's/../&:/g; s/:$//')"
fi
LOADPOOL_FIRST=9001
LOADPOOL_LAST="${LAB_LOADPOOL_LAST:-9200}"
START_TIMEOUT=60

BOOTSTRAP_MARK="$ROOT/.c2c-bootstrap-done"
ASTERISK_MARK="$ROOT/.c2c-asterisk-done"
# Bump when CHROOT_PACKAGES changes so existing chroots get the new packages.
PROVISION_VERSION=2
CHROOT_PACKAGES="asterisk asterisk-modules asterisk-moh-opsound-wav"

log() { echo "lab: $*" >&2; }
die() { echo "lab: ERROR: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (chroot, mount, apt)"; }

apt_install_host() {
    # Install host packages, refreshing the package lists only if apt does
    # not know a candidate for one of them (fresh machines/containers).
    local pkgs=("$@") p need_update=0
    for p in "${pkgs[@]}"; do
        if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
            need_update=1
        fi
    done
    export DEBIAN_FRONTEND=noninteractive
    if [ "$need_update" = 1 ]; then
        log "apt-get update (host)"
        apt-get update -qq
    fi
    log "apt-get install ${pkgs[*]} (host)"
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
}

mount_proc() {
    mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
}

umount_proc() {
    if [ -d "$ROOT/proc" ] && mountpoint -q "$ROOT/proc"; then
        umount "$ROOT/proc" 2>/dev/null || umount -l "$ROOT/proc"
    fi
}

chroot_busy() {
    # Some process (another node's Asterisk) still runs inside the chroot and needs its /proc.
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && return 0
    done
    return 1
}

lock_chroot() {
    # Nodes of one chroot start and stop concurrently: the /proc mount is theirs together (fd 9).
    mkdir -p "$LAB_DIR"
    exec 9>"$LAB_DIR/.lab.lock"
    flock 9
}

unlock_chroot() { flock -u 9; exec 9>&-; }

copy_hosts() {
    # Without the host's /etc/hosts every RTP/SIP setup inside the chroot
    # waits for DNS lookups of the host name.
    cp /etc/hosts "$ROOT/etc/hosts"
    [ -f /etc/resolv.conf ] && cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
}

cmd_provision() {
    need_root
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v sipp >/dev/null || missing+=(sip-tester)
    command -v curl >/dev/null || missing+=(curl)
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_install_host "${missing[@]}"
    fi

    if [ ! -f "$BOOTSTRAP_MARK" ]; then
        # Incomplete/aborted earlier attempt: start over (never rm through a mount).
        umount_proc
        if [ -e "$ROOT" ]; then
            log "removing incomplete chroot $ROOT"
            rm -rf --one-file-system "$ROOT"
        fi
        mkdir -p "$LAB_DIR"
        log "debootstrap sid into $ROOT (about 30 s)"
        debootstrap --variant=minbase sid "$ROOT" "$MIRROR" >"$LAB_DIR/debootstrap.log" 2>&1 \
            || { tail -30 "$LAB_DIR/debootstrap.log" >&2; die "debootstrap failed (log: $LAB_DIR/debootstrap.log)"; }
        touch "$BOOTSTRAP_MARK"
    fi

    if ! grep -qx "provision=$PROVISION_VERSION" "$ASTERISK_MARK" 2>/dev/null; then
        log "installing asterisk inside the chroot"
        copy_hosts
        # No daemons may start inside the chroot during package installation.
        printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
        chmod 755 "$ROOT/usr/sbin/policy-rc.d"
        mount_proc
        # sid's Release files can be "expired" on a stale mirror; we do not care.
        if ! chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive PKGS="$CHROOT_PACKAGES" sh -c '
                apt-get -qq -o Acquire::Check-Valid-Until=false update &&
                apt-get -qq -o Acquire::Check-Valid-Until=false install -y --no-install-recommends $PKGS' \
                >"$LAB_DIR/apt-chroot.log" 2>&1; then
            umount_proc
            tail -30 "$LAB_DIR/apt-chroot.log" >&2
            die "apt-get install asterisk in chroot failed (log: $LAB_DIR/apt-chroot.log)"
        fi
        chroot "$ROOT" apt-get clean
        umount_proc
        { echo "provision=$PROVISION_VERSION"; chroot "$ROOT" asterisk -V; } >"$ASTERISK_MARK"
        log "provisioned: $(chroot "$ROOT" asterisk -V)"
    fi
}

make_certs() {
    # A new CA and server certificate for ARI over TLS; clients trust $RUN/tls/ca.pem. Any Python with the
    # `cryptography` package (a dependency of the service) does: labkit's, the repo's .venv, python3, else uv's.
    local py
    rm -rf "$RUN/tls"
    for py in "${LAB_PYTHON:-}" "$REPO/.venv/bin/python" python3; do
        if [ -n "$py" ] && command -v "$py" >/dev/null && "$py" -c 'import cryptography' 2>/dev/null; then
            "$py" "$REPO/lab/certs.py" "$RUN/tls" || die "lab/certs.py could not make the TLS certificate"
            return 0
        fi
    done
    command -v uv >/dev/null && uv run --frozen --project "$REPO" python "$REPO/lab/certs.py" "$RUN/tls" \
        || die "no Python with the cryptography package for the lab's TLS certificate (uv sync, or set LAB_PYTHON)"
}

rand_secret() { head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

write_loadpool() {
    # Extensions 9001..LOADPOOL_LAST (9200 unless LAB_LOADPOOL_LAST says) for load tests: identical to
    # 101..120, generated here because hundreds of near-identical lines do not belong in the repo.
    local e
    {
        echo "; generated by lab/lab.sh - load-test extension pool"
        for e in $(seq "$LOADPOOL_FIRST" "$LOADPOOL_LAST"); do
            printf '[%s](agent)\nauth = %s\naors = %s\ncallerid = "Load %s" <%s>\n[%s](agent-auth)\nusername = %s\n[%s](agent-aor)\n\n' \
                "$e" "$e" "$e" "$e" "$e" "$e" "$e" "$e"
        done
    } >"$1"
}

asterisk_pid() {
    # PID of our Asterisk (pid file written by lab.sh, cross-checked).
    local pid
    [ -f "$RUN/asterisk.pid" ] || return 1
    pid="$(cat "$RUN/asterisk.pid")"
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = asterisk ] || return 1
    echo "$pid"
}

ast_cli() {
    chroot "$ROOT" /usr/sbin/asterisk -C "$CONF" -rx "$1"
}

cmd_stop() {
    need_root
    local pid i
    if pid="$(asterisk_pid)"; then
        log "stopping asterisk (pid $pid)"
        ast_cli 'core stop now' >/dev/null 2>&1 || true
        for i in $(seq 1 50); do
            [ -d "/proc/$pid" ] || break
            sleep 0.1
        done
        if [ -d "/proc/$pid" ]; then
            log "asterisk did not stop, sending TERM"
            kill -TERM "$pid" 2>/dev/null || true
            for i in $(seq 1 30); do
                [ -d "/proc/$pid" ] || break
                sleep 0.1
            done
            [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$RUN/asterisk.pid"
    [ -d "$ROOT" ] && rm -f "$ROOT$AST_RUNDIR/asterisk.ctl"
    lock_chroot
    chroot_busy || umount_proc
    unlock_chroot
    return 0
}

install_conf() {
    local ari_pw="$1" phone_pw="$2" dst="$ROOT$CONF_DIR"
    rm -rf "$dst"
    mkdir -p "$dst"
    cp -a "$REPO/asterisk-conf/." "$dst/"
    write_loadpool "$dst/pjsip_loadpool.conf"
    # Secrets and ports only ever exist in this copy, never in the repo.
    sed -i "s/@ARI_PASSWORD@/$ari_pw/" "$dst/ari.conf"
    sed -i "s/@PHONE_PASSWORD@/$phone_pw/" "$dst/pjsip.conf"
    sed -i "s/^bindport *=.*/bindport = $ARI_PORT/" "$dst/http.conf"
    # TLS beside plain HTTP: the run's certificate, copied into the chroot's config dir where Asterisk reads it.
    cp "$RUN/tls/server.pem" "$dst/ari-tls.pem"
    cp "$RUN/tls/server.key" "$dst/ari-tls.key"
    sed -i -e "s/^tlsbindaddr *=.*/tlsbindaddr = 127.0.0.1:$TLS_PORT/" \
           -e "s#^\(tls[a-z]*\) *= */etc/click2call-asterisk/#\1 = $CONF_DIR/#" "$dst/http.conf"
    grep -q "^tlscertfile = $CONF_DIR/ari-tls.pem\$" "$dst/http.conf" || die "http.conf: tlscertfile not rewritten"
    sed -i -e "s/^bind = 127\.0\.0\.1:5060/bind = 127.0.0.1:$SIP_PORT/" \
           -e "s#sip:127\.0\.0\.1:5070#sip:127.0.0.1:$TRUNK_A_PORT#" \
           -e "s#sip:127\.0\.0\.1:5071#sip:127.0.0.1:$TRUNK_B_PORT#" \
           -e "s#^match = 127\.0\.0\.1:5070\$#match = 127.0.0.1:$TRUNK_A_PORT#" \
           -e "s#^match = 127\.0\.0\.1:5071\$#match = 127.0.0.1:$TRUNK_B_PORT#" "$dst/pjsip.conf"
    if [ -n "$NODE" ]; then
        # Every directory of asterisk.conf becomes the node's own (etc, run with its control socket, log,
        # spool, astdb, cache), and the node gets its entity id.
        sed -i -e "s#^\(ast[a-z]*dir => /[a-z/]*/click2call-asterisk\)\$#\1$SUFFIX#" \
               -e "s#^\[options\]\$#[options]\nentityid = $ENTITY_ID#" "$dst/asterisk.conf"
        grep -q "^astrundir => $AST_RUNDIR\$" "$dst/asterisk.conf" || die "asterisk.conf: astrundir not rewritten"
    fi
    if [ -n "$RTP_START" ]; then
        sed -i -e "s/^rtpstart *=.*/rtpstart = $RTP_START/" -e "s/^rtpend *=.*/rtpend = $RTP_END/" "$dst/rtp.conf"
    fi
    grep -rq '@[A-Z_]*PASSWORD@' "$dst" && die "unreplaced password placeholder in $dst"
    chmod 700 "$dst"
    chmod 600 "$dst"/*
    # Directories named in asterisk.conf.
    mkdir -p "$ROOT$AST_RUNDIR" "$ROOT/var/log/click2call-asterisk$SUFFIX" \
        "$ROOT/var/spool/click2call-asterisk$SUFFIX/recording" "$ROOT/var/lib/click2call-asterisk$SUFFIX" \
        "$ROOT/var/cache/click2call-asterisk$SUFFIX"
}

cmd_start() {
    # $1 = keep: reuse the running lab's passwords (a restart that clients survive), else new random ones.
    need_root
    cmd_provision
    local ari_pw="" phone_pw="" url tls_url pid deadline
    if [ "${1:-}" = keep ] && [ -f "$RUN/lab.env" ]; then
        ari_pw="$(sed -n 's/^C2C_ARI_PASSWORD=//p' "$RUN/lab.env")"
        phone_pw="$(sed -n 's/^LAB_PHONE_PASSWORD=//p' "$RUN/lab.env")"
    fi
    if [ -f "$RUN/lab.env" ] && [ "$(sed -n 's/^LAB_NODE=//p' "$RUN/lab.env")" != "$NODE" ] && asterisk_pid >/dev/null; then
        die "$RUN runs another node's Asterisk: give each node its own C2C_LAB_RUN"
    fi
    cmd_stop
    mkdir -p "$RUN"
    rm -f "$RUN/lab.env"
    # A restart keeps the certificate (clients keep trusting it), as it keeps the passwords.
    if [ "${1:-}" != keep ] || ! [ -f "$RUN/tls/server.key" ]; then
        make_certs
    fi

    [ -n "$ari_pw" ] || ari_pw="$(rand_secret)"
    [ -n "$phone_pw" ] || phone_pw="$(rand_secret)"
    install_conf "$ari_pw" "$phone_pw"
    lock_chroot
    copy_hosts
    mount_proc

    # -f: no fork, no console; output goes to the run dir log. 9>&-: the lock stays the script's.
    setsid chroot "$ROOT" /usr/sbin/asterisk -f -C "$CONF" \
        </dev/null >"$RUN/asterisk.log" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$RUN/asterisk.pid"
    unlock_chroot

    url="http://127.0.0.1:$ARI_PORT"
    deadline=$((SECONDS + START_TIMEOUT))
    until curl -fsS -o /dev/null --max-time 2 -u "$ARI_USER:$ari_pw" "$url/ari/asterisk/info" 2>/dev/null; do
        if ! [ -d "/proc/$pid" ] || [ "$SECONDS" -ge "$deadline" ]; then
            echo "----- $RUN/asterisk.log -----" >&2
            tail -100 "$RUN/asterisk.log" >&2 || true
            echo "-----" >&2
            cmd_stop || true
            die "asterisk did not answer on $url/ari/asterisk/info within ${START_TIMEOUT}s"
        fi
        sleep 0.2
    done
    tls_url="https://127.0.0.1:$TLS_PORT"
    curl -fsS -o /dev/null --max-time 5 --cacert "$RUN/tls/ca.pem" -u "$ARI_USER:$ari_pw" "$tls_url/ari/asterisk/info" \
        || { tail -30 "$RUN/asterisk.log" >&2; die "asterisk does not answer ARI over TLS on $tls_url"; }
    # ARI answering does not mean every module (PJSIP endpoints) is loaded.
    timeout 30 chroot "$ROOT" /usr/sbin/asterisk -C "$CONF" -rx 'core waitfullybooted' >/dev/null \
        || die "asterisk not fully booted (log: $RUN/asterisk.log)"

    umask 077
    cat >"$RUN/lab.env" <<ENV
C2C_ARI_URL=$url
C2C_ARI_USER=$ARI_USER
C2C_ARI_PASSWORD=$ari_pw
C2C_ARI_APP=click2call
LAB_PHONE_PASSWORD=$phone_pw
LAB_SIP_PORT=$SIP_PORT
LAB_ARI_PORT=$ARI_PORT
LAB_ARI_TLS_PORT=$TLS_PORT
LAB_ARI_TLS_URL=$tls_url
LAB_ARI_CA_FILE=$RUN/tls/ca.pem
LAB_TRUNK_A_PORT=$TRUNK_A_PORT
LAB_TRUNK_B_PORT=$TRUNK_B_PORT
ENV
    if [ -n "$NODE" ]; then
        cat >>"$RUN/lab.env" <<ENV
C2C_NODE_NAME=$NODE
LAB_NODE=$NODE
LAB_ENTITY_ID=$ENTITY_ID
LAB_RTP_START=$RTP_START
LAB_RTP_END=$RTP_END
ENV
    fi
    log "asterisk${NODE:+ node $NODE} up (pid $pid), ARI $url and $tls_url, env in $RUN/lab.env"
}

cmd_status() {
    if pid="$(asterisk_pid)"; then
        echo "running (pid $pid)"
        ast_cli 'core show uptime'
    else
        echo "stopped"
        return 1
    fi
}

case "${1:-}" in
    provision) cmd_provision ;;
    start) cmd_start ;;
    restart) cmd_start keep ;;  # same passwords: the service and phones reconnect without new settings
    stop) cmd_stop ;;
    status) cmd_status ;;
    cli)
        shift
        [ $# -ge 1 ] || die "usage: $0 cli '<asterisk command>'"
        need_root
        asterisk_pid >/dev/null || die "asterisk is not running (lab/lab.sh start)"
        ast_cli "$*"
        ;;
    *)
        sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
