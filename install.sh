#!/usr/bin/env bash
# Nightswitch installer for Raspberry Pi OS (Debian Bookworm or later).
#
# Usage: sudo ./install.sh [--unattended] [--tls [--tls-cert FILE --tls-key FILE]]
#                          [--prefix DIR] [--root DIR]
#        sudo ./install.sh --uninstall [--purge] [--prefix DIR] [--root DIR]
#
#   (no option)     install, or upgrade and repair an existing install: safe to run again
#   --unattended    never ask (the only question: reboot now?); for scripted installs
#   --tls           serve the web page over HTTPS: Debian's nginx on 443 (80 redirects)
#                   in front of the appliance, which then listens on 127.0.0.1:8080 only;
#                   a self-signed certificate is made unless one is given
#   --tls-cert FILE, --tls-key FILE
#                   with --tls: use this certificate (PEM, full chain) and private key
#   --uninstall     remove the program, service, udev rule, watchdog drop-in and the
#                   config.txt block; KEEP /etc/nightswitch and /var/lib/nightswitch
#   --purge         with --uninstall: also delete the config, the data and the user
#   --prefix DIR    where the program lives (default /opt/nightswitch)
#   --root DIR      install into DIR as if it were / (every path is prefixed; commands
#                   that change the system run inside it with chroot)
#   -h, --help      show this help
#
# Test switch: NIGHTSWITCH_INSTALL_TEST=1 (needs --root) runs on any Debian machine.
# apt-get, systemctl, udevadm, raspi-config, useradd/usermod/groupadd/userdel, chown,
# the venv and pip, and Raspberry Pi detection are stubbed: each stubbed call is logged
# to ROOT/var/log/nightswitch-install-test.log, files are owned by the calling user, and
# the venv's python/nightswitch are links to the ones on PATH.  Everything else (the
# file layout, config.txt, cmdline.txt, first admin) runs for real.
# NIGHTSWITCH_TEST_MODEL sets the Pi model the stub reports
# (default "Raspberry Pi 4 Model B Rev 1.5").
#
# Exit status: 0 done, 1 failed, 2 bad option.
set -Eeuo pipefail

readonly PROG=install.sh
readonly APP=nightswitch
readonly SERVICE_USER=nightswitch
readonly WEB_PORT=8080
readonly BEGIN_MARK="# >>> nightswitch >>>"
readonly END_MARK="# <<< nightswitch <<<"
readonly BACKUP_SUFFIX=.nightswitch-backup
# python3-venv: the venv; python3-lgpio: gpiozero's pin driver on Bookworm and the only
# one that works on a Pi 5 (it is not on PyPI as a wheel for every Python, so take the
# distribution's and let the venv see it); avahi-daemon: answers <hostname>.local.
readonly APT_PACKAGES=(python3-venv python3-lgpio avahi-daemon)

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SRC_DIR

ROOT=/
PREFIX=/opt/nightswitch
ACTION=install
PURGE=0
UNATTENDED=0
TLS=0
TLS_CERT=""
TLS_KEY=""
TEST_MODE=0
[ "${NIGHTSWITCH_INSTALL_TEST:-0}" = 1 ] && TEST_MODE=1

CONF_DIR=/etc/nightswitch
DATA_DIR=/var/lib/nightswitch
REBOOT_NEEDED=0
PROBLEMS=()

# ---- output ---------------------------------------------------------------------------

usage() {
    sed -n '2,/^# Exit status/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

say() { printf '%s\n' "$*"; }
step() { printf '\n==> %s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
bad_usage() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    printf "Try '%s --help'.\n" "$PROG" >&2
    exit 2
}

on_error() {
    local rc=$? line=$1 cmd=$2
    printf '%s: error: failed (exit %s) at line %s: %s\n' "$PROG" "$rc" "$line" "$cmd" >&2
    printf '%s: nothing already saved was removed; fix the cause and run %s again.\n' \
        "$PROG" "$PROG" >&2
    exit 1
}
trap 'on_error "$LINENO" "$BASH_COMMAND"' ERR
trap 'printf "\n%s: interrupted\n" "$PROG" >&2; exit 130' INT TERM

# ---- options --------------------------------------------------------------------------

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            -h|--help) usage; exit 0 ;;
            --unattended) UNATTENDED=1 ;;
            --tls) TLS=1 ;;
            --tls-cert|--tls-key)
                if [ $# -lt 2 ] || [ -z "$2" ]; then bad_usage "$1 needs a file"; fi
                [ -f "$2" ] || bad_usage "$1 $2: no such file"
                if [ "$1" = --tls-cert ]; then TLS_CERT=$(realpath "$2"); else TLS_KEY=$(realpath "$2"); fi
                shift ;;
            --uninstall) ACTION=uninstall ;;
            --purge) PURGE=1 ;;
            --root|--prefix)
                if [ $# -lt 2 ] || [ -z "$2" ]; then bad_usage "$1 needs a directory"; fi
                set_dir_option "$1" "$2"
                shift ;;
            --root=*|--prefix=*)
                [ -n "${1#*=}" ] || bad_usage "${1%%=*} needs a directory"
                set_dir_option "${1%%=*}" "${1#*=}" ;;
            *) bad_usage "unknown option '$1'; allowed: --unattended, --tls, --tls-cert FILE, --tls-key FILE, --uninstall, --purge, --root DIR, --prefix DIR, --help" ;;
        esac
        shift
    done
    if [ "$PURGE" = 1 ] && [ "$ACTION" != uninstall ]; then
        bad_usage "--purge only goes with --uninstall"
    fi
    if { [ -n "$TLS_CERT" ] || [ -n "$TLS_KEY" ]; } && { [ -z "$TLS_CERT" ] || [ -z "$TLS_KEY" ] || [ "$TLS" = 0 ]; }; then
        bad_usage "--tls-cert and --tls-key go together, with --tls"
    fi
    if [ "$TEST_MODE" = 1 ] && [ "$ROOT" = / ]; then
        bad_usage "NIGHTSWITCH_INSTALL_TEST=1 needs --root DIR (a scratch directory), never the real /"
    fi
}

