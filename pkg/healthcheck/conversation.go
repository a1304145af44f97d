package healthcheck

// conversation is what a connector probe does once connected: write
// request, then feed what the server sends to judge until judge decides.
// A nil conversation is a bare connect.
type conversation struct {
	request []byte
	// judge looks at the reply so far (eof: the server closed or the
	// reply reached max) and says whether the verdict is in, and which.
	judge func(reply []byte, eof bool) (decided bool, detail string, err error)
	// max bounds the reply kept; reaching it counts as eof.
	max int
}
