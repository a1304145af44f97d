package deps
import (
_ "github.com/mdlayher/genetlink"
_ "github.com/mdlayher/netlink"
_ "github.com/vishvananda/netlink"
_ "golang.org/x/net/ipv4"
_ "golang.org/x/net/ipv6"
_ "golang.org/x/net/icmp"
_ "go.uber.org/zap"
_ "github.com/spf13/viper"
_ "github.com/google/go-cmp/cmp"
_ "golang.org/x/sys/unix"
_ "github.com/mdlayher/arp"
_ "github.com/mdlayher/ndp"
)