set_dir_option() {
    local opt=$1 dir=$2
    case "$opt" in
        --root)
            [ -d "$dir" ] || bad_usage "--root $dir: no such directory"
            ROOT=$(cd "$dir" && pwd) ;;
        --prefix)
            case "$dir" in
                /*) ;;
                *) bad_usage "--prefix $dir: must be an absolute path such as /opt/nightswitch" ;;
            esac
            [ "$dir" != / ] || bad_usage "--prefix /: refusing to use / as the program directory"
            PREFIX=${dir%/} ;;
    esac
}

# ---- paths and commands ---------------------------------------------------------------

# The path of an installed file on this machine: /etc/x, or ROOT/etc/x under --root.
p() {
    if [ "$ROOT" = / ]; then printf '%s' "$1"; else printf '%s%s' "$ROOT" "$1"; fi
}

# One run's stubbed calls: the log starts empty each run.
start_test_log() {
    if [ "$TEST_MODE" = 1 ]; then
        mkdir -p "$(p /var/log)"
        : > "$(p /var/log/nightswitch-install-test.log)"
    fi
}

test_log() {
    mkdir -p "$(p /var/log)"
    printf '%s\n' "$*" >> "$(p /var/log/nightswitch-install-test.log)"
}

# Run a command that changes the system (packages, users, services).  Paths in its
# arguments are as seen from inside the target root.  Stubbed in test mode.
system() {
    if [ "$TEST_MODE" = 1 ]; then
        test_log "$*"
        return 0
    fi
    if [ "$ROOT" = / ]; then
        "$@"
    else
        chroot "$ROOT" "$@"
    fi
}

# Set a file's owner and group ("root:nightswitch").  In test mode the files belong to
# whoever runs the test, and the intended owner is logged.
own() {
    local owner=$1
    shift
    if [ "$TEST_MODE" = 1 ]; then
        test_log "chown $owner ${*#"$ROOT"}"
        chown "$(id -u):$(id -g)" "$@"
    elif [ "$ROOT" = / ]; then
        chown "$owner" "$@"
    else
        chroot "$ROOT" chown "$owner" "${@#"$ROOT"}"
    fi
}

# Install SRC at DEST (inside the root) with MODE, replacing it only when the content
# differs; prints "changed" when it did.
put_file() {
    local src=$1 dest=$2 mode=$3 target
    target=$(p "$dest")
    mkdir -p "$(dirname "$target")"
    if [ -f "$target" ] && cmp -s "$src" "$target"; then
        chmod "$mode" "$target"
        return 0
    fi
    install -m "$mode" "$src" "$target.tmp.$$"
    mv -f "$target.tmp.$$" "$target"
    echo changed
}

remove_path() {
    local target
    target=$(p "$1")
    if [ -e "$target" ] || [ -L "$target" ]; then
        rm -rf -- "$target"
        say "  removed $1"
    fi
}

# ---- checks ---------------------------------------------------------------------------

need_root() {
    [ "$TEST_MODE" = 1 ] && return 0
    [ "$(id -u)" -eq 0 ] && return 0
    if command -v sudo >/dev/null; then
        say "$PROG: root is needed; asking sudo"
        exec sudo --preserve-env=NIGHTSWITCH_INSTALL_TEST bash "${BASH_SOURCE[0]}" "$@"
    fi
    die "run this as root (sudo ./install.sh)"
}

check_os() {
    local file id="" version_id="" codename="" pretty=""
    file=$(p /etc/os-release)
    if [ ! -r "$file" ] && [ "$TEST_MODE" = 1 ]; then
        file=/etc/os-release
        test_log "os-detect: read $file (the scratch root has none)"
    fi
    if [ ! -r "$file" ]; then
        warn "cannot read /etc/os-release; this installer is made for Raspberry Pi OS Bookworm or later"
        return 0
    fi
    # shellcheck disable=SC1090
    id=$(. "$file"; printf '%s' "${ID:-}")
    # shellcheck disable=SC1090
    version_id=$(. "$file"; printf '%s' "${VERSION_ID:-}")
    # shellcheck disable=SC1090
    codename=$(. "$file"; printf '%s' "${VERSION_CODENAME:-}")
    # shellcheck disable=SC1090
    pretty=$(. "$file"; printf '%s' "${PRETTY_NAME:-$id $version_id}")
    say "  system: $pretty"
    case "$id" in
        debian|raspbian) ;;
        *) warn "$pretty is not Debian or Raspberry Pi OS; continuing, but only Raspberry Pi OS Bookworm or later is supported" ;;
    esac
    if [ -n "$version_id" ] && [ "${version_id%%.*}" -lt 12 ] 2>/dev/null; then
        warn "$pretty ($codename) is older than Bookworm (12): config.txt is in /boot, gpiozero may lack lgpio; upgrade the OS if you can"
    fi
}

PI_MODEL=""
IS_PI5=0
detect_pi() {
    local file
    if [ "$TEST_MODE" = 1 ]; then
        PI_MODEL=${NIGHTSWITCH_TEST_MODEL:-Raspberry Pi 4 Model B Rev 1.5}
        test_log "pi-detect: $PI_MODEL"
    else
        file=$(p /proc/device-tree/model)
        [ -r "$file" ] || file=/proc/device-tree/model
        [ -r "$file" ] && PI_MODEL=$(tr -d '\0' < "$file")
    fi
    case "$PI_MODEL" in
        # "Raspberry Pi 5 Model B", "Raspberry Pi 500", "Raspberry Pi Compute Module 5"
        "Raspberry Pi 5"*|"Raspberry Pi Compute Module 5"*) IS_PI5=1 ;;
    esac
    if [ -z "$PI_MODEL" ]; then
        warn "this does not look like a Raspberry Pi (no /proc/device-tree/model); installing anyway"
    elif [ "$IS_PI5" = 1 ]; then
        say "  board: $PI_MODEL (Pi 5: header UART is /dev/ttyAMA0 via dtparam=uart0=on;"
        say "         lgpio reaches the header through the RP1's gpiochip)"
    else
        say "  board: $PI_MODEL (header UART is /dev/ttyAMA0 once Bluetooth lets go of it)"
    fi
}

# ---- steps ----------------------------------------------------------------------------

install_packages() {
    step "Debian packages: ${APT_PACKAGES[*]}"
    local missing=() pkg
    if [ "$TEST_MODE" = 1 ]; then
        missing=("${APT_PACKAGES[@]}")
    else
        for pkg in "${APT_PACKAGES[@]}"; do
            # shellcheck disable=SC2016  # ${Status} is dpkg-query's format, not ours
            system dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
                || missing+=("$pkg")
        done
    fi
    if [ ${#missing[@]} -eq 0 ]; then
        say "  all present"
        return 0
    fi
    system env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    if [ "$TEST_MODE" = 0 ]; then
        local available=()
        for pkg in "${missing[@]}"; do
            if system apt-cache show "$pkg" >/dev/null 2>&1; then
                available+=("$pkg")
            elif [ "$pkg" = python3-lgpio ]; then
                # Raspberry Pi OS ships it; plain Debian may not.  gpiozero then falls back
                # to another pin driver (none works on a Pi 5).
                warn "python3-lgpio is not in this system's package sources (Raspberry Pi OS has it); GPIO may not work, above all on a Pi 5"
                PROBLEMS+=("python3-lgpio missing: use Raspberry Pi OS, or install lgpio by hand")
            else
                die "the Debian package $pkg is not available; check /etc/apt/sources.list and the network"
            fi
        done
        missing=("${available[@]}")
        [ ${#missing[@]} -gt 0 ] || return 0
    fi
    system env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

create_user() {
    step "Service user '$SERVICE_USER' (groups gpio, dialout)"
    local group
    for group in gpio dialout; do
        if ! grep -q "^$group:" "$(p /etc/group)" 2>/dev/null; then
            # Raspberry Pi OS has both; plain Debian lacks gpio, and the udev rule
            # below gives /dev/gpiochip* to it.
            system groupadd --system "$group"
        fi
    done
    if grep -q "^$SERVICE_USER:" "$(p /etc/passwd)" 2>/dev/null; then
        system usermod --append --groups gpio,dialout "$SERVICE_USER"
        say "  exists; group membership repaired"
    else
        system useradd --system --user-group --no-create-home --home-dir "$DATA_DIR" \
            --shell /usr/sbin/nologin --groups gpio,dialout \
            --comment "Nightswitch PBX day/night controller" "$SERVICE_USER"
        say "  created"
    fi
}

stage_source() {
    # A copy of this source tree under PREFIX/src: pip installs from it (it is inside
    # the root, which chroot needs), and install.sh stays on the machine for repairs and
    # --uninstall even if the download is deleted.
    local dest
    dest=$(p "$PREFIX/src")
    [ "$SRC_DIR" = "$dest" ] && return 0
    case "$dest/" in
        "$SRC_DIR"/*) die "the source in $SRC_DIR would be copied into itself; unpack it outside $(p "$PREFIX") or choose another --prefix" ;;
    esac
    rm -rf "$dest.new"
    mkdir -p "$dest.new"
    tar -C "$SRC_DIR" \
        --exclude=./.git --exclude=./.venv --exclude=./venv --exclude=./var \
        --exclude='*.egg-info' --exclude=./build --exclude=__pycache__ \
        --exclude=.pytest_cache --exclude=.hypothesis --exclude=.benchmarks \
        --exclude=node_modules \
        -cf - . | tar -C "$dest.new" -xf -
    rm -rf "$dest"
    mv "$dest.new" "$dest"
}

install_program() {
    step "Program in $PREFIX (virtual environment with the system's lgpio)"
    mkdir -p "$(p "$PREFIX")"
    stage_source
    local venv=$PREFIX/venv
    if [ "$TEST_MODE" = 1 ]; then
        # A venv with pip would need the network; link to the interpreter and command
        # the test runs with (the project is installed there).
        test_log "python3 -m venv --system-site-packages $venv"
        test_log "$venv/bin/python -m pip install --upgrade $PREFIX/src"
        local py cmd
        py=$(command -v python3) || die "test mode needs python3 on PATH"
        cmd=$(command -v "$APP") || die "test mode needs the '$APP' command on PATH (pip install -e .)"
        mkdir -p "$(p "$venv/bin")"
        # A script, not a link: Python finds its venv from the path it was started by,
        # and a link from here into the test's venv would start it outside that venv.
        rm -f "$(p "$venv/bin/python")"
        printf '#!/bin/sh\nexec %q "$@"\n' "$py" >"$(p "$venv/bin/python")"
        chmod 755 "$(p "$venv/bin/python")"
        ln -sfn "$cmd" "$(p "$venv/bin/$APP")"
        link_command
        return 0
    fi
    if [ ! -x "$(p "$venv/bin/python")" ]; then
        # --system-site-packages: python3-lgpio comes from apt, not PyPI (PEP 668 keeps
        # pip out of the system Python, so the venv is where pip may work).
        system python3 -m venv --system-site-packages "$venv"
    fi
    system "$venv/bin/python" -m pip install --quiet --upgrade pip
    system "$venv/bin/python" -m pip install --quiet --upgrade "$PREFIX/src"
    system "$venv/bin/$APP" --version
    link_command
}

link_command() {
    # `sudo nightswitch status` from any shell: the command itself lives in the venv.
    mkdir -p "$(p /usr/local/bin)"
    ln -sfn "$PREFIX/venv/bin/$APP" "$(p "/usr/local/bin/$APP")"
}

site_timezone() {
    local tz="" link=""
    if [ -r "$(p /etc/timezone)" ]; then
        tz=$(head -n 1 "$(p /etc/timezone)")
    fi
    if [ -z "$tz" ] && [ -L "$(p /etc/localtime)" ]; then
        # /etc/localtime -> /usr/share/zoneinfo/Europe/Berlin
        link=$(readlink "$(p /etc/localtime)")
        case "$link" in
            *zoneinfo/*) tz=${link#*zoneinfo/} ;;
        esac
    fi
    if [ -z "$tz" ]; then
        warn "cannot tell this Pi's time zone; writing Etc/UTC into [site] - set it with raspi-config and edit $CONF_DIR/$APP.toml"
        tz=Etc/UTC
    fi
    printf '%s' "$tz"
}

site_hostname() {
    local name=""
    [ -r "$(p /etc/hostname)" ] && name=$(head -n 1 "$(p /etc/hostname)")
    [ -n "$name" ] || name=$(hostname 2>/dev/null || echo raspberrypi)
    printf '%s' "$name"
}

write_config() {
    step "Configuration in $CONF_DIR"
    local dir config tmp
    dir=$(p "$CONF_DIR")
    config=$dir/$APP.toml
    mkdir -p "$dir/profiles"
    chmod 0750 "$dir" "$dir/profiles"
    own "root:$SERVICE_USER" "$dir" "$dir/profiles"
    if [ -e "$config" ]; then
        say "  $CONF_DIR/$APP.toml exists: left as it is (never overwritten)"
    else
        tmp=$(mktemp "$dir/.$APP.toml.XXXXXX")
        {
            say "# Nightswitch configuration for this site, written by install.sh on first install."
            say "# install.sh never overwrites it.  Check it with: nightswitch check"
            say "# The sections below [site] are hardware/pinmap.toml, the default wiring."
            say ""
            say "[site]"
            say "name = \"$(site_hostname)\""
            say "timezone = \"$(site_timezone)\""
            say ""
            cat "$SRC_DIR/hardware/pinmap.toml"
        } > "$tmp"
        chmod 0640 "$tmp"
        mv "$tmp" "$config"
        say "  wrote $CONF_DIR/$APP.toml (the default wiring; edit it for this site)"
    fi
    chmod 0640 "$config"
    own "root:$SERVICE_USER" "$config"
    [ -f "$dir/profiles/README" ] || {
        say "Site PBX profiles: put <name>.toml here and name it in $APP.toml (profile = \"<name>\")." \
            > "$dir/profiles/README"
    }
    chmod 0640 "$dir/profiles/README"
    own "root:$SERVICE_USER" "$dir/profiles/README"
}

make_data_dir() {
    step "Data directory $DATA_DIR"
    local dir
    dir=$(p "$DATA_DIR")
    mkdir -p "$dir"
    chmod 0750 "$dir"
    own "$SERVICE_USER:$SERVICE_USER" "$dir"
}

boot_file() {
    # raspi-config's rule: Bookworm mounts the boot partition at /boot/firmware.
    local name=$1
    if [ -e "$(p "/boot/firmware/$name")" ]; then
        printf '%s' "/boot/firmware/$name"
    elif [ -e "$(p "/boot/$name")" ]; then
        printf '%s' "/boot/$name"
    fi
}

# The file with our block taken out.  Refuses a damaged block rather than guessing
# where it ends and deleting the site's own lines.
strip_block() {
    local file=$1 begins ends
    begins=$(grep -cxF "$BEGIN_MARK" "$file" || true)
    ends=$(grep -cxF "$END_MARK" "$file" || true)
    if [ "$begins" != "$ends" ] || [ "$begins" -gt 1 ]; then
        die "$file has a damaged nightswitch block ($begins '$BEGIN_MARK' lines, $ends '$END_MARK' lines); repair it by hand"
    fi
    awk -v b="$BEGIN_MARK" -v e="$END_MARK" '
        $0 == b { skip = 1; next }
        $0 == e { skip = 0; next }
        !skip { print }' "$file"
}

merge_boot_config() {
    step "Boot configuration (config.txt)"
    local rel file tmp
    rel=$(boot_file config.txt)
    if [ -z "$rel" ]; then
        warn "no /boot/firmware/config.txt or /boot/config.txt: relay pins are NOT held off at boot; add firmware/config.txt to the boot configuration by hand"
        PROBLEMS+=("boot configuration not updated (no config.txt found)")
        return 0
    fi
    file=$(p "$rel")
    [ -e "$file$BACKUP_SUFFIX" ] || cp -p "$file" "$file$BACKUP_SUFFIX"
    tmp=$(mktemp)
    if grep -qxF "$BEGIN_MARK" "$file"; then
        strip_block "$file" >/dev/null   # refuses a damaged block before anything changes
        # Replace the block where it stands: site lines after it must keep overriding it.
        awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v frag="$SRC_DIR/firmware/config.txt" '
            $0 == b { print; while ((getline line < frag) > 0) print line; skip = 1; next }
            $0 == e { skip = 0 }
            !skip { print }' "$file" > "$tmp"
    else
        {
            cat "$file"
            # a file without a final newline must not glue its last line to the marker
            [ -z "$(tail -c 1 "$file")" ] || say ""
            say "$BEGIN_MARK"
            cat "$SRC_DIR/firmware/config.txt"
            say "$END_MARK"
        } > "$tmp"
    fi
    if cmp -s "$tmp" "$file"; then
        say "  $rel already has the current nightswitch block"
    else
        # Same directory, then rename: the boot partition is FAT, so keep the window in
        # which a power cut leaves a half-written config.txt as short as possible.
        cp "$tmp" "$file.new"
        sync "$file.new" 2>/dev/null || sync
        mv -f "$file.new" "$file"
        say "  $rel: nightswitch block written (original kept as config.txt$BACKUP_SUFFIX)"
        REBOOT_NEEDED=1
    fi
    rm -f "$tmp"
}

have_raspi_config() {
    if [ "$ROOT" = / ]; then
        command -v raspi-config >/dev/null
    else
        # raspi-config edits the running system's /boot: only usable under test mode,
        # where it is stubbed.
        [ "$TEST_MODE" = 1 ] && [ -x "$ROOT/usr/bin/raspi-config" ]
    fi
}

disable_serial_console() {
    step "Serial port: no login console on the PBX line"
    if have_raspi_config; then
        # 1 = disable the console, 0 = enable the UART (raspi-config's convention).
        system raspi-config nonint do_serial_cons 1
        system raspi-config nonint do_serial_hw 0
        say "  raspi-config: serial console off, UART on"
        REBOOT_NEEDED=1
        return 0
    fi
    local rel file new
    rel=$(boot_file cmdline.txt)
    if [ -z "$rel" ]; then
        warn "no raspi-config and no cmdline.txt: make sure no console= points at serial0/ttyAMA0/ttyS0"
        return 0
    fi
    file=$(p "$rel")
    # The kernel command line is one line; drop only the serial console entries, keep
    # everything else (console=tty1, root=, ...) exactly as it is.
    new=$(tr ' ' '\n' < "$file" | { grep -v -E '^console=(serial0|ttyAMA0|ttyS0),' || true; } \
        | tr '\n' ' ' | sed 's/ *$//')
    if [ "$new" = "$(sed 's/ *$//' "$file")" ]; then
        say "  $rel has no serial console"
        return 0
    fi
    [ -e "$file$BACKUP_SUFFIX" ] || cp -p "$file" "$file$BACKUP_SUFFIX"
    printf '%s\n' "$new" > "$file.new"
    mv -f "$file.new" "$file"
    say "  $rel: serial console removed (original kept as cmdline.txt$BACKUP_SUFFIX)"
    REBOOT_NEEDED=1
}

disable_bluetooth_uart() {
    # On Pi 3/4/Zero W, hciuart would try to bring up Bluetooth on the UART that
    # dtoverlay=disable-bt just gave to the PBX port.
    if [ "$IS_PI5" = 0 ] && [ -e "$(p /lib/systemd/system/hciuart.service)" ]; then
        system systemctl disable hciuart.service
    fi
}

install_system_files() {
    step "udev rule, kernel modules and hardware watchdog"
    local changed
    changed=$(put_file "$SRC_DIR/systemd/90-nightswitch.rules" /etc/udev/rules.d/90-nightswitch.rules 0644)
    if [ -n "$changed" ]; then
        say "  /etc/udev/rules.d/90-nightswitch.rules: ModemManager leaves USB-serial adapters alone"
        if [ "$ROOT" = / ] || [ "$TEST_MODE" = 1 ]; then
            system udevadm control --reload-rules
            system udevadm trigger --subsystem-match=tty --subsystem-match=gpio
        fi
    fi
    put_file "$SRC_DIR/systemd/nightswitch-modules.conf" /etc/modules-load.d/nightswitch.conf 0644 >/dev/null
    changed=$(put_file "$SRC_DIR/systemd/nightswitch-watchdog.conf" \
        /etc/systemd/system.conf.d/nightswitch-watchdog.conf 0644)
    if [ -n "$changed" ]; then
        say "  systemd now feeds the hardware watchdog (RuntimeWatchdogSec=14)"
        if [ "$ROOT" = / ] || [ "$TEST_MODE" = 1 ]; then
            system systemctl daemon-reexec
        fi
    fi
    if [ -e "$(p /etc/systemd/system/multi-user.target.wants/watchdog.service)" ]; then
        warn "the 'watchdog' daemon is enabled as well; one owner per watchdog: disable it (systemctl disable --now watchdog)"
    fi
}

# ---- HTTPS front (--tls) ----------------------------------------------------------------

readonly TLS_DIR=/etc/nightswitch/tls
readonly NGINX_SITE=/etc/nginx/sites-available/nightswitch
TLS_FINGERPRINT=""

# The appliance must listen on loopback only, or the page stays reachable without TLS.
# The config is never overwritten: a [web] table is added when it has none, and a
# [web] table that says otherwise is the installer's to change.
tls_listen_on_loopback() {
    local config listen
    config=$(p "$CONF_DIR/$APP.toml")
    if ! grep -q '^\[web\]' "$config"; then
        {
            say ""
            say "# Added by install.sh --tls: nginx serves HTTPS and passes requests to"
            say "# the appliance on this machine only."
            say "[web]"
            say "listen = \"127.0.0.1:$WEB_PORT\""
        } >> "$config"
        say "  $CONF_DIR/$APP.toml: [web] listen = \"127.0.0.1:$WEB_PORT\" added"
        return 0
    fi
    listen=$(sed -n '/^\[web\]/,/^\[/{s/^listen *= *"\(.*\)".*/\1/p}' "$config" | head -n 1)
    case "$listen" in
        127.0.0.1:"$WEB_PORT"|localhost:"$WEB_PORT"|"[::1]:$WEB_PORT")
            say "  $CONF_DIR/$APP.toml already listens on $listen" ;;
        *)
            warn "$CONF_DIR/$APP.toml has a [web] table with listen = \"${listen:-0.0.0.0:$WEB_PORT}\"; set listen = \"127.0.0.1:$WEB_PORT\" there, or the page stays reachable over plain HTTP on port $WEB_PORT"
            PROBLEMS+=("set [web] listen = \"127.0.0.1:$WEB_PORT\" in $CONF_DIR/$APP.toml for --tls") ;;
    esac
}

