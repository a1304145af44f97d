package vm

import (
	"bytes"
	"testing"
)

func TestLineFilter(t *testing.T) {
	var got bytes.Buffer
	f := &lineFilter{w: &got, drop: "RESULT "}
	for _, chunk := range []string{"boot", "ing\nRES", "ULT {\"a\":1}\nprogress 1\n", "last"} {
		if n, err := f.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	if got.String() != "booting\nprogress 1\n" {
		t.Errorf("forwarded %q, want the lines without the result line (and no partial line)", got.String())
	}
}
