module github.com/seesawd/seesawd/test/bench/ipvs

go 1.26.8

replace github.com/seesawd/seesawd => ../../..

require (
	github.com/cloudflare/ipvs v0.12.0
	github.com/moby/ipvs v1.1.0
)

require (
	github.com/google/go-cmp v0.6.0 // indirect
	github.com/mdlayher/genetlink v1.3.2 // indirect
	github.com/mdlayher/netlink v1.8.0 // indirect
	github.com/mdlayher/socket v0.5.1 // indirect
	github.com/sirupsen/logrus v1.9.0 // indirect
	github.com/vishvananda/netlink v1.1.0 // indirect
	github.com/vishvananda/netns v0.0.2 // indirect
	golang.org/x/net v0.53.0 // indirect
	golang.org/x/sync v0.20.0 // indirect
	golang.org/x/sys v0.43.0 // indirect
)
