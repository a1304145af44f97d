// Package ipvsuapi holds the constants of the kernel's IPVS generic netlink
// interface, named exactly as in include/uapi/linux/ip_vs.h of Linux v6.12
// (the generic netlink part of the header has been unchanged since v5.3,
// which added the tunnel attributes), plus the few netlink and generic
// netlink control constants pkg/ipvs packs by hand.
//
// Nothing here is computed: each value is transcribed from the header it
// names, so a reader can check it line by line.
package ipvsuapi

// From include/uapi/linux/ip_vs.h.
const (
	IP_VS_VERSION_CODE = 0x010201

	// Virtual service flags.
	IP_VS_SVC_F_PERSISTENT = 0x0001
	IP_VS_SVC_F_HASHED     = 0x0002
	IP_VS_SVC_F_ONEPACKET  = 0x0004
	IP_VS_SVC_F_SCHED1     = 0x0008
	IP_VS_SVC_F_SCHED2     = 0x0010
	IP_VS_SVC_F_SCHED3     = 0x0020

	IP_VS_SVC_F_SCHED_SH_FALLBACK = IP_VS_SVC_F_SCHED1
	IP_VS_SVC_F_SCHED_SH_PORT     = IP_VS_SVC_F_SCHED2

	// Destination server flags.
	IP_VS_DEST_F_AVAILABLE = 0x0001
	IP_VS_DEST_F_OVERLOAD  = 0x0002

	// Sync daemon states.
	IP_VS_STATE_NONE   = 0x0000
	IP_VS_STATE_MASTER = 0x0001
	IP_VS_STATE_BACKUP = 0x0002

	// Connection flags (the forwarding method is the low three bits).
	IP_VS_CONN_F_FWD_MASK   = 0x0007
	IP_VS_CONN_F_MASQ       = 0x0000
	IP_VS_CONN_F_LOCALNODE  = 0x0001
	IP_VS_CONN_F_TUNNEL     = 0x0002
	IP_VS_CONN_F_DROUTE     = 0x0003
	IP_VS_CONN_F_BYPASS     = 0x0004
	IP_VS_CONN_F_SYNC       = 0x0020
	IP_VS_CONN_F_HASHED     = 0x0040
	IP_VS_CONN_F_NOOUTPUT   = 0x0080
	IP_VS_CONN_F_INACTIVE   = 0x0100
	IP_VS_CONN_F_OUT_SEQ    = 0x0200
	IP_VS_CONN_F_IN_SEQ     = 0x0400
	IP_VS_CONN_F_SEQ_MASK   = 0x0600
	IP_VS_CONN_F_NO_CPORT   = 0x0800
	IP_VS_CONN_F_TEMPLATE   = 0x1000
	IP_VS_CONN_F_ONE_PACKET = 0x2000
	IP_VS_CONN_F_NFCT       = 1 << 16

	IP_VS_SCHEDNAME_MAXLEN = 16
	IP_VS_PENAME_MAXLEN    = 16
	IP_VS_IFNAME_MAXLEN    = 16
	IP_VS_PEDATA_MAXLEN    = 255

	// Tunnel types.
	IP_VS_CONN_F_TUNNEL_TYPE_IPIP = 0
	IP_VS_CONN_F_TUNNEL_TYPE_GUE  = 1
	IP_VS_CONN_F_TUNNEL_TYPE_GRE  = 2
	IP_VS_CONN_F_TUNNEL_TYPE_MAX  = 3

	// Tunnel encapsulation flags.
	IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM  = 0
	IP_VS_TUNNEL_ENCAP_FLAG_CSUM    = 1 << 0
	IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM = 1 << 1

	// Generic netlink family.
	IPVS_GENL_NAME    = "IPVS"
	IPVS_GENL_VERSION = 0x1

	// Commands.
	IPVS_CMD_UNSPEC      = 0
	IPVS_CMD_NEW_SERVICE = 1
	IPVS_CMD_SET_SERVICE = 2
	IPVS_CMD_DEL_SERVICE = 3
	IPVS_CMD_GET_SERVICE = 4
	IPVS_CMD_NEW_DEST    = 5
	IPVS_CMD_SET_DEST    = 6
	IPVS_CMD_DEL_DEST    = 7
	IPVS_CMD_GET_DEST    = 8
	IPVS_CMD_NEW_DAEMON  = 9
	IPVS_CMD_DEL_DAEMON  = 10
	IPVS_CMD_GET_DAEMON  = 11
	IPVS_CMD_SET_CONFIG  = 12
	IPVS_CMD_GET_CONFIG  = 13
	IPVS_CMD_SET_INFO    = 14
	IPVS_CMD_GET_INFO    = 15
	IPVS_CMD_ZERO        = 16
	IPVS_CMD_FLUSH       = 17
	IPVS_CMD_MAX         = 17

	// First-level command attributes.
	IPVS_CMD_ATTR_UNSPEC          = 0
	IPVS_CMD_ATTR_SERVICE         = 1
	IPVS_CMD_ATTR_DEST            = 2
	IPVS_CMD_ATTR_DAEMON          = 3
	IPVS_CMD_ATTR_TIMEOUT_TCP     = 4
	IPVS_CMD_ATTR_TIMEOUT_TCP_FIN = 5
	IPVS_CMD_ATTR_TIMEOUT_UDP     = 6
	IPVS_CMD_ATTR_MAX             = 6

	// Service attributes (nested in IPVS_CMD_ATTR_SERVICE).
	IPVS_SVC_ATTR_UNSPEC     = 0
	IPVS_SVC_ATTR_AF         = 1
	IPVS_SVC_ATTR_PROTOCOL   = 2
	IPVS_SVC_ATTR_ADDR       = 3
	IPVS_SVC_ATTR_PORT       = 4
	IPVS_SVC_ATTR_FWMARK     = 5
	IPVS_SVC_ATTR_SCHED_NAME = 6
	IPVS_SVC_ATTR_FLAGS      = 7
	IPVS_SVC_ATTR_TIMEOUT    = 8
	IPVS_SVC_ATTR_NETMASK    = 9
	IPVS_SVC_ATTR_STATS      = 10
	IPVS_SVC_ATTR_PE_NAME    = 11
	IPVS_SVC_ATTR_STATS64    = 12
	IPVS_SVC_ATTR_MAX        = 12

	// Destination attributes (nested in IPVS_CMD_ATTR_DEST).
	IPVS_DEST_ATTR_UNSPEC        = 0
	IPVS_DEST_ATTR_ADDR          = 1
	IPVS_DEST_ATTR_PORT          = 2
	IPVS_DEST_ATTR_FWD_METHOD    = 3
	IPVS_DEST_ATTR_WEIGHT        = 4
	IPVS_DEST_ATTR_U_THRESH      = 5
	IPVS_DEST_ATTR_L_THRESH      = 6
	IPVS_DEST_ATTR_ACTIVE_CONNS  = 7
	IPVS_DEST_ATTR_INACT_CONNS   = 8
	IPVS_DEST_ATTR_PERSIST_CONNS = 9
	IPVS_DEST_ATTR_STATS         = 10
	IPVS_DEST_ATTR_ADDR_FAMILY   = 11
	IPVS_DEST_ATTR_STATS64       = 12
	IPVS_DEST_ATTR_TUN_TYPE      = 13
	IPVS_DEST_ATTR_TUN_PORT      = 14
	IPVS_DEST_ATTR_TUN_FLAGS     = 15
	IPVS_DEST_ATTR_MAX           = 15

	// Sync daemon attributes (nested in IPVS_CMD_ATTR_DAEMON).
	IPVS_DAEMON_ATTR_UNSPEC       = 0
	IPVS_DAEMON_ATTR_STATE        = 1
	IPVS_DAEMON_ATTR_MCAST_IFN    = 2
	IPVS_DAEMON_ATTR_SYNC_ID      = 3
	IPVS_DAEMON_ATTR_SYNC_MAXLEN  = 4
	IPVS_DAEMON_ATTR_MCAST_GROUP  = 5
	IPVS_DAEMON_ATTR_MCAST_GROUP6 = 6
	IPVS_DAEMON_ATTR_MCAST_PORT   = 7
	IPVS_DAEMON_ATTR_MCAST_TTL    = 8
	IPVS_DAEMON_ATTR_MAX          = 8

	// Statistics attributes (nested in *_ATTR_STATS and *_ATTR_STATS64).
	IPVS_STATS_ATTR_UNSPEC   = 0
	IPVS_STATS_ATTR_CONNS    = 1
	IPVS_STATS_ATTR_INPKTS   = 2
	IPVS_STATS_ATTR_OUTPKTS  = 3
	IPVS_STATS_ATTR_INBYTES  = 4
	IPVS_STATS_ATTR_OUTBYTES = 5
	IPVS_STATS_ATTR_CPS      = 6
	IPVS_STATS_ATTR_INPPS    = 7
	IPVS_STATS_ATTR_OUTPPS   = 8
	IPVS_STATS_ATTR_INBPS    = 9
	IPVS_STATS_ATTR_OUTBPS   = 10
	IPVS_STATS_ATTR_PAD      = 11
	IPVS_STATS_ATTR_MAX      = 11

	// Attributes of the IPVS_CMD_GET_INFO reply.
	IPVS_INFO_ATTR_UNSPEC        = 0
	IPVS_INFO_ATTR_VERSION       = 1
	IPVS_INFO_ATTR_CONN_TAB_SIZE = 2
	IPVS_INFO_ATTR_MAX           = 2
)

