package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// scrape GETs /metrics at addr and returns the body, or the error.
func scrape(addr string) (string, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// The metrics server follows metrics.listen: a port taken at start costs
// the metrics only (and a later listen retries), a new address closes the
// old one, "" turns them off.
func TestExporterListen(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	x := newExporter(zap.New(core))
	defer x.close()

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := busy.Addr().String()
	x.listen(a)
	if x.srv != nil {
		t.Fatal("serving on a taken port")
	}
	if logs.FilterMessageSnippet("running without metrics").Len() != 1 {
		t.Errorf("the failed listen is not logged: %v", logs.All())
	}
	busy.Close()
	x.listen(a)
	if body, err := scrape(a); err != nil || !strings.Contains(body, "seesawd_config_reloads_total") {
		t.Fatalf("after the retry: %v\n%.300s", err, body)
	}

	b := freeAddr(t)
	x.listen(b)
	if _, err := scrape(a); err == nil {
		t.Error("the old address still serves")
	}
	if _, err := scrape(b); err != nil {
		t.Errorf("the new address: %v", err)
	}
	x.listen(b) // unchanged: nothing happens
	if n := logs.FilterMessage("serving metrics").Len(); n != 2 {
		t.Errorf("%d servers started, want 2", n)
	}

	x.listen("")
	if _, err := scrape(b); err == nil {
		t.Error("metrics off, and still served")
	}
	if logs.FilterMessageSnippet("metrics off").Len() != 1 {
		t.Error("turning metrics off is not logged")
	}
}
