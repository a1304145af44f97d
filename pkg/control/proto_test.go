package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEncodeRequestGolden(t *testing.T) {
	got := string(EncodeRequest(Request{Op: OpDrain, Service: "web", Backend: "10.0.1.11"}))
	want := `{"version":1,"op":"drain","service":"web","backend":"10.0.1.11"}` + "\n"
	if got != want {
		t.Errorf("EncodeRequest = %q, want %q", got, want)
	}
	if got := string(EncodeRequest(Request{Version: 7, Op: OpStatus})); got != `{"version":1,"op":"status"}`+"\n" {
		t.Errorf("EncodeRequest(status) = %q: the version is always this package's", got)
	}
}

func TestReadRequest(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Request
		code Code  // of an *Error
		is   error // a sentinel
	}{
		{name: "status", in: `{"version":1,"op":"status"}`, want: Request{Version: 1, Op: "status"}},
		{name: "no newline or EOF needed", in: `{"version":1,"op":"reload"}` + "garbage after", want: Request{Version: 1, Op: "reload"}},
		{name: "unknown fields ignored", in: `{"version":1,"op":"status","future":true}`, want: Request{Version: 1, Op: "status"}},
		{name: "no version", in: `{"op":"status"}`, code: CodeBadRequest},
		{name: "newer version", in: `{"version":2,"op":"status"}`, code: CodeBadRequest},
		{name: "no op", in: `{"version":1}`, code: CodeBadRequest},
		{name: "not json", in: `status`, is: ErrMalformed},
		{name: "empty", in: ``, is: ErrMalformed},
		{name: "wrong type", in: `{"version":"1","op":"status"}`, is: ErrMalformed},
		{name: "too large", in: `{"version":1,"op":"status","service":"` + strings.Repeat("a", MaxRequest) + `"}`, is: ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadRequest(strings.NewReader(tc.in))
			var ce *Error
			switch {
			case tc.code != "":
				if !errors.As(err, &ce) || ce.Code != tc.code {
					t.Fatalf("ReadRequest error = %v, want an *Error with code %s", err, tc.code)
				}
			case tc.is != nil:
				if !errors.Is(err, tc.is) {
					t.Fatalf("ReadRequest error = %v, want %v", err, tc.is)
				}
			case err != nil:
				t.Fatalf("ReadRequest: %v", err)
			default:
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("ReadRequest (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestResponseRoundTrip(t *testing.T) {
	in := &ReloadResult{Outcome: ReloadRefused, Problems: []string{"/etc/seesawd.yaml:7: services[0].port: 99999 out of range"},
		Took: Duration(1500 * time.Microsecond)}
	b, err := EncodeResponse(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"took":"1.5ms"`)) || !bytes.HasSuffix(b, []byte("\n")) {
		t.Errorf("response %s: want the duration as text and a newline", b)
	}
	var out ReloadResult
	if err := DecodeResponse(b, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, &out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestResponseErrors(t *testing.T) {
	b, err := EncodeResponse(nil, Errorf(CodeNotFound, "seesawctl services lists them", "no service %q", "webb"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"version":1,"ok":false,"code":"not_found","error":"no service \"webb\"","hint":"seesawctl services lists them"}` + "\n"; string(b) != want {
		t.Errorf("EncodeResponse = %s, want %s", b, want)
	}
	err = DecodeResponse(b, &Status{})
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != CodeNotFound || ce.Message != `no service "webb"` || ce.Hint == "" {
		t.Errorf("DecodeResponse = %#v, want the *Error back", err)
	}

	// Any other error is "failed", without the package prefix twice.
	b, _ = EncodeResponse(nil, errors.New("control: boom"))
	if err := DecodeResponse(b, nil); !errors.As(err, &ce) || ce.Code != CodeFailed || err.Error() != "control: boom" {
		t.Errorf("DecodeResponse of a plain error = %v", err)
	}

	for _, bad := range []string{
		``, `null`, `{"ok":true}`, // no version
		`{"version":2,"ok":true,"data":{}}`,
		`{"version":1,"ok":false}`,                   // refusal without an error
		`{"version":1,"ok":true}`,                    // no data where some is wanted
		`{"version":1,"ok":true,"data":{"pid":"x"}}`, // data of the wrong shape
	} {
		if err := DecodeResponse([]byte(bad), &Status{}); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeResponse(%s) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := json.Unmarshal([]byte(`"3m12s"`), &d); err != nil || time.Duration(d) != 3*time.Minute+12*time.Second {
		t.Errorf("Unmarshal = %v, %v", time.Duration(d), err)
	}
	if err := json.Unmarshal([]byte(`"soon"`), &d); err == nil {
		t.Error("Unmarshal(soon) succeeded")
	}
}

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(`{"version":1,"op":"drain","service":"web","backend":"10.0.1.11:8080"}`))
	f.Add([]byte(`{"version":1,"op":"status"}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`[{"version":1}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ReadRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		again, err := ReadRequest(bytes.NewReader(EncodeRequest(req)))
		if err != nil {
			t.Fatalf("re-encoded %+v: %v", req, err)
		}
		if again != req {
			t.Fatalf("round trip: %+v became %+v", req, again)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	st, _ := EncodeResponse(&Status{Node: "lb1", Services: []Service{{Name: "web", Backends: []Backend{{Address: "10.0.1.11:80"}}}}}, nil)
	f.Add(st)
	e, _ := EncodeResponse(nil, Errorf(CodeAmbiguous, "give the port", "ambiguous"))
	f.Add(e)
	f.Add([]byte(`{"version":1,"ok":true,"data":{"took":"1x"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var st Status
		err := DecodeResponse(b, &st)
		var ce *Error
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.As(err, &ce) {
			t.Fatalf("DecodeResponse error %v is neither ErrMalformed nor an *Error", err)
		}
		var rr ReloadResult
		_ = DecodeResponse(b, &rr)
	})
}