// From net/netfilter/ipvs/ip_vs_mh.c (not exported in the uapi header, but
// part of the interface: the mh scheduler reads the same two bits as sh).
const (
	IP_VS_SVC_F_SCHED_MH_FALLBACK = IP_VS_SVC_F_SCHED1
	IP_VS_SVC_F_SCHED_MH_PORT     = IP_VS_SVC_F_SCHED2
)

// From include/uapi/linux/netlink.h.
const (
	NLMSG_HDRLEN = 16
	NLA_HDRLEN   = 4

	NLMSG_NOOP    = 0x1
	NLMSG_ERROR   = 0x2
	NLMSG_DONE    = 0x3
	NLMSG_OVERRUN = 0x4

	NLM_F_REQUEST   = 0x01
	NLM_F_MULTI     = 0x02
	NLM_F_ACK       = 0x04
	NLM_F_ECHO      = 0x08
	NLM_F_DUMP_INTR = 0x10
	NLM_F_ROOT      = 0x100
	NLM_F_MATCH     = 0x200
	NLM_F_DUMP      = NLM_F_ROOT | NLM_F_MATCH

	// Flags of NLMSG_ERROR messages.
	NLM_F_CAPPED   = 0x100
	NLM_F_ACK_TLVS = 0x200

	NLA_F_NESTED        = 1 << 15
	NLA_F_NET_BYTEORDER = 1 << 14
	NLA_TYPE_MASK       = ^(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff

	NETLINK_GENERIC = 16

	NETLINK_CAP_ACK = 10
	NETLINK_EXT_ACK = 11

	NLMSGERR_ATTR_MSG = 1
)

// From include/uapi/linux/genetlink.h.
const (
	GENL_HDRLEN = 4

	GENL_ID_CTRL = 0x10

	CTRL_CMD_GETFAMILY    = 3
	CTRL_ATTR_FAMILY_ID   = 1
	CTRL_ATTR_FAMILY_NAME = 2
)

// Address families and protocols (include/linux/socket.h, include/uapi/linux/in.h).
const (
	AF_INET  = 2
	AF_INET6 = 10

	IPPROTO_TCP  = 6
	IPPROTO_UDP  = 17
	IPPROTO_SCTP = 132
)