setup_tls() {
    step "HTTPS: nginx in front of the appliance"
    local dir cert key name addresses=() site tmp
    system env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx openssl
    dir=$(p "$TLS_DIR")
    mkdir -p "$dir"
    chmod 0750 "$dir"
    cert=$dir/nightswitch.crt
    key=$dir/nightswitch.key
    if [ -n "$TLS_CERT" ]; then
        install -m 0644 "$TLS_CERT" "$cert.new" && mv -f "$cert.new" "$cert"
        install -m 0600 "$TLS_KEY" "$key.new" && mv -f "$key.new" "$key"
        say "  certificate: $TLS_CERT (copied to $TLS_DIR)"
    elif [ -f "$cert" ] && [ -f "$key" ]; then
        say "  certificate: $TLS_DIR/nightswitch.crt (kept)"
    else
        name=$(site_hostname)
        if [ "$TEST_MODE" = 0 ]; then
            read -r -a addresses <<< "$(hostname -I 2>/dev/null || true)"
        fi
        bash "$SRC_DIR/tls/make-cert.sh" "$cert" "$key" "$name" "${addresses[@]}"
        say "  certificate: self-signed for $name, $name.local${addresses[*]:+ and ${addresses[*]}}"
    fi
    chmod 0600 "$key"
    own "root:root" "$dir" "$cert" "$key"
    TLS_FINGERPRINT=$(openssl x509 -in "$cert" -noout -fingerprint -sha256 | sed 's/^.*=//')
    site=$(p "$NGINX_SITE")
    mkdir -p "$(dirname "$site")" "$(p /etc/nginx/sites-enabled)"
    tmp=$(mktemp)
    sed -e "s#@HTTP_LISTEN@#80#; s#@HTTPS_LISTEN@#443#; s#@HTTPS_SUFFIX@##" \
        -e "s#@CERT@#$TLS_DIR/nightswitch.crt#; s#@KEY@#$TLS_DIR/nightswitch.key#" \
        -e "s#@UPSTREAM@#127.0.0.1:$WEB_PORT#" "$SRC_DIR/tls/nginx-nightswitch.conf.in" > "$tmp"
    put_file "$tmp" "$NGINX_SITE" 0644 >/dev/null
    rm -f "$tmp"
    ln -sfn "$NGINX_SITE" "$(p /etc/nginx/sites-enabled/nightswitch)"
    # Debian's welcome page would take port 80 from the redirect.
    if [ -L "$(p /etc/nginx/sites-enabled/default)" ]; then
        rm -f "$(p /etc/nginx/sites-enabled/default)"
        say "  Debian's default nginx site disabled (it held port 80)"
    fi
    tls_listen_on_loopback
    if [ "$ROOT" = / ] || [ "$TEST_MODE" = 1 ]; then
        system nginx -t -q
        system systemctl enable nginx.service
        system systemctl reload-or-restart nginx.service
    fi
}

