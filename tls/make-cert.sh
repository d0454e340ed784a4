#!/usr/bin/env bash
# Make a self-signed certificate for the appliance's HTTPS front (install.sh --tls).
#
# Usage: make-cert.sh CERT KEY NAME [ADDRESS...]
#
#   CERT, KEY   where to write the certificate (0644) and its private key (0600)
#   NAME        the appliance's host name; the certificate is for NAME, NAME.local and
#               localhost, and for each ADDRESS (IPv4 or IPv6) and 127.0.0.1
#
# An EC P-256 key, valid for ten years (an appliance in a cupboard; browsers warn about
# a self-signed certificate either way, and its fingerprint is what a person checks).
set -euo pipefail

if [ $# -lt 3 ]; then
    sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
cert=$1 key=$2 name=$3
shift 3
case "$name" in
    *[!A-Za-z0-9.-]*|"") echo "make-cert.sh: '$name' is not a host name" >&2; exit 2 ;;
esac
san="DNS:$name,DNS:$name.local,DNS:localhost,IP:127.0.0.1"
for address in "$@"; do
    case "$address" in
        *[!0-9A-Fa-f.:]*|"") echo "make-cert.sh: '$address' is not an address" >&2; exit 2 ;;
    esac
    [ "$address" = 127.0.0.1 ] || san="$san,IP:$address"
done
umask 077
tmp_key=$(mktemp "$(dirname "$key")/.key.XXXXXX")
tmp_cert=$(mktemp "$(dirname "$cert")/.cert.XXXXXX")
trap 'rm -f "$tmp_key" "$tmp_cert"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=$name" -addext "subjectAltName=$san" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
    -keyout "$tmp_key" -out "$tmp_cert" 2>/dev/null
chmod 0600 "$tmp_key"
chmod 0644 "$tmp_cert"
mv -f "$tmp_key" "$key"
mv -f "$tmp_cert" "$cert"
trap - EXIT
