// Package packaging tests the Debian package `make package` builds: its
// files, modes and conffiles (dpkg-deb), its systemd unit (systemd-analyze
// verify and security, with Debian 12's systemd 252 and a newer one from
// bookworm-backports), the generator that adapts the unit to systemd older
// than 253, its man pages (groff -ww, man), and, in the VM lab, the
// extracted daemon run from its installed paths as the unit runs it: a
// user of its own with CAP_NET_ADMIN and CAP_NET_RAW only, speaking the
// notify protocol to a fake NOTIFY_SOCKET while it programs real IPVS; and
// the unit under systemd itself (252, and 254 from bookworm-backports) as
// PID 1 of a namespace in the VM lab: start, sandbox, reload, watchdog, stop.
//
// The package is built once per run by TestMain (make package into a
// temporary directory), or taken from SEESAW_PACKAGE_DEB.
package packaging