install_unit() {
    step "systemd service"
    local tmp fresh=1
    [ -e "$(p /etc/systemd/system/$APP.service)" ] && fresh=0
    tmp=$(mktemp)
    # The unit names /opt/nightswitch; follow --prefix.
    sed "s#/opt/nightswitch#$PREFIX#g" "$SRC_DIR/systemd/$APP.service" > "$tmp"
    put_file "$tmp" "/etc/systemd/system/$APP.service" 0644 >/dev/null
    rm -f "$tmp"
    if [ "$ROOT" != / ] && [ "$TEST_MODE" = 0 ]; then
        # Preparing an image: enable it for its first boot; nothing runs here.
        systemctl --root="$ROOT" enable "$APP.service"
        return 0
    fi
    system systemctl daemon-reload
    if [ "$fresh" = 1 ]; then
        system systemctl enable --now "$APP.service"
    else
        system systemctl enable "$APP.service"
        system systemctl restart "$APP.service"
    fi
}

# Run the installed nightswitch (or its python) as the service user, so whatever it
# creates in the data directory belongs to the daemon.
as_service() {
    local tool=$1
    shift
    # From /, so "python -" never imports a checkout in the current directory.
    if [ "$TEST_MODE" = 1 ]; then
        (cd / && "$(p "$PREFIX/venv/bin/$tool")" "$@")
    elif [ "$ROOT" = / ]; then
        (cd / && runuser -u "$SERVICE_USER" -- "$PREFIX/venv/bin/$tool" "$@")
    else
        chroot "$ROOT" runuser -u "$SERVICE_USER" -- "$PREFIX/venv/bin/$tool" "$@"
    fi
}

