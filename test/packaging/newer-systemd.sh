#!/bin/sh
# newer-systemd.sh DIR: unpack a systemd newer than 253 from Debian's
# bookworm-backports under DIR (nothing is installed) and print the path of
# a systemd-analyze wrapper that runs it. Debian 12's own systemd (252)
# predates Type=notify-reload; this one verifies the unit as shipped.
set -eu
dir=${1:?usage: newer-systemd.sh DIR}
wrapper=$dir/systemd-analyze
if [ -x "$wrapper" ] && "$wrapper" --version >/dev/null 2>&1; then
	echo "$wrapper"
	exit 0
fi
command -v apt-get >/dev/null || { echo "newer-systemd.sh: needs apt-get (Debian)" >&2; exit 1; }
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || { echo "newer-systemd.sh: written for Debian 12 (bookworm), this is ${VERSION_CODENAME:-unknown}" >&2; exit 1; }
mkdir -p "$dir"
apt=$(mktemp -d "$dir/.apt.XXXXXX")
trap 'rm -rf "$apt"' EXIT
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/deb"
# apt-get drops privileges to _apt, which must be able to write here.
chmod -R 0777 "$apt"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main" >"$apt/sources.list"
set -- -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null \
	-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -q
apt-get "$@" update >/dev/null
(cd "$apt/deb" && apt-get "$@" download -t bookworm-backports systemd libsystemd-shared >/dev/null)
rm -rf "$dir/root"
for deb in "$apt"/deb/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
lib=$(dirname "$(find "$dir/root" -name 'libsystemd-shared-*.so' | head -n1)")
cat >"$wrapper" <<WRAP
#!/bin/sh
LD_LIBRARY_PATH='$lib' exec '$dir/root/usr/bin/systemd-analyze' "\$@"
WRAP
chmod 0755 "$wrapper"
"$wrapper" --version >/dev/null
echo "$wrapper"
