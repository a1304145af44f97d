package healthcheck

import (
	"bufio"
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var (
	judgeStatus = httpJudge{status: []StatusRange{{200, 299}}}
	judgeBody   = httpJudge{status: []StatusRange{{200, 299}}, bodyRe: regexp.MustCompile("^ok")}
)

func TestHTTPJudge(t *testing.T) {
	line := func(n int) string { return "HTTP/1.1 200 " + strings.Repeat("K", n-len("HTTP/1.1 200 ")-2) + "\r\n" }
	head := func(n int) string { // a head of exactly n bytes
		s := "HTTP/1.1 200 OK\r\n"
		for len(s)+2 < n {
			f := "X: " + strings.Repeat("a", min(100, n-len(s)-2-5)) + "\r\n"
			s += f
		}
		return s + "\r\n"
	}
	tests := []struct {
		name    string
		j       httpJudge
		reply   string
		eof     bool
		decided bool
		detail  string
		op, err string
	}{
		{"partial status line", judgeBody, "HTTP/1.1 2", false, false, "", "", ""},
		{"status line cut", judgeBody, "HTTP/1.1", true, true, "", "read response", "response cut in the status line"},
		{"waits for the headers", judgeStatus, "HTTP/1.1 200 OK\r\nServer: x\r\n", false, false, "", "", ""},
		{"headers cut", judgeStatus, "HTTP/1.1 200 OK\r\nServer: x\r\n", true, true, "200 OK", "read response", "response cut in the headers"},
		{"head complete", judgeStatus, "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", false, true, "200 OK", "", ""},
		{"waits for the body", judgeBody, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok", false, false, "", "", ""},
		{"body matches", judgeBody, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n", false, true, "200 OK", "", ""},
		{"body beyond its length ignored", judgeBody, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokay", false, true, "200 OK", "", ""},
		{"chunked body matches", judgeBody, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nok\n\r\n0\r\n", false, true, "200 OK", "", ""},
		{"chunked body waits for its end", judgeBody, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nok\n\r\n", false, false, "", "", ""},
		{"chunk overrun", judgeBody, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nok\r\n0\r\n", false, true, "200 OK", "read response", "malformed chunk: data runs past its size"},
		{"gzip transfer coding", judgeStatus, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, true, "200 OK", "read response", `unsupported Transfer-Encoding "gzip, chunked"`},
		{"two lengths", judgeStatus, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", false, true, "200 OK", "read response", "conflicting Content-Length headers"},
		{"same length twice", judgeStatus, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\n", false, true, "200 OK", "", ""},
		{"bad length", judgeStatus, "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, true, "200 OK", "read response", `malformed Content-Length "-1"`},
		{"folded length", judgeStatus, "HTTP/1.1 200 OK\r\nContent-Length:\r\n 2\r\n\r\n", false, true, "200 OK", "read response", "malformed"},
		{"space before colon", judgeStatus, "HTTP/1.1 200 OK\r\nServer : x\r\n\r\n", false, true, "200 OK", "read response", `malformed header line "Server : x"`},
		{"control byte in a value", judgeStatus, "HTTP/1.1 200 OK\r\nServer: a\rb\r\n\r\n", false, true, "200 OK", "read response", "malformed header line"},
		{"body differs", judgeBody, "HTTP/1.1 200 OK\r\n\r\nnot ok", true, true, "200 OK", "body", `body does not match "^ok"`},
		{"no body to match in a 204", judgeBody, "HTTP/1.1 204 No Content\r\n\r\n", false, true, "204 No Content", "", ""},
		{"status decides early", judgeBody, "HTTP/1.1 503 Service Unavailable\r\n", false, true, "503 Service Unavailable", "status", `unexpected status "503 Service Unavailable"`},
		{"interim, then final", judgeStatus, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", false, true, "200 OK", "", ""},
		{"101 is final", judgeStatus, "HTTP/1.1 101 Switching Protocols\r\n\r\n", false, true, "101 Switching Protocols", "status", "unexpected status"},
		{"garbage", judgeStatus, "SSH-2.0-OpenSSH\r\n", false, true, "", "read response", `malformed status line "SSH-2.0-OpenSSH"`},
		{"HTTP/2 preface", judgeStatus, "PRI * HTTP/2.0\r\n", false, true, "", "read response", "malformed status line"},
		{"longest status line", judgeStatus, line(maxStatusLine) + "\r\n", false, true, strings.TrimPrefix(line(maxStatusLine), "HTTP/1.1 ")[:maxStatusLine-11], "", ""},
		{"status line too long", judgeStatus, line(maxStatusLine + 1), false, true, "", "read response", "no status line in the first 1024 bytes"},
		{"status line too long, cut", judgeStatus, line(maxStatusLine + 1)[:maxStatusLine], false, true, "", "read response", "no status line in the first 1024 bytes"},
		{"largest head", judgeStatus, head(maxHeaderBytes), false, true, "200 OK", "", ""},
		{"head too large", judgeStatus, head(maxHeaderBytes + 1), false, true, "200 OK", "read response", "response headers exceed 65536 bytes"},
		{"head too large, cut", judgeStatus, head(maxHeaderBytes + 1)[:maxHeaderBytes], false, true, "200 OK", "read response", "response headers exceed 65536 bytes"},
		{"endless body window", judgeBody, "HTTP/1.1 200 OK\r\n\r\nok" + strings.Repeat("x", maxBody), false, true, "200 OK", "", ""},
	}
	for _, tt := range tests {
		v := tt.j.judge([]byte(tt.reply), tt.eof)
		errText := ""
		if v.err != nil {
			errText = v.err.Error()
		}
		if v.decided != tt.decided || v.detail != tt.detail || v.op != tt.op || !strings.Contains(errText, tt.err) || (v.err == nil) != (tt.err == "") {
			t.Errorf("%s: judge = %v, %q, %q, %v; want %v, %q, %q, %q", tt.name, v.decided, v.detail, v.op, v.err, tt.decided, tt.detail, tt.op, tt.err)
		}
	}
}

func FuzzHTTPJudge(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"), true)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nok\n\r\n0\r\n\r\n"), true)
	f.Add([]byte("HTTP/1.0 302 Found\r\nLocation: /\r\n\r\n"), false)
	for _, tc := range hostileCases {
		r := strings.Join(tc.resp.parts, "")
		if tc.resp.endless != "" {
			r += strings.Repeat(tc.resp.endless, maxResponse/len(tc.resp.endless)+1)
		}
		f.Add([]byte(r), tc.resp.end != "hang")
	}
	req := &http.Request{Method: "GET"}
	f.Fuzz(func(t *testing.T, reply []byte, eof bool) {
		for _, j := range []httpJudge{judgeStatus, judgeBody} {
			v := j.judge(reply, eof)
			if (eof || len(reply) >= maxResponse) && !v.decided {
				t.Fatal("undecided at the end of the reply")
			}
			if !v.decided && v.err != nil {
				t.Fatalf("undecided with error %v", v.err)
			}
			// Monotone: a verdict on a prefix stands for the whole reply.
			step := max(1, len(reply)/64)
			for k := 0; k < len(reply); k += step {
				p := j.judge(reply[:k], false)
				if p.decided && (p.detail != v.detail || p.op != v.op || p.err != nil != (v.err != nil) || p.err != nil && p.err.Error() != v.err.Error()) {
					t.Fatalf("on %d bytes: %+v; on all %d: %+v", k, p, len(reply), v)
				}
			}
			if !v.decided || v.err != nil {
				continue
			}
			if code := v.detail[:3]; code < "200" || code > "299" {
				t.Fatalf("passed with status %q", v.detail)
			}
			// What passes, net/http reads alike (but for interim responses,
			// which it returns instead of skipping).
			first, _, _ := cutLine(reply, maxStatusLine)
			if code, _, _ := parseStatusLine(first); code >= 100 && code <= 199 {
				continue
			}
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(reply)), req)
			if err != nil {
				t.Fatalf("passed, but net/http says %v", err)
			}
			if resp.Status != v.detail {
				t.Fatalf("passed with status %q, net/http read %q", v.detail, resp.Status)
			}
		}
	})
}

// BenchmarkHTTPJudge judges a typical small response, whole, as the
// connector does after one read.
func BenchmarkHTTPJudge(b *testing.B) {
	reply := []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Mon, 30 Nov 2026 09:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
	for _, j := range []struct {
		name string
		j    httpJudge
	}{{"status", judgeStatus}, {"body", judgeBody}} {
		b.Run(j.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v := j.j.judge(reply, false); !v.decided || v.err != nil {
					b.Fatal(v)
				}
			}
		})
	}
}