data_arg() {
    if [ "$TEST_MODE" = 1 ]; then p "$DATA_DIR"; else printf '%s' "$DATA_DIR"; fi
}

check_config() {
    local config out
    if [ "$TEST_MODE" = 1 ]; then config=$(p "$CONF_DIR/$APP.toml"); else config=$CONF_DIR/$APP.toml; fi
    if out=$(as_service "$APP" check --config "$config" 2>&1); then
        say "  nightswitch check: config OK"
    else
        warn "nightswitch check does not accept $CONF_DIR/$APP.toml yet: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
        PROBLEMS+=("the config needs attention: run 'nightswitch check'")
    fi
}

ADMIN_PASSWORD=""
create_first_admin() {
    step "First administrator"
    local count out
    # Count admins through the store itself (docs/CONTRACTS.md, Store.list_users), so
    # a site that renamed or replaced 'admin' never gets a second one.
    if ! count=$(as_service python - "$(data_arg)" <<'PY'
import sys
from appliance.store import Store
store = Store(sys.argv[1])
try:
    print(sum(1 for user in store.list_users() if user.get("role") == "admin"))
finally:
    store.close()
PY
    ); then
        warn "could not read the user list in $DATA_DIR"
        PROBLEMS+=("no admin checked or created: run 'sudo -u $SERVICE_USER $PREFIX/venv/bin/$APP user add admin --role admin --generate-password'")
        return 0
    fi
    count=$(printf '%s' "$count" | tail -n 1)
    if [ "$count" != 0 ]; then
        say "  an administrator exists already; none added"
        return 0
    fi
    if ! out=$(as_service "$APP" user add admin --role admin --generate-password --data "$(data_arg)" 2>&1); then
        warn "could not create the first admin: $(printf '%s' "$out" | tail -n 1)"
        PROBLEMS+=("no admin: run 'sudo -u $SERVICE_USER $PREFIX/venv/bin/$APP user add admin --role admin --generate-password'")
        return 0
    fi
    # The command prints the password as the last word of its last line.
    ADMIN_PASSWORD=$(printf '%s\n' "$out" | tail -n 1 | awk '{ print $NF }')
    say "  created user 'admin'"
}

