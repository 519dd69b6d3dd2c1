#!/usr/bin/env bash
# Installs a Jarvis satellite as a systemd service on a Raspberry Pi (Raspberry Pi OS / Debian 12).
#
#   sudo deploy/satellite/install.sh --token TOKEN [--server tcp://192.168.1.10:10600] [--area kitchen] \
#        [--name kitchen-pi] [--mic-device NAME] [--snd-device NAME]
#
# Without --server the satellite finds the hub over zeroconf. Run it again to change settings.
# What it does: apt packages (PortAudio, venv), a system user in the `audio` group, a venv in
# /opt/jarvis-satellite with `jarvis[satellite]` (no faster-whisper, piper or onnxruntime),
# /etc/jarvis/satellite.env (mode 0600, holds the token), and the jarvis-satellite.service unit.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
prefix=/opt/jarvis-satellite
token="" ; args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --token) token="$2"; shift 2 ;;
        --server|--area|--name|--mic-device|--snd-device|--user|--satellite-id)
            args+=("$1" "$2"); shift 2 ;;
        --no-wake|--sounds) args+=("$1"); shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -n "$token" ] || { echo "--token is required (jarvis serve prints it)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo)" >&2; exit 1; }

echo "==> system packages"
apt-get update -qq
apt-get install -y -qq python3 python3-venv libportaudio2 alsa-utils >/dev/null

echo "==> user jarvis-satellite (groups: audio)"
id jarvis-satellite >/dev/null 2>&1 || \
    useradd --system --home-dir /var/lib/jarvis-satellite --shell /usr/sbin/nologin \
            --groups audio jarvis-satellite
usermod -a -G audio jarvis-satellite

echo "==> $prefix"
mkdir -p "$prefix"
rm -rf "$prefix/src" && cp -r "$src" "$prefix/src" && rm -rf "$prefix/src/.venv" "$prefix/src/.git"
[ -x "$prefix/venv/bin/python" ] || python3 -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install --quiet --upgrade pip
"$prefix/venv/bin/pip" install --quiet "$prefix/src[satellite]"

echo "==> /etc/jarvis/satellite.env"
install -d -m 0755 /etc/jarvis
umask 077
{
    echo "JARVIS_TOKEN=$token"
    printf 'JARVIS_SATELLITE_ARGS=%s\n' "${args[*]:-}"
} > /etc/jarvis/satellite.env
chown root:jarvis-satellite /etc/jarvis/satellite.env
chmod 0640 /etc/jarvis/satellite.env

echo "==> jarvis-satellite.service"
install -m 0644 "$here/jarvis-satellite.service" /etc/systemd/system/jarvis-satellite.service
systemctl daemon-reload
systemctl enable --now jarvis-satellite.service
systemctl --no-pager --lines=5 status jarvis-satellite.service || true
echo "Done. Logs: journalctl -u jarvis-satellite -f"