print_summary() {
    local host ip
    host=$(site_hostname)
    ip=$(hostname -I 2>/dev/null | awk '{ print $1 }') || ip=""
    step "Done"
    if [ "$TLS" = 1 ]; then
        say "  Web page:  https://$host.local/"
        [ -n "$ip" ] && say "             https://$ip/"
        say "  Certificate SHA-256 fingerprint (check it when the browser asks):"
        say "             $TLS_FINGERPRINT"
    else
        say "  Web page:  http://$host.local:$WEB_PORT/"
        [ -n "$ip" ] && say "             http://$ip:$WEB_PORT/"
    fi
    if [ -n "$ADMIN_PASSWORD" ]; then
        say ""
        say "  Log in as 'admin' with password:  $ADMIN_PASSWORD"
        say "  It is shown only this once, and works once: at the first login the page"
        say "  asks for a password of your own before anything else."
    fi
    say ""
    say "  Logs:      journalctl -u $APP -f"
    say "  Config:    $CONF_DIR/$APP.toml   (check it: $APP check)"
    if [ "$REBOOT_NEEDED" = 1 ]; then
        say ""
        say "  REBOOT NOW (sudo reboot): the relay pins' boot levels, the UART and the"
        say "  watchdog in config.txt only take effect after a restart."
    fi
    if [ "$REBOOT_NEEDED" = 1 ] && [ "$UNATTENDED" = 0 ] && [ "$TEST_MODE" = 0 ] \
        && [ "$ROOT" = / ] && [ ${#PROBLEMS[@]} -eq 0 ] && [ -t 0 ]; then
        local answer=""
        read -r -p "  Reboot now? [y/N] " answer || answer=""
        case "$answer" in
            y|Y|yes|YES) system systemctl reboot ;;
        esac
    fi
    if [ ${#PROBLEMS[@]} -gt 0 ]; then
        say ""
        local problem
        for problem in "${PROBLEMS[@]}"; do
            warn "$problem"
        done
    fi
}

do_install() {
    need_root "$@"
    step "Nightswitch install into ${ROOT%/}${PREFIX} (root: $ROOT)"
    start_test_log
    check_os
    detect_pi
    install_packages
    create_user
    install_program
    write_config
    make_data_dir
    [ "$TLS" = 0 ] || setup_tls
    merge_boot_config
    disable_serial_console
    disable_bluetooth_uart
    install_system_files
    if [ "$ROOT" = / ] || [ "$TEST_MODE" = 1 ]; then
        step "Checks"
        check_config
        create_first_admin
    else
        say "  (image preparation: the first admin is created by install.sh on the Pi itself)"
    fi
    install_unit
    print_summary
    [ ${#PROBLEMS[@]} -eq 0 ] || exit 1
}

# ---- uninstall ------------------------------------------------------------------------

restore_boot_config() {
    local rel file backup tmp
    rel=$(boot_file config.txt)
    [ -n "$rel" ] || return 0
    file=$(p "$rel")
    backup=$file$BACKUP_SUFFIX
    if grep -qxF "$BEGIN_MARK" "$file"; then
        tmp=$(mktemp)
        strip_block "$file" > "$tmp"
        cp "$tmp" "$file.new"
        mv -f "$file.new" "$file"
        rm -f "$tmp"
        say "  $rel: nightswitch block removed (takes effect at the next reboot)"
    fi
    if [ -e "$backup" ]; then
        if cmp -s "$file" "$backup"; then
            rm -f "$backup"
        else
            say "  kept ${rel}$BACKUP_SUFFIX: config.txt was also changed by someone else since"
        fi
    fi
}

do_uninstall() {
    need_root "$@"
    step "Nightswitch uninstall from ${ROOT%/}${PREFIX}"
    start_test_log
    if [ -e "$(p /etc/systemd/system/$APP.service)" ]; then
        if [ "$ROOT" = / ] || [ "$TEST_MODE" = 1 ]; then
            system systemctl disable --now "$APP.service"
        else
            systemctl --root="$ROOT" disable "$APP.service"
        fi
    fi
    remove_path "/etc/systemd/system/$APP.service"
    remove_path "/usr/local/bin/$APP"
    remove_path /etc/udev/rules.d/90-nightswitch.rules
    remove_path /etc/modules-load.d/nightswitch.conf
    remove_path /etc/systemd/system.conf.d/nightswitch-watchdog.conf
    rmdir "$(p /etc/systemd/system.conf.d)" 2>/dev/null || true
    if [ -e "$(p "$NGINX_SITE")" ]; then
        remove_path /etc/nginx/sites-enabled/nightswitch
        remove_path "$NGINX_SITE"
        if [ "$ROOT" = / ] || [ "$TEST_MODE" = 1 ]; then
            system systemctl reload-or-restart nginx.service
        fi
        say "  nginx no longer serves the appliance (nginx itself and $TLS_DIR are kept)"
    fi
    if [ "$ROOT" = / ] || [ "$TEST_MODE" = 1 ]; then
        system systemctl daemon-reload
        system systemctl daemon-reexec
        system udevadm control --reload-rules
    fi
    restore_boot_config
    remove_path "$PREFIX"
    if [ "$PURGE" = 1 ]; then
        remove_path "$CONF_DIR"
        remove_path "$DATA_DIR"
        if grep -q "^$SERVICE_USER:" "$(p /etc/passwd)" 2>/dev/null || [ "$TEST_MODE" = 1 ]; then
            system userdel "$SERVICE_USER"
        fi
        say "  config, data and the '$SERVICE_USER' user deleted"
    elif [ -e "$(p "$CONF_DIR")" ] || [ -e "$(p "$DATA_DIR")" ]; then
        say "  kept $CONF_DIR (config) and $DATA_DIR (schedule, users, audit, calls);"
        say "  --uninstall --purge deletes them"
    fi
    say ""
    say "  Left in place: the Debian packages (${APT_PACKAGES[*]})."
    say "  The serial login console stays off (a console on a PBX port would type into"
    say "  the PBX); turn it back on with: raspi-config nonint do_serial_cons 0"
    [ -n "$(boot_file cmdline.txt)" ] && [ -e "$(p "$(boot_file cmdline.txt)")$BACKUP_SUFFIX" ] \
        && say "  (the original kernel command line is in $(boot_file cmdline.txt)$BACKUP_SUFFIX)"
    return 0
}

main() {
    parse_args "$@"
    case "$ACTION" in
        install) do_install "$@" ;;
        uninstall) do_uninstall "$@" ;;
    esac
}

main "$@"
